import { sweepStuckDeliveries } from '../../shared/delivery/sweepStuckDeliveries';
import { jobMessageId, type Job } from '../../shared/domain/job';
import { recipientKey, type Recipient } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

/** Records what the sweeper enqueues, dropping repeated message ids as Service Bus would. */
class RecordingQueue implements JobQueue {
  readonly jobs: Job[] = [];
  private readonly ids = new Set<string>();
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    for (const { job } of jobs) {
      if (!this.ids.has(jobMessageId(job))) this.jobs.push(job);
      this.ids.add(jobMessageId(job));
    }
  }
  async deadLetter(_letter: DeadLetter): Promise<void> {}
  async ensureCreated(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

const HOUR = 3600_000;

describe('sweepStuckDeliveries: no recipient is left pending in silence', () => {
  let deps: { notifications: TableNotificationStore; deliveries: TableDeliveryStore; queue: RecordingQueue };

  beforeEach(async () => {
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
    deps = { notifications: new TableNotificationStore(tables), deliveries: new TableDeliveryStore(tables), queue: new RecordingQueue() };
  });

  /** A notification whose rows were written but whose jobs never reached the queue (a crash while accepting). */
  async function stranded(recipients: Recipient[], extra: { sendAt?: string; cancelled?: boolean } = {}): Promise<string> {
    const id = `n${uniqueName()}`;
    await deps.deliveries.createPending(id, recipients.map((r) => ({ recipientKey: recipientKey(r), recipient: r })));
    await deps.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: recipients.length, ...(extra.sendAt !== undefined && { sendAt: extra.sendAt }) });
    if (extra.cancelled === true) await deps.notifications.markCancelled(id, new Date().toISOString());
    return id;
  }

  it('re-queues stuck recipients (deliver and expand jobs) with ids Service Bus will not drop, and marks them', async () => {
    const id = await stranded([{ type: 'user', aadObjectId: 'stuck-1' }, { type: 'allUsers' }]);
    const first = await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + 3 * HOUR);
    expect(first).toEqual({ notifications: 1, requeued: 2, failed: 0 });
    expect(deps.queue.jobs.map((j) => [j.kind, 'recipientKey' in j ? j.recipientKey : undefined, j.hop]).sort()).toEqual([
      ['deliver', 'user:aad:stuck-1', 1_000_000],
      ['expand', 'allUsers', 1_000_000],
    ]);
    expect((await deps.deliveries.get(id, 'user:aad:stuck-1'))?.sweeps).toBe(1);

    // Just re-queued: nothing more until it has been stale again.
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + HOUR)).toMatchObject({ requeued: 0 });
    const second = await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + 3 * HOUR);
    expect(second.requeued).toBe(2);
    expect(deps.queue.jobs).toHaveLength(4);
  });

  it('leaves alone what is moving: recent rows, claimed rows, future sends, cancelled notifications', async () => {
    const claimed = await stranded([{ type: 'user', aadObjectId: 'claimed' }]);
    const row = await deps.deliveries.get(claimed, 'user:aad:claimed');
    await deps.deliveries.update(row as NonNullable<typeof row>, { leaseUntil: new Date(Date.now() + 10 * HOUR).toISOString() });
    await stranded([{ type: 'user', aadObjectId: 'later' }], { sendAt: new Date(Date.now() + 48 * HOUR).toISOString() });
    await stranded([{ type: 'user', aadObjectId: 'cancelled' }], { cancelled: true });
    await stranded([{ type: 'user', aadObjectId: 'fresh' }]);

    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + 3 * HOUR)).toEqual({ notifications: 1, requeued: 1, failed: 0 });
    expect(deps.queue.jobs.map((j) => ('recipientKey' in j ? j.recipientKey : undefined))).toEqual(['user:aad:fresh']);
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now())).toEqual({ notifications: 0, requeued: 0, failed: 0 });
  });

  it('fails a recipient that made no progress after the last allowed re-queue', async () => {
    const id = await stranded([{ type: 'user', aadObjectId: 'hopeless' }]);
    const options = { staleMs: 2 * HOUR, lookbackMs: 14 * 24 * HOUR, maxSweeps: 2 };
    let at = Date.now();
    for (let i = 0; i < 2; i++) {
      at += 3 * HOUR;
      expect(await sweepStuckDeliveries(deps, silentLogger, options, at)).toMatchObject({ requeued: 1, failed: 0 });
      // Nothing ran the job: make the row look as old as the clock says.
      const row = await deps.deliveries.get(id, 'user:aad:hopeless');
      expect(row?.sweeps).toBe(i + 1);
    }
    expect(await sweepStuckDeliveries(deps, silentLogger, options, at + 24 * HOUR)).toMatchObject({ requeued: 0, failed: 1 });
    expect(await deps.deliveries.get(id, 'user:aad:hopeless')).toMatchObject({ status: 'failed', reason: 'retries-exhausted' });
  });
});
