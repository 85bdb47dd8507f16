/**
 * The Teams-like connector (test/support/teamsLikeConnector.ts) throttles the way the benchmarks
 * assume: per tenant, per conversation, with Teams' 429, and with exact figures to judge by.
 */
import { performance } from 'node:perf_hooks';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import {
  maxInAnyWindow,
  startTeamsLikeConnector,
  startTeamsLikeConnectorProcess,
  UNKNOWN_TENANT,
  type TeamsLikeConnector,
  type TeamsLikeConnectorOptions,
} from '../support/teamsLikeConnector';

jest.setTimeout(30_000);

/** No latency unless a test asks: bursts then land well inside one second. */
const FAST: TeamsLikeConnectorOptions = { defaults: { latencyMs: 0, jitterMs: 0 } };

let running: TeamsLikeConnector[] = [];
async function start(options: TeamsLikeConnectorOptions = FAST): Promise<TeamsLikeConnector> {
  const connector = await startTeamsLikeConnector(options);
  running.push(connector);
  return connector;
}
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()));
  running = [];
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: unknown;
  ms: number;
}

/** A proactive send as botbuilder makes it: the tenant in `conversation.tenantId`. */
async function send(connector: TeamsLikeConnector, conversationId: string, tenantId: string | undefined, text = 'hello'): Promise<Answer> {
  return call(connector, 'POST', `v3/conversations/${encodeURIComponent(conversationId)}/activities`, {
    type: 'message',
    text,
    conversation: { id: conversationId, ...(tenantId !== undefined && { tenantId }) },
  });
}

async function call(connector: TeamsLikeConnector, method: string, path: string, body?: unknown): Promise<Answer> {
  const t = performance.now();
  const res = await fetch(`${connector.serviceUrl}${path}`, {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: text === '' ? undefined : JSON.parse(text), ms: performance.now() - t };
}

const statuses = (answers: Answer[]): number[] => answers.map((a) => a.status).sort();
const burst = (n: number, one: (i: number) => Promise<Answer>): Promise<Answer[]> => Promise.all(Array.from({ length: n }, (_, i) => one(i)));

describe('per tenant', () => {
  it('accepts 50 of a burst of 51 and answers the 51st 429 Throttled with Retry-After: 1, undelivered', async () => {
    const connector = await start();
    const answers = await burst(51, (i) => send(connector, `a:user-${i}`, 'tenant-a', `m${i}`));

    expect(statuses(answers)).toEqual([...Array<number>(50).fill(201), 429]);
    const throttled = answers.find((a) => a.status === 429);
    expect(throttled?.retryAfter).toBe('1');
    expect(throttled?.body).toEqual({ error: { code: 'Throttled', message: expect.any(String) } });
    const stats = (await connector.stats()).tenants['tenant-a'];
    expect(stats).toMatchObject({ accepted: 50, throttled: 1, throttledByTenant: 1, faults: 0, maxAcceptedInAnyWindow: 50, statuses: { '201': 50, '429': 1 } });
    expect(stats?.deliveries.messages).toBe(50);
    expect(Object.keys(stats?.deliveries.perConversation ?? {})).toHaveLength(50);
  });

  it('keeps tenants apart: one tenant at its limit does not slow another', async () => {
    const connector = await start();
    const answers = await burst(81, (i) => (i < 51 ? send(connector, `a:a-${i}`, 'tenant-a') : send(connector, `a:b-${i}`, 'tenant-b')));

    expect(statuses(answers.slice(0, 51)).filter((s) => s === 429)).toHaveLength(1);
    expect(statuses(answers.slice(51))).toEqual(Array<number>(30).fill(201));
    const { tenants } = await connector.stats();
    expect(tenants['tenant-a']).toMatchObject({ accepted: 50, throttled: 1 });
    expect(tenants['tenant-b']).toMatchObject({ accepted: 30, throttled: 0 });
  });

  it('counts creates and sends alike, and finds the tenant of a create in tenantId or channelData', async () => {
    const connector = await start({ ...FAST, tenants: { t: { rps: 3 } } });
    const answers = [
      await call(connector, 'POST', 'v3/conversations', { isGroup: false, members: [{ id: '29:u1' }], tenantId: 't' }),
      await call(connector, 'POST', 'v3/conversations', { isGroup: false, members: [{ id: '29:u2' }], channelData: { tenant: { id: 't' } } }),
      await send(connector, 'a:fake-29:u1', 't'),
      await send(connector, 'a:fake-29:u2', 't'),
    ];

    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 429]);
    expect(answers[0]?.body).toEqual({ id: 'a:fake-29:u1' });
  });

  it('counts a request with no tenant to be found under "unknown"', async () => {
    const connector = await start();
    await send(connector, 'a:nobody', undefined);

    expect((await connector.stats()).tenants[UNKNOWN_TENANT]).toMatchObject({ accepted: 1 });
  });

  it('answers a fault rate of 1 with 503 and delivers nothing', async () => {
    const connector = await start({ defaults: { latencyMs: 0, jitterMs: 0, faultRate: 1 } });
    const answer = await send(connector, 'a:x', 'tenant-f');

    expect(answer.status).toBe(503);
    expect((await connector.stats()).tenants['tenant-f']).toMatchObject({ accepted: 0, faults: 1, deliveries: { messages: 0 } });
  });
});

