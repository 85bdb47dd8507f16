/**
 * Structured logs end to end: the local host (function host, queue trigger and timers, as
 * `npm start` runs them) in a process of its own with LOG_FORMAT=json, sending one real
 * notification to a user through the fake Bot Connector. Everything the host prints must be JSON
 * lines with time, level and message; the job lines must say which notification, which job and how
 * it ended; and the person must be findable by the hash of their Entra object id, while their id,
 * their chat, the message text and the function key appear nowhere.
 */
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { Tables } from '../../shared/stores/tables';
import { hashId } from '../../shared/logger';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { startHostChild, type HostChild } from '../support/hostChildProcess';
import { eventually } from '../support/pipeline';

const KEY = 'structured-logs-function-key-7d1e';
const AAD = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const USER_ID = '29:1structuredLogsUserIdQ8vX';
const CHAT = 'a:1structuredLogsPersonalChatZ3';
const TENANT = 'tenant-structured-logs';
const TEXT = 'Quarterly numbers for Ada: do not log this body 5c9e';

interface Line {
  readonly time: string;
  readonly level: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

describe('structured logs from the local host (LOG_FORMAT=json)', () => {
  let connector: FakeConnector;
  let host: HostChild | undefined;
  let notificationId: string;

  beforeAll(async () => {
    connector = await startFakeConnector();
    const prefix = uniqueName('logs');
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix });
    await tables.ensureCreated();
    await new TableConversationStore(tables).saveUser({
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: '28:structured-logs-bot',
      userId: USER_ID,
      aadObjectId: AAD,
      personalConversationId: CHAT,
      installed: true,
      hasPersonalApp: true,
      updatedAt: new Date().toISOString(),
    });
    host = await startHostChild(
      { connectionString: storageConnectionString(), functionKey: KEY, lockSeconds: 15, leaseMs: 30_000, printInfo: true },
      // Node's own warnings (a deprecated module of a dependency) are not our log lines.
      { TABLE_PREFIX: prefix, LOG_FORMAT: 'json', NODE_NO_WARNINGS: '1' },
    );
    const res = await fetch(`${host.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': KEY },
      body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: AAD }], message: { text: TEXT } }),
    });
    expect(res.status).toBe(202);
    notificationId = ((await res.json()) as { id: string }).id;
    // Sent, and the host has said how it ended.
    await eventually(async () => (connector.delivered(CHAT).length > 0 ? true : undefined), 30_000, 'the message to reach the fake Bot Connector');
    await eventually(async () => (parsed().some((l) => l.jobKind === 'deliver' && l.outcome === 'delivered') ? true : undefined), 30_000, 'the host to log the delivery');
  }, 90_000);

  afterAll(async () => {
    await host?.kill();
    await connector?.close();
  });

  const lines = (): readonly string[] => host?.lines ?? [];
  const parsed = (): Line[] =>
    lines().flatMap((line) => {
      try {
        return [JSON.parse(line) as Line];
      } catch {
        return [];
      }
    });

  it('prints nothing but JSON lines, each with time, level and message', () => {
    expect(lines().length).toBeGreaterThan(2);
    for (const line of lines()) {
      expect(() => JSON.parse(line)).not.toThrow();
      const record = JSON.parse(line) as Line;
      expect(record).toEqual(expect.objectContaining({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), message: expect.any(String) }));
      expect(['info', 'warn', 'error']).toContain(record.level);
    }
  });

  it('says which notification was accepted, by which function, and for how many entries', () => {
    expect(parsed()).toContainEqual(expect.objectContaining({ functionName: 'postNotification', notificationId, outcome: 'accepted', count: 1 }));
  });

  it('gives every job line its notification, its kind and its outcome', () => {
    const jobLines = parsed().filter((l) => l.notificationId === notificationId && l.functionName === 'deliverJob');
    expect(jobLines.length).toBeGreaterThanOrEqual(2);
    const ended = jobLines.filter((l) => l.outcome !== undefined);
    for (const line of ended) expect(line).toEqual(expect.objectContaining({ notificationId, jobKind: expect.any(String), outcome: expect.any(String) }));
    expect(ended.map((l) => l.jobKind)).toEqual(expect.arrayContaining(['plan', 'deliver']));
    expect(ended.find((l) => l.jobKind === 'plan')).toMatchObject({ outcome: 'planned', durationMs: expect.any(Number) });
  });

  it('names the person by the hash of their Entra object id, which an operator can compute', () => {
    const delivered = parsed().find((l) => l.jobKind === 'deliver' && l.outcome === 'delivered');
    expect(delivered).toMatchObject({ notificationId, recipientHash: hashId(AAD) });
  });

  it('never prints their object id, their Teams ids, the message text or the function key', () => {
    const all = lines().join('\n');
    for (const secret of [AAD, AAD.toUpperCase(), USER_ID, CHAT, TEXT, 'do not log this body', KEY]) expect(all).not.toContain(secret);
  });
});
