/**
 * Crash and restart: the local host (function host, queue trigger and timers: `npm start` without
 * the Playground) is a child process that is SIGKILLed in the middle of a fan-out and in the
 * middle of delivery, and Azurite (a child of this suite, not the shared one) is stopped for 10 s
 * in the middle of a run. Each time the run must end with every recipient in a final status, and
 * the fake Bot Connector, which records every send it accepted, must show each recipient sent
 * once, or a recorded failure; none lost. A recipient sent twice must be inside the documented
 * window: Teams had accepted (or was still answering) its first send, and its `delivered` write had
 * not landed, when the host died or storage went away.
 *
 * The kill points are found by watching progress (rows planned, sends answered), never by a sleep.
 * The host runs with a 15 s queue lock and a 32 s claim (300 s and 2 min in `npm start`), so that
 * what a killed host held comes back within the test's time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAzurite, type AzuritePorts, type RunningAzurite } from '../../local/azurite';
import type { DeliveryRecord } from '../../shared/domain/notification';
import type { UserReference } from '../../shared/domain/reference';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { Tables } from '../../shared/stores/tables';
import { startFakeConnector, type ConnectorCall, type FakeConnector } from '../support/fakeConnector';
import { freePort } from '../support/freePort';
import { startHostChild, type HostChild } from '../support/hostChildProcess';
import { eventually } from '../support/pipeline';

const KEY = 'crash-test-key';
const LOCK_SECONDS = 15;
const LEASE_MS = 32_000;

/** One scenario's own tables (a prefix), tenant and users. */
interface Audience {
  readonly prefix: string;
  readonly tenantId: string;
  readonly users: readonly (UserReference & { readonly userId: string; readonly personalConversationId: string })[];
}

/** What a scenario measured, printed and asserted. */
interface Tally {
  readonly recipients: number;
  readonly sends: number;
  readonly deliveredOnce: number;
  readonly duplicates: number;
  readonly duplicatesInWindow: number;
  readonly failuresRecorded: number;
  readonly lost: number;
  readonly pending: number;
}