describe('per conversation', () => {
  it('accepts 7 sends and 14 roster reads per conversation per second, then 429', async () => {
    const connector = await start({ ...FAST, conversations: [{ id: '19:team@thread.tacv2', tenantId: 't', members: [{ id: '29:m' }] }] });
    const sends = await burst(8, (i) => send(connector, 'a:one', 't', `m${i}`));
    const reads = await burst(15, () => call(connector, 'GET', `v3/conversations/${encodeURIComponent('19:team@thread.tacv2')}/pagedmembers?pageSize=1`));

    expect(statuses(sends)).toEqual([...Array<number>(7).fill(201), 429]);
    expect(sends.find((a) => a.status === 429)?.retryAfter).toBe('1');
    expect(statuses(reads)).toEqual([...Array<number>(14).fill(200), 429]);
    // The reads carry no body: their tenant is the registered conversation's.
    expect((await connector.stats()).tenants.t).toMatchObject({ accepted: 21, throttledByConversation: 2, throttledByTenant: 0 });
  });
});

describe('latency', () => {
  it('answers after latencyMs ± jitterMs', async () => {
    const options = (r: number): TeamsLikeConnectorOptions => ({ defaults: { latencyMs: 150, jitterMs: 100 }, random: () => r });
    const slow = await start(options(1));
    const fast = await start(options(0));

    const [late, early] = [await send(slow, 'a:1', 't'), await send(fast, 'a:1', 't')];

    expect(late.ms).toBeGreaterThanOrEqual(245);
    expect(late.ms).toBeLessThan(600);
    expect(early.ms).toBeGreaterThanOrEqual(45);
    expect(early.ms).toBeLessThan(245);
  });

  it('delays 429s as well', async () => {
    const connector = await start({ defaults: { latencyMs: 200, jitterMs: 0, rps: 0 } });
    const answer = await send(connector, 'a:1', 't');

    expect(answer.status).toBe(429);
    expect(answer.ms).toBeGreaterThanOrEqual(195);
  });
});

describe('the sliding-window maximum', () => {
  it('is exact: the most timestamps in any half-open 1000 ms interval', () => {
    expect(maxInAnyWindow([])).toBe(0);
    expect(maxInAnyWindow([0, 999, 1000, 1998, 1999])).toBe(3);
    expect(maxInAnyWindow([0, 1000, 2000])).toBe(1);
    let seed = 7;
    const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let run = 0; run < 50; run += 1) {
      const times = Array.from({ length: 200 }, () => Math.floor(random() * 20_000)).sort((a, b) => a - b);
      const bruteForce = Math.max(...times.map((start) => times.filter((t) => t >= start && t < start + 1000).length));
      expect(maxInAnyWindow(times)).toBe(bruteForce);
    }
  });

  it('stays at the limit across two full bursts a second apart', async () => {
    const connector = await start({ ...FAST, tenants: { t: { rps: 10 } } });
    await burst(10, (i) => send(connector, `a:${i}`, 't'));
    await new Promise((resolve) => setTimeout(resolve, 1050));
    await burst(10, (i) => send(connector, `a:${i + 10}`, 't'));

    const stats = (await connector.stats()).tenants.t;
    expect(stats).toMatchObject({ accepted: 20, throttled: 0, maxAcceptedInAnyWindow: 10 });
    expect(stats?.perSecond.reduce((sum, s) => sum + s.accepted, 0)).toBe(20);
    expect((stats?.lastAcceptedAt ?? 0) - (stats?.firstAcceptedAt ?? 0)).toBeGreaterThanOrEqual(1000);
  });
});

