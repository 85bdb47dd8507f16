/**
 * Pacing at planning, on the real pipeline (Azurite, the local host, the queue trigger, the real
 * botbuilder sender) against the fake Bot Connector: a tenant's backlog is scheduled work that
 * does not hold up another tenant, and a slice delivered twice sends nobody twice.
 */
import type { SliceJob } from '../../shared/domain/job';
import { silentLogger } from '../../shared/logger';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

interface StatusBody {
  status: string;
  counts: { total: number; pending: number; delivered: number };
}

describe('paced delivery', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  const RATE = 20;

  beforeAll(async () => {
    connector = await startFakeConnector();
    // 20 a second per tenant, so that 400 recipients are a 20-second backlog.
    pipeline = await startTestPipeline({ env: { SEND_RATE_PER_SECOND: String(RATE) } });
    pipeline.startWorker();
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  async function seedUsers(tenantId: string, count: number): Promise<{ aadObjectId: string; conversationId: string }[]> {
    const now = new Date().toISOString();
    const users = Array.from({ length: count }, (_, i) => ({
      serviceUrl: connector.serviceUrl,
      tenantId,
      botId: '28:bot',
      userId: `29:${tenantId}-${i}`,
      aadObjectId: `${tenantId}-aad-${i}`,
      personalConversationId: `a:${tenantId}-chat-${i}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt: now,
    }));
    for (let i = 0; i < users.length; i += 50) await Promise.all(users.slice(i, i + 50).map((user) => pipeline.services.conversations.saveUser(user)));
    return users.map((u) => ({ aadObjectId: u.aadObjectId, conversationId: u.personalConversationId }));
  }

  async function post(body: unknown): Promise<string> {
    const res = await pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  const status = async (id: string) => (await (await pipeline.api(`/api/notifications/${id}?pageSize=1`)).json()) as StatusBody;

  it("tenant B's notification is not held up by tenant A's backlog, and A's tenant is paced at its rate", async () => {
    const a = await seedUsers('tenant-a', 400);
    const [b] = await seedUsers('tenant-b', 1);
    const bulk = await post({ recipients: a.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })), message: { text: 'bulk for A' } });
    await eventually(async () => (connector.delivered().length >= 20 ? true : undefined), 20_000, "A's send under way");

    const postedAt = Date.now();
    await post({ recipients: [{ type: 'user', aadObjectId: b?.aadObjectId }], message: { text: 'just for B' } });
    await eventually(async () => (connector.delivered(b?.conversationId).length === 1 ? true : undefined), 10_000, "B's message");
    const waitedMs = Date.now() - postedAt;
    // Behind a FIFO of A's jobs it would wait out the backlog (about 20 s at 20 a second).
    expect(waitedMs).toBeLessThan(5_000);
    const meanwhile = await status(bulk);
    expect(meanwhile.counts.total - meanwhile.counts.delivered).toBeGreaterThan(0);

    const done = await eventually(async () => {
      const s = await status(bulk);
      return s.status === 'completed' ? s : undefined;
    }, 90_000, "A's send to complete");
    expect(done.counts).toMatchObject({ total: 400, delivered: 400 });
    // Paced: no sliding second saw much more than the tenant's rate. (This connector shares the
    // test's event loop, so when the loop is busy a few arrivals are stamped together; the
    // exact count across processes is test/e2e/workers.e2e.test.ts.)
    const times = connector.calls.filter((c) => c.op === 'sendToConversation' && c.status === 201 && c.conversationId?.startsWith('a:tenant-a-') === true).map((c) => c.at).sort((x, y) => x - y);
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i += 1) {
      while ((times[i] as number) - (times[j] as number) >= 1000) j += 1;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(RATE * 1.25);
  }, 120_000);

  it('a slice whose tenant Teams paused for long goes back to the queue and lets go of its recipients', async () => {
    const users = await seedUsers('tenant-d', 3);
    const { services } = pipeline;
    const id = await post({ recipients: users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })), message: { text: 'paused' }, sendAt: new Date(Date.now() + 3_600_000).toISOString() });
    const start = Date.now();
    const sends = users.map((u, i) => ({ recipientKey: `user:aad:${u.aadObjectId}`, recipient: { type: 'user' as const, aadObjectId: u.aadObjectId }, at: start + (i === 0 ? 300 : 2_000 + i * 50) }));
    const created = await services.deliveries.createPending(id, sends.map((s) => ({ recipientKey: s.recipientKey, recipient: s.recipient })));
    const slice: SliceJob = { v: 1, kind: 'slice', notificationId: id, tenantId: 'tenant-d', sliceId: 'paused.0', sends: sends.map((s) => ({ ...s, etag: created.get(s.recipientKey) as string })) };
    // The slice is under way (its rows claimed at once) when Teams asks the tenant to wait 20 s.
    const handled = services.worker.handle(slice, silentLogger);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await services.pacer.throttled('tenant-d', 20_000);
    const result = await handled;
    // The rest of the slice is deferred; a send already being prepared hands its recipient back on its own.
    if (result.kind !== 'sliced') throw new Error(`not sliced: ${result.kind}`);
    const { delivered = 0, rescheduled = 0, deferred = 0 } = result.results;
    expect(deferred).toBeGreaterThanOrEqual(1);
    expect(delivered + rescheduled + deferred).toBe(3);
    expect(connector.delivered()).toHaveLength(delivered);
    // None is left claimed: the copies that come after the pause find them free.
    for (const s of sends) {
      const row = await services.deliveries.get(id, s.recipientKey);
      if (row?.status === 'pending') expect(row.leaseUntil).toBeUndefined();
    }
  }, 60_000);

  it('a slice delivered twice, even at once, sends each recipient once', async () => {
    const users = await seedUsers('tenant-c', 5);
    const id = await post({ recipients: users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })), message: { text: 'twice?' } });
    await eventually(async () => ((await status(id)).status === 'completed' ? true : undefined), 20_000, 'the send');
    expect(connector.delivered()).toHaveLength(5);

    // The same slice again, twice at once, as a redelivery after a lost lock would bring it.
    const slice: SliceJob = {
      v: 1,
      kind: 'slice',
      notificationId: id,
      tenantId: 'tenant-c',
      sliceId: 'replayed.0',
      sends: users.map((u, i) => ({ recipientKey: `user:aad:${u.aadObjectId}`, recipient: { type: 'user', aadObjectId: u.aadObjectId }, at: Date.now() + i * 10 })),
    };
    const results = await Promise.all([pipeline.services.worker.handle(slice, silentLogger), pipeline.services.worker.handle(slice, silentLogger)]);
    for (const result of results) expect(result).toMatchObject({ kind: 'sliced' });
    expect(connector.delivered()).toHaveLength(5);
    expect(new Set(connector.delivered().map((m) => m.conversationId)).size).toBe(5);
  }, 60_000);
});
