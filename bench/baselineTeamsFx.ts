/**
 * The baseline of issue 9: the Teams Toolkit notification bot's loop, run for real.
 *
 * It uses TeamsFx 3.0.2 itself (the devDependency `@microsoft/teamsfx`, on botbuilder 4.23), set
 * up the way the template's `src/internal/initialize` does and looped the way its `httpTrigger`
 * does: a `BotBuilderCloudAdapter.ConversationBot` built from `adapterConfig` (so TeamsFx makes
 * its own CloudAdapter, with botbuilder's connector retries left on), notification enabled with
 * the default store (TeamsFx's local file store, the one the template uses, here in a temp file),
 * then `getPagedInstallations(100, token)` page by page and `await target.sendMessage(...)` for
 * each installation in turn.
 *
 * What that means on the wire, and so in the figures:
 * - `getPagedInstallations` validates every installation first (`TeamsInfo.getPagedMembers(ctx, 1)`,
 *   one roster read per user) before the first send: two requests per user.
 * - botbuilder's default retry policy answers a 429 itself (waits Retry-After, up to 3 retries),
 *   out of TeamsFx's sight; a send that still fails goes to TeamsFx's `onTurnError`, which logs it
 *   and returns no id, and the loop moves on. The one change made here: `onTurnError` counts the
 *   failure instead of printing the error object to the console. Control flow is the template's.
 *
 * The store is seeded with one personal conversation per user in one tenant, in the shape Teams'
 * install activity gives and the key TeamsFx uses (`_<tenantId>_<conversationId>`), all pointing
 * at `serviceUrl`. The same conversations are registered with the Teams-like connector, so its
 * roster reads know their tenant and member, as Teams would.
 *
 * Run on its own: `npx tsx bench/baselineTeamsFx.ts` (BENCH_USERS, default 200; BENCH_RPS, the
 * connector's per-tenant limit, default 50; BENCH_LATENCY_MS, default 50 ± 20).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BotBuilderCloudAdapter } from '@microsoft/teamsfx';
import type { ConversationReference } from 'botbuilder';
import { connectTeamsLikeConnector, startTeamsLikeConnectorProcess } from '../test/support/teamsLikeConnector';

export interface TeamsFxBaselineOptions {
  /** The Teams-like connector's service URL. */
  readonly serviceUrl: string;
  readonly users: number;
  readonly tenantId: string;
  /** The text each user gets; unique per run by default, so the connector can count losses and duplicates. */
  readonly text?: string;
}

export interface TeamsFxBaselineResult {
  /** Sends that came back with an activity id. */
  readonly delivered: number;
  /** Sends that came back without one (TeamsFx's onTurnError swallowed the error). */
  readonly failed: number;
  /** 429s the connector answered during the run (botbuilder retried them out of TeamsFx's sight). */
  readonly throttled: number;
  /** Requests the connector received for the tenant during the run: validations, sends, retries. */
  readonly requests: number;
  /** From the first page read to the last send's answer. */
  readonly elapsedMs: number;
  /** delivered / elapsed seconds. */
  readonly ratePerSecond: number;
}

const BOT_ID = '00000000-0000-0000-0000-00000000b07f';