describe('configuration at run time', () => {
  it('raises a tenant limit for the very next request', async () => {
    const connector = await start({ ...FAST, tenants: { t: { rps: 5 } } });
    const before = await burst(10, (i) => send(connector, `a:${i}`, 't'));
    await connector.setConfig({ tenants: { t: { rps: 20 } } });
    const after = await burst(10, (i) => send(connector, `a:${i + 10}`, 't'));

    expect(before.filter((a) => a.status === 201)).toHaveLength(5);
    expect(statuses(after)).toEqual(Array<number>(10).fill(201));
    expect((await connector.config()).tenants.t).toEqual({ rps: 20 });
  });

  it('counts duplicates per conversation and text', async () => {
    const connector = await start();
    await send(connector, 'a:1', 't', 'same');
    await send(connector, 'a:1', 't', 'same');
    await send(connector, 'a:2', 't', 'same');

    expect((await connector.stats()).tenants.t?.deliveries).toEqual({
      messages: 3,
      distinct: 2,
      duplicates: 1,
      perConversation: { 'a:1': 2, 'a:2': 1 },
      perMessage: { 'a:1': { same: 2 }, 'a:2': { same: 1 } },
    });
  });
});

describe('as its own process, driven by botbuilder', () => {
  it('answers every call our BotbuilderTeamsSender makes with 2xx, all counted under the sender tenant', async () => {
    const connector = await startTeamsLikeConnectorProcess({ defaults: { latencyMs: 20, jitterMs: 10 } });
    running.push(connector);
    const tenantId = 'tenant-e2e';
    const teamId = '19:e2e-team@thread.tacv2';
    await connector.registerConversations([{ id: teamId, tenantId, members: [{ id: '29:m1', aadObjectId: 'aad-1' }] }]);
    const sender = new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '' });
    const at = { serviceUrl: connector.serviceUrl, tenantId, botId: 'bot-1' };

    const created = await sender.createPersonalConversation(at, '29:user-1');
    const conversationId = created.kind === 'created' ? created.conversationId : '';
    const sent = await sender.send({ ...at, conversationId, conversationType: 'personal' }, { text: 'hello from botbuilder' });
    const thread = await sender.createChannelThread(at, teamId, { text: 'a thread' });
    const roster = await sender.listTeamMembers(at, teamId);

    expect(created).toEqual({ kind: 'created', conversationId: 'a:fake-29:user-1' });
    expect(sent).toMatchObject({ kind: 'delivered', conversationId });
    expect(thread).toMatchObject({ kind: 'delivered' });
    expect(roster).toEqual({ kind: 'members', members: [{ userId: '29:m1', aadObjectId: 'aad-1', name: '29:m1' }] });
    const stats = await connector.stats();
    expect(Object.keys(stats.tenants)).toEqual([tenantId]);
    expect(stats.tenants[tenantId]).toMatchObject({ accepted: 4, throttled: 0, statuses: { '201': 3, '200': 1 } });
    expect(stats.tenants[tenantId]?.deliveries.perMessage?.[conversationId]).toEqual({ 'hello from botbuilder': 1 });

    await connector.setConfig({ tenants: { [tenantId]: { rps: 0 } } });
    const refused = await sender.send({ ...at, conversationId, conversationType: 'personal' }, { text: 'too fast' });
    expect(refused).toMatchObject({ kind: 'throttled', retryAfterMs: 1000 });
  });
});