describe('crash and restart', () => {
  let connector: FakeConnector;
  let azurite: RunningAzurite | undefined;
  let ports: AzuritePorts;
  let location: string;
  const hosts: HostChild[] = [];

  beforeAll(async () => {
    connector = await startFakeConnector();
    ports = { blob: await freePort(), queue: await freePort(), table: await freePort() };
    location = mkdtempSync(join(tmpdir(), 'teams-notify-crash-'));
    azurite = await startAzurite({ ports, location });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.kill()));
    await azurite?.stop();
    await connector?.close();
    if (location !== undefined) rmSync(location, { recursive: true, force: true });
  });

  const connectionString = () => (azurite as RunningAzurite).connectionString;

  async function startHost(audience: Audience, env: Record<string, string> = {}): Promise<HostChild> {
    const host = await startHostChild(
      { connectionString: connectionString(), functionKey: KEY, lockSeconds: LOCK_SECONDS, leaseMs: LEASE_MS },
      { TABLE_PREFIX: audience.prefix, ...env },
    );
    hosts.push(host);
    return host;
  }

  /** Users the bot knows, in a tenant whose Bot Connector is the fake one, seeded straight into Table Storage. */
  async function seed(name: string, count: number): Promise<Audience> {
    const prefix = `crash${name}`;
    const tenantId = `tenant-crash-${name}`;
    const tables = new Tables({ kind: 'connectionString', connectionString: connectionString(), prefix });
    await tables.ensureCreated();
    const conversations = new TableConversationStore(tables);
    const now = new Date().toISOString();
    const users = Array.from({ length: count }, (_, i) => ({
      serviceUrl: connector.serviceUrl,
      tenantId,
      botId: '28:crash-bot',
      userId: `29:${name}-user-${i}`,
      aadObjectId: `00000000-0000-0000-${name.padStart(4, '0').slice(-4)}-${String(i).padStart(12, '0')}`,
      personalConversationId: `a:${name}-chat-${i}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt: now,
    }));
    for (let i = 0; i < users.length; i += 50) await Promise.all(users.slice(i, i + 50).map((user) => conversations.saveUser(user)));
    return { prefix, tenantId, users };
  }

  function deliveries(audience: Audience): TableDeliveryStore {
    return new TableDeliveryStore(new Tables({ kind: 'connectionString', connectionString: connectionString(), prefix: audience.prefix }));
  }

  async function post(host: HostChild, recipients: readonly unknown[]): Promise<string> {
    const res = await fetch(`${host.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': KEY },
      body: JSON.stringify({ recipients, message: { text: 'Crash test: you should get this once.' } }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  /** Every visible row of the notification (one per recipient), as it stands now. */
  async function rows(audience: Audience, id: string): Promise<DeliveryRecord[]> {
    const store = deliveries(audience);
    const all: DeliveryRecord[] = [];
    let token: string | undefined;
    do {
      const page = await store.list(id, token, 1000);
      all.push(...page.items);
      token = page.continuationToken;
    } while (token !== undefined);
    return all;
  }

  /** Sends to the audience's chats, as the connector saw them (answered, unanswered or cut off). */
  function sendCalls(audience: Audience): ConnectorCall[] {
    const chats = new Set(audience.users.map((u) => u.personalConversationId));
    return connector.calls.filter((c) => (c.op === 'sendToConversation' || c.op === 'createConversation') && chats.has(c.conversationId ?? ''));
  }

  /** Waits until the notification is complete: every recipient planned, none pending. */
  async function completed(audience: Audience, id: string, total: number, timeoutMs: number): Promise<void> {
    const store = deliveries(audience);
    await eventually(async () => {
      const { counts } = await store.counts(id);
      return counts.total >= total && counts.pending === 0 ? true : undefined;
    }, timeoutMs, `notification ${id} to complete`);
  }

  /**
   * Counts each recipient's sends at the connector against its row. `inWindow(user)` says whether
   * a recipient's second send is explained by the documented window.
   */
  async function tally(audience: Audience, id: string, inWindow: (conversationId: string) => boolean): Promise<Tally & { outsideWindow: string[]; lostUsers: string[] }> {
    const byKey = new Map<string, DeliveryRecord>();
    for (const row of await rows(audience, id)) {
      const recipient = row.recipient as { type: string; userId?: string; aadObjectId?: string };
      if (recipient.type !== 'user') continue;
      if (recipient.userId !== undefined) byKey.set(recipient.userId, row);
      if (recipient.aadObjectId !== undefined) byKey.set(recipient.aadObjectId.toLowerCase(), row);
    }
    let sends = 0;
    let deliveredOnce = 0;
    let duplicates = 0;
    let duplicatesInWindow = 0;
    let failuresRecorded = 0;
    let pending = 0;
    const outsideWindow: string[] = [];
    const lostUsers: string[] = [];
    for (const user of audience.users) {
      const row = byKey.get(user.userId) ?? byKey.get((user.aadObjectId ?? '').toLowerCase());
      const sent = connector.delivered(user.personalConversationId).length;
      sends += sent;
      if (row?.status === 'pending') pending += 1;
      if (row?.status === 'failed' || row?.status === 'skipped') {
        failuresRecorded += 1;
        // A recorded failure is an outcome; a send the row does not know of would be a lie.
        if (sent > 0) outsideWindow.push(`${user.personalConversationId}: ${row.status} after ${sent} accepted sends`);
      } else if (row?.status === 'delivered' && sent === 1) deliveredOnce += 1;
      else if (row?.status === 'delivered' && sent > 1) {
        duplicates += 1;
        if (inWindow(user.personalConversationId)) duplicatesInWindow += 1;
        else outsideWindow.push(`${user.personalConversationId}: ${sent} sends`);
      } else if (row?.status !== 'pending') lostUsers.push(`${user.personalConversationId}: row ${row?.status ?? 'missing'}, ${sent} sends`);
    }
    return { recipients: audience.users.length, sends, deliveredOnce, duplicates, duplicatesInWindow, failuresRecorded, lost: lostUsers.length + pending, pending, outsideWindow, lostUsers };
  }

  function report(scenario: string, killPoint: string, measured: Tally): void {
    process.stdout.write(
      `[crash-restart] ${scenario}: kill point: ${killPoint}; recipients ${measured.recipients}, sends ${measured.sends}, delivered once ${measured.deliveredOnce}, ` +
        `duplicates ${measured.duplicates} (${measured.duplicatesInWindow} inside the window), failures recorded ${measured.failuresRecorded}, lost ${measured.lost}, pending ${measured.pending}\n`,
    );
  }

  function assertGuarantee(measured: Tally & { outsideWindow: string[]; lostUsers: string[] }): void {
    expect(measured.pending).toBe(0);
    expect(measured.lostUsers).toEqual([]);
    expect(measured.lost).toBe(0);
    expect(measured.outsideWindow).toEqual([]);
    expect(measured.deliveredOnce + measured.duplicates + measured.failuresRecorded).toBe(measured.recipients);
  }

  /**
   * The window, at a kill: the first send of a recipient reached Teams (the connector accepted it,
   * answered or not) and its row did not say `delivered` at the moment of the kill, which the rows
   * read right after the kill show exactly, since nothing writes them while no host runs.
   */
  function windowAtKill(snapshot: readonly DeliveryRecord[], audience: Audience, killedAt: number): (conversationId: string) => boolean {
    const deliveredAtKill = new Set(snapshot.filter((r) => r.status === 'delivered').map((r) => r.conversationId));
    const calls = sendCalls(audience);
    return (conversationId) => {
      const first = calls.find((c) => c.conversationId === conversationId);
      return first !== undefined && first.at <= killedAt && !deliveredAtKill.has(conversationId);
    };
  }

  it('SIGKILL during fan-out (allUsers): a new host finishes it; every recipient once, or in the window', async () => {
    const USERS = 1_500;
    const audience = await seed('fan', USERS);
    connector.reset();
    connector.always({ op: 'send' }, { delayMs: 50 });
    const env = { SEND_RATE_PER_SECOND: '100' };
    const first = await startHost(audience, env);
    const id = await post(first, [{ type: 'allUsers' }]);

    // Kill while the expansion is under way: some pages planned, more to list.
    const store = deliveries(audience);
    const plannedAtKill = await eventually(async () => {
      const { counts } = await store.counts(id);
      return counts.total >= 300 ? counts.total : undefined;
    }, 60_000, 'the fan-out to plan 300 recipients');
    const killedAt = performance.now();
    await first.kill();
    expect(first.exit?.signal).toBe('SIGKILL');
    const snapshot = await rows(audience, id);
    const sentAtKill = sendCalls(audience).filter((c) => c.at <= killedAt).length;
    expect(snapshot.length).toBeLessThan(USERS);

    await startHost(audience, env);
    await completed(audience, id, USERS, 120_000);
    const measured = await tally(audience, id, windowAtKill(snapshot, audience, killedAt));
    report('SIGKILL during fan-out', `${plannedAtKill} of ${USERS} planned (${snapshot.length} rows read after the kill), ${sentAtKill} sends made`, measured);
    assertGuarantee(measured);
  }, 180_000);
});
