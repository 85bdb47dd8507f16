import { CancelPass } from '../../shared/cancelling/cancelPass';
import type { Job } from '../../shared/domain/job';
import { newNotificationId } from '../../shared/domain/notification';
import { recipientKey, type Recipient } from '../../shared/domain/recipient';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { DEFAULT_PACING_POLICY } from '../../shared/pacing/tenantTimeline';
import { TenantPacer } from '../../shared/pacing/tenantPacer';
import { RequestPlanning } from '../../shared/planning/planRequest';
import { cancelNotification } from '../../shared/requests/cancelNotification';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { TableTimelineStore } from '../../shared/stores/timelineStore';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import type { RecipientListStore } from '../../shared/stores/recipientListStore';
import { Tables } from '../../shared/stores/tables';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { DeliveryMetrics } from '../../shared/telemetry/deliveryMetrics';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const HOUR = 3600_000;
const LARGE = 2_000;

/** A queue that keeps what it is given, in order, for the test to run. */
class HeldQueue implements JobQueue {
  readonly jobs: QueuedJob[] = [];
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    this.jobs.push(...jobs);
  }
  async deadLetter(_letter: DeadLetter): Promise<void> {}
  async ensureCreated(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

const noLists: RecipientListStore = { save: async () => undefined, load: async () => undefined, delete: async () => undefined, ensureCreated: async () => undefined };

/** Wraps a store so that every method call is written down as `name.method`: each is one storage operation or fewer. */
function counted<T extends object>(name: string, target: T, calls: string[]): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(`${name}.${String(property)}`);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

const users = (n: number, tag: string): Recipient[] => Array.from({ length: n }, (_, i) => ({ type: 'user', aadObjectId: `${tag}-${i}` }));

describe('cancel: DELETE answers at once, the rest ends in the background, counts converge', () => {
  describe('the request and the pass, on the stores', () => {
    let notifications: TableNotificationStore;
    let deliveries: TableDeliveryStore;

    beforeAll(async () => {
      const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
      await tables.ensureCreated();
      notifications = new TableNotificationStore(tables);
      deliveries = new TableDeliveryStore(tables);
    });

    /** A scheduled notification whose rows are all written and pending. */
    async function scheduled(count: number): Promise<string> {
      const id = newNotificationId();
      const recipients = users(count, id);
      await notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: count, sendAt: new Date(Date.now() + HOUR).toISOString() });
      await deliveries.createPending(id, recipients.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient })));
      return id;
    }

    it(`the request costs the same storage operations for 150 recipients as for ${LARGE}: one page of rows at most, the rest queued`, async () => {
      const operations = async (id: string): Promise<string[]> => {
        const calls: string[] = [];
        const queue = new HeldQueue();
        const result = await cancelNotification(id, {
          notifications: counted('notifications', notifications, calls),
          deliveries: counted('deliveries', deliveries, calls),
          queue: counted('queue', queue, calls),
          metrics: new DeliveryMetrics(),
        });
        expect(result).toEqual({ kind: 'cancelled', already: false });
        expect(queue.jobs.map((j) => j.job.kind)).toEqual(['cancel']);
        return calls;
      };
      const small = await operations(await scheduled(150));
      const large = await operations(await scheduled(LARGE));
      expect(large).toEqual(small);
      // endUnclaimedPage: one query of at most 100 rows and one batch (row by row only if a worker claimed one meanwhile).
      expect(large).toEqual(['notifications.get', 'notifications.markCancelled', 'deliveries.endUnclaimedPage', 'queue.enqueue']);
    }, 60_000);

    it('the pass ends the rows a page at a time, re-enqueuing itself, and a held row is left to its worker: delivered, never also skipped', async () => {
      const id = await scheduled(LARGE);
      // A worker holds one recipient: it is being sent right now.
      const heldRow = await deliveries.get(id, 'user:aad:' + `${id}-7`);
      const claim = await deliveries.update(heldRow as NonNullable<typeof heldRow>, { leaseUntil: new Date(Date.now() + 60_000).toISOString() });
      if (claim.kind !== 'updated') throw new Error('claim failed');
      // A second worker read another row before the cancel, and claims it after: its ETag is stale.
      const lateRow = await deliveries.get(id, 'user:aad:' + `${id}-9`);

      const queue = new HeldQueue();
      await cancelNotification(id, { notifications, deliveries, queue, metrics: new DeliveryMetrics() });
      const pass = new CancelPass({ notifications, deliveries, recipientLists: noLists, queue, metrics: new DeliveryMetrics() });
      // The request ended the first page itself.
      const skippedAfterEachJob: number[] = [(await deliveries.counts(id)).counts.skipped];
      // The jobs due now, in order; a later pass (notBefore) is left on the queue.
      while (queue.jobs[0] !== undefined && queue.jobs[0].notBefore === undefined) {
        const next = queue.jobs.shift() as QueuedJob;
        const record = await notifications.get(id);
        await pass.run(next.job as Extract<Job, { kind: 'cancel' }>, record as NonNullable<typeof record>);
        skippedAfterEachJob.push((await deliveries.counts(id)).counts.skipped);
      }
      // Bounded per job (1,000 rows), growing to everything but the held row.
      expect(skippedAfterEachJob).toHaveLength(3);
      expect(skippedAfterEachJob[0]).toBeGreaterThanOrEqual(99);
      expect(skippedAfterEachJob[0]).toBeLessThanOrEqual(100);
      expect((skippedAfterEachJob[1] ?? 0) - (skippedAfterEachJob[0] ?? 0)).toBeLessThanOrEqual(1000);
      expect(skippedAfterEachJob[2]).toBe(LARGE - 1);
      // The held row makes the pass come back later, for a worker that might die holding it.
      expect(queue.jobs.map((j) => [j.job.kind, j.notBefore !== undefined])).toEqual([['cancel', true]]);

      expect((await deliveries.update(lateRow as NonNullable<typeof lateRow>, { leaseUntil: new Date(Date.now() + 60_000).toISOString() })).kind).toBe('stale');
      // The holder's send lands: delivered, under its own ETag, which the pass never touched.
      expect((await deliveries.update(claim.row, { status: 'delivered', leaseUntil: '' })).kind).toBe('updated');

      const { counts } = await deliveries.counts(id);
      expect(counts).toMatchObject({ total: LARGE, pending: 0, delivered: 1, skipped: LARGE - 1 });
      expect(await deliveries.get(id, `user:aad:${id}-7`)).toMatchObject({ status: 'delivered' });
    }, 60_000);
  });

  describe('a DELETE that died between its mark and its pass, while the request was planning', () => {
    let tables: Tables;
    let notifications: TableNotificationStore;
    let deliveries: TableDeliveryStore;

    beforeAll(async () => {
      tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
      await tables.ensureCreated();
      notifications = new TableNotificationStore(tables);
      deliveries = new TableDeliveryStore(tables);
    });

    it('the planner that meets the cancel queues the entries pass: every entry ends with a row, skipped, and total is the whole request', async () => {
      const id = newNotificationId();
      const entries = users(250, id);
      await notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: entries.length, recipients: entries, planning: true });
      // The planner's first page is written, pending; then the DELETE marks it and dies.
      await deliveries.createPending(id, entries.slice(0, 100).map((recipient) => ({ recipientKey: recipientKey(recipient), recipient })));
      await notifications.markCancelled(id, new Date().toISOString());

      const queue = new HeldQueue();
      const planning = new RequestPlanning({
        notifications,
        deliveries,
        recipientLists: noLists,
        queue,
        conversations: new TableConversationStore(tables),
        pacer: new TenantPacer(new TableTimelineStore(tables), { ...DEFAULT_PACING_POLICY, maxRate: 50 }),
      });
      const cancelled = await notifications.get(id);
      expect(await planning.plan({ v: 1, kind: 'plan', notificationId: id, offset: 100 }, cancelled as NonNullable<typeof cancelled>)).toMatchObject({ kind: 'ignored' });
      expect(queue.jobs.map((j) => j.job)).toEqual([expect.objectContaining({ kind: 'cancel', offset: 0 })]);
      // Still planning until the pass has given every entry its row: GET does not say a final count yet.
      expect(await notifications.get(id)).toMatchObject({ planning: true });

      const pass = new CancelPass({ notifications, deliveries, recipientLists: noLists, queue, metrics: new DeliveryMetrics() });
      for (let n = 0; queue.jobs[0] !== undefined && n < 20; n += 1) {
        const next = queue.jobs.shift() as QueuedJob;
        const record = await notifications.get(id);
        await pass.run(next.job as Extract<Job, { kind: 'cancel' }>, record as NonNullable<typeof record>);
      }
      expect(queue.jobs).toEqual([]);
      expect((await deliveries.counts(id)).counts).toMatchObject({ total: 250, pending: 0, skipped: 250 });
      expect((await notifications.get(id))?.planning).not.toBe(true);
    }, 60_000);
  });

  describe('through the HTTP API and the queue', () => {
    let connector: FakeConnector;
    let pipeline: TestPipeline;

    beforeAll(async () => {
      connector = await startFakeConnector();
      pipeline = await startTestPipeline({
        env: { SEND_RATE_PER_SECOND: '1000' },
        sender: new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '' }),
        delivery: { leaseMs: 30_000 },
      });
      pipeline.startWorker();
    });
    afterAll(async () => {
      await pipeline.stop();
      await connector.close();
    });

    interface StatusBody {
      status: string;
      counts: { total: number; pending: number; delivered: number; skipped: number };
      recipients: { status: string; reason?: string }[];
    }
    const status = async (id: string): Promise<StatusBody> => (await (await pipeline.api(`/api/notifications/${id}`)).json()) as StatusBody;

    it(`${LARGE} pending recipients: 202 at once with no final count, GET says cancelled at once, skipped grows to ${LARGE}, nothing sent`, async () => {
      const { notifications, deliveries } = pipeline.services;
      const id = newNotificationId();
      await notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: LARGE, sendAt: new Date(Date.now() + HOUR).toISOString() });
      await deliveries.createPending(id, users(LARGE, id).map((recipient) => ({ recipientKey: recipientKey(recipient), recipient })));

      const started = performance.now();
      const res = await pipeline.api(`/api/notifications/${id}`, { method: 'DELETE' });
      const elapsedMs = performance.now() - started;
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ id, status: 'cancelled', statusUrl: `/api/notifications/${id}` });
      // Three storage and queue operations, whatever the audience (asserted above); loosely timed here.
      expect(elapsedMs).toBeLessThan(2_000);
      expect((await status(id)).status).toBe('cancelled');

      const done = await eventually(async () => {
        const body = await status(id);
        return body.counts.skipped === LARGE ? body : undefined;
      }, 60_000, `all ${LARGE} skipped`);
      expect(done.status).toBe('cancelled');
      expect(done.counts).toMatchObject({ total: LARGE, pending: 0, delivered: 0, skipped: LARGE });
      expect(done.recipients.every((r) => r.status === 'skipped' && r.reason === 'cancelled')).toBe(true);
      expect(connector.calls).toHaveLength(0);
    }, 90_000);

    it('a recipient whose message is on the wire when DELETE comes is delivered once, and not also skipped', async () => {
      const user = {
        aadObjectId: '00000000-0000-0000-0000-00000000c0de',
        userId: '29:user-on-the-wire',
        serviceUrl: connector.serviceUrl,
        tenantId: 'tenant-c',
        botId: 'bot-1',
        installed: true,
        updatedAt: new Date().toISOString(),
        personalConversationId: 'a:fake-29:user-on-the-wire',
      };
      await pipeline.services.conversations.saveUser(user);
      connector.script({ op: 'send' }, [{ delayMs: 2_500 }]);
      const posted = await pipeline.api('/api/notifications', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: user.aadObjectId }], message: { text: 'on the wire' } }),
      });
      expect(posted.status).toBe(202);
      const { id } = (await posted.json()) as { id: string };
      await eventually(async () => (connector.calls.some((c) => (c.op === 'sendToConversation' || c.op === 'replyToActivity') && c.status === 0) ? true : undefined), 20_000, 'the send to hang');

      expect((await pipeline.api(`/api/notifications/${id}`, { method: 'DELETE' })).status).toBe(202);
      const settled = await eventually(async () => {
        const body = await status(id);
        return body.counts.pending === 0 ? body : undefined;
      }, 30_000, 'the recipient to settle');
      expect(settled.status).toBe('cancelled');
      expect(settled.counts).toMatchObject({ total: 1, delivered: 1, skipped: 0 });
      expect(connector.delivered(user.personalConversationId)).toHaveLength(1);
    }, 60_000);
  });
});
