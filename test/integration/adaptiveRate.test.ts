/**
 * The tenant's rate adapts to the limit Teams really applies, on the real pipeline (Azurite, the
 * local host, the queue trigger, the real botbuilder sender) against the Teams-like connector in
 * a process of its own, which counts a sliding second per tenant and answers 429 past its limit.
 * The pipeline is configured for 50 a second; the tenant allows 30, then 50.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../local/azurite';
import { freePort } from '../support/freePort';
import { startTeamsLikeConnectorProcess } from '../support/teamsLikeConnectorProcess';
import type { PerSecond, TeamsLikeConnector } from '../support/teamsLikeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const TENANT = 'tenant-adaptive';

describe('the adaptive send rate, against a connector whose limit changes', () => {
  let connector: TeamsLikeConnector;
  let pipeline: TestPipeline;
  // An Azurite of its own: the run's shared one holds every earlier suite's data by now, and its
  // slower table calls late in a full `npm test` would measure the emulator, not the pacing.
  let azurite: RunningAzurite;
  const location = mkdtempSync(join(tmpdir(), 'teams-notify-adaptive-'));

  beforeAll(async () => {
    azurite = await startAzurite({ ports: { blob: await freePort(), queue: await freePort(), table: await freePort() }, location });
    connector = await startTeamsLikeConnectorProcess({ defaults: { rps: 30, latencyMs: 30, jitterMs: 10 } });
    pipeline = await startTestPipeline({ env: { SEND_RATE_PER_SECOND: '50' }, storageConnectionString: azurite.connectionString });
    pipeline.startWorker();
  }, 60_000);
  afterAll(async () => {
    await pipeline?.stop();
    await connector?.stop();
    await azurite?.stop();
    rmSync(location, { recursive: true, force: true });
  });

  async function seedUsers(from: number, count: number): Promise<string[]> {
    const now = new Date().toISOString();
    const users = Array.from({ length: count }, (_, n) => {
      const i = from + n;
      return {
        serviceUrl: connector.serviceUrl,
        tenantId: TENANT,
        botId: '28:bot',
        userId: `29:adaptive-${i}`,
        aadObjectId: `adaptive-aad-${i}`,
        personalConversationId: `a:adaptive-chat-${i}`,
        installed: true,
        hasPersonalApp: true,
        updatedAt: now,
      };
    });
    for (let i = 0; i < users.length; i += 50) await Promise.all(users.slice(i, i + 50).map((user) => pipeline.services.conversations.saveUser(user)));
    return users.map((u) => u.aadObjectId);
  }

  /** Sends to everyone named and waits until the status says completed. */
  async function sendTo(aadObjectIds: readonly string[], text: string): Promise<void> {
    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: aadObjectIds.map((aadObjectId) => ({ type: 'user', aadObjectId })), message: { text } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const done = await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}?pageSize=1`)).json()) as { status: string; counts: { delivered: number } };
      return body.status === 'completed' ? body : undefined;
    }, 180_000, `"${text}" to complete`);
    expect(done.counts.delivered).toBe(aadObjectIds.length);
  }

  const mean = (seconds: readonly PerSecond[]) => seconds.reduce((sum, s) => sum + s.accepted, 0) / seconds.length;

  it('comes down to a 30 RPS limit with few 429s, and finds a limit that rose to 50', async () => {
    const first = await seedUsers(0, 600);
    const second = await seedUsers(600, 2_400);

    await sendTo(first, 'under a limit of 30');
    const low = (await connector.stats({ perConversation: false })).tenants[TENANT];
    if (low === undefined) throw new Error('the connector saw nothing of the tenant');
    expect(low.deliveries).toMatchObject({ messages: 600, duplicates: 0 });
    // Down from 50 within seconds, then just under the limit: few 429s, hardly any once settled
    // (1 % of the last ten seconds' sends; when other work shares these 2 cores, the connector's
    // process stamps arrivals late and then together, and a bunched second can see one too many),
    // and most of the limit used in the last ten seconds.
    // Few: at most 10 % of the 600 (a sender that kept to 50 would meet about 40 %).
    expect(low.throttled).toBeLessThanOrEqual(60);
    const settled = low.perSecond.slice(-11, -1);
    expect(settled.reduce((sum, s) => sum + s.throttled, 0)).toBeLessThanOrEqual(3);
    // Most of the limit: the bench measures the steady share over minutes (0.90 of 30); these ten
    // seconds right after the last decrease can sit lower while the rate climbs back (0.75 seen).
    expect(mean(settled)).toBeGreaterThan(0.7 * 30);

    await connector.setConfig({ defaults: { rps: 50 } });
    await connector.reset();
    await sendTo(second, 'under a limit of 50');
    const high = (await connector.stats({ perConversation: false })).tenants[TENANT];
    if (high === undefined) throw new Error('the connector saw nothing of the tenant');
    expect(high.deliveries).toMatchObject({ messages: 2_400, duplicates: 0 });
    // Probing past the old ceiling (seldom, since 429s confirmed it), it finds the new limit: for
    // five seconds running it sends well above 30, which a rate held at the old ceiling never does.
    // The best five seconds, not the last: late in a full `npm test` on 2 cores the climb is slower
    // and the tail is the drain of the last slices (the last nine seconds there averaged 29 to 32).
    const fiveSecondMeans = high.perSecond.slice(0, -1).map((_, i, all) => (i + 5 <= all.length ? mean(all.slice(i, i + 5)) : 0));
    expect(Math.max(...fiveSecondMeans)).toBeGreaterThan(36);
    expect(high.throttled).toBeLessThanOrEqual(30);
  }, 300_000);
});