export async function runTeamsFxBaseline(options: TeamsFxBaselineOptions): Promise<TeamsFxBaselineResult> {
  const { serviceUrl, users, tenantId } = options;
  const text = options.text ?? `TeamsFx baseline ${Date.now().toString(36)}`;
  const connector = connectTeamsLikeConnector(serviceUrl);
  const dir = mkdtempSync(join(tmpdir(), 'teamsfx-baseline-'));
  try {
    const references: Record<string, Partial<ConversationReference>> = {};
    const seeds = [];
    for (let i = 0; i < users; i += 1) {
      const userId = `29:teamsfx-user-${i}`;
      const conversationId = `a:teamsfx-baseline-${i}`;
      references[`_${tenantId}_${conversationId}`] = {
        activityId: `f:${i}`,
        user: { id: userId, name: `User ${i}`, aadObjectId: `00000000-0000-0000-0001-${String(i).padStart(12, '0')}` },
        bot: { id: `28:${BOT_ID}`, name: 'Notification bot' },
        conversation: { conversationType: 'personal', tenantId, id: conversationId, isGroup: false, name: '' },
        channelId: 'msteams',
        locale: 'en-US',
        serviceUrl,
      };
      seeds.push({ id: conversationId, tenantId, members: [{ id: userId }] });
    }
    await connector.registerConversations(seeds);
    const notificationApp = createNotificationApp(join(dir, 'notification.localstore.json'), references);
    const notification = notificationApp.notification;
    if (notification === undefined) throw new Error('TeamsFx ConversationBot has no notification bot');
    let failed = 0;
    // TeamsFx's default adapter logs the whole error object here and carries on; count it instead.
    notificationApp.adapter.onTurnError = async () => {
      failed += 1;
    };

    const before = await tenantCounts(connector, tenantId);
    const started = performance.now();
    let delivered = 0;
    // The template's loop (templates/*/notification-*/src/httpTrigger), sending text instead of a card.
    const pageSize = 100;
    let continuationToken: string | undefined = undefined;
    do {
      const pagedData: Awaited<ReturnType<typeof notification.getPagedInstallations>> = await notification.getPagedInstallations(pageSize, continuationToken);
      const installations = pagedData.data;
      continuationToken = pagedData.continuationToken;
      for (const target of installations) {
        const response = await target.sendMessage(text);
        if (response.id !== undefined) delivered += 1;
      }
    } while (continuationToken);
    const elapsedMs = performance.now() - started;
    const after = await tenantCounts(connector, tenantId);

    return {
      delivered,
      failed,
      throttled: after.throttled - before.throttled,
      requests: after.requests - before.requests,
      elapsedMs,
      ratePerSecond: delivered / (elapsedMs / 1000),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The template's `initialize`: a ConversationBot from adapter settings, notification on, default
 * store. That store's file name comes from TEAMSFX_NOTIFICATION_STORE_FILENAME, read once in its
 * constructor, so it is pointed at `storeFile` for that moment only. No app id: the connector has no auth.
 */
function createNotificationApp(storeFile: string, references: Record<string, Partial<ConversationReference>>): BotBuilderCloudAdapter.ConversationBot {
  // The file as TeamsFx's local store writes it: one JSON object, key → reference.
  writeFileSync(storeFile, JSON.stringify(references, undefined, 2), 'utf8');
  const previous = process.env.TEAMSFX_NOTIFICATION_STORE_FILENAME;
  process.env.TEAMSFX_NOTIFICATION_STORE_FILENAME = storeFile;
  try {
    return new BotBuilderCloudAdapter.ConversationBot({
      adapterConfig: { MicrosoftAppId: '', MicrosoftAppPassword: '', MicrosoftAppType: 'MultiTenant' },
      notification: { enabled: true, botAppId: '' },
    });
  } finally {
    if (previous === undefined) delete process.env.TEAMSFX_NOTIFICATION_STORE_FILENAME;
    else process.env.TEAMSFX_NOTIFICATION_STORE_FILENAME = previous;
  }
}

async function tenantCounts(connector: ReturnType<typeof connectTeamsLikeConnector>, tenantId: string): Promise<{ throttled: number; requests: number }> {
  const t = (await connector.stats({ perConversation: false })).tenants[tenantId];
  return { throttled: t?.throttled ?? 0, requests: (t?.accepted ?? 0) + (t?.throttled ?? 0) + (t?.faults ?? 0) };
}

async function main(): Promise<void> {
  const users = Number(process.env.BENCH_USERS ?? 200);
  const rps = Number(process.env.BENCH_RPS ?? 50);
  const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 50);
  const tenantId = 'baseline-tenant';
  const connector = await startTeamsLikeConnectorProcess({ defaults: { rps, latencyMs, jitterMs: Math.min(20, latencyMs) } });
  try {
    const result = await runTeamsFxBaseline({ serviceUrl: connector.serviceUrl, users, tenantId });
    const stats = (await connector.stats({ perConversation: false })).tenants[tenantId];
    process.stdout.write(
      `TeamsFx 3.0.2 notification loop: ${users} users, connector ${rps} RPS/tenant, ${latencyMs} ms latency\n` +
        `  delivered ${result.delivered}, failed ${result.failed}, throttled ${result.throttled}, requests ${result.requests}\n` +
        `  ${(result.elapsedMs / 1000).toFixed(1)} s, ${result.ratePerSecond.toFixed(1)} messages/s ` +
        `(${((result.ratePerSecond * 3600) / 1000).toFixed(0)}k/hour); most requests in any second: ${stats?.maxAcceptedInAnyWindow ?? 0}; ` +
        `duplicates ${stats?.deliveries.duplicates ?? 0}\n`,
    );
  } finally {
    await connector.stop();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
