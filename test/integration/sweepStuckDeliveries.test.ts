import { DEFAULT_SWEEP_OPTIONS, sweepStuckDeliveries } from '../../shared/delivery/sweepStuckDeliveries';
import { jobMessageId, type Job } from '../../shared/domain/job';
import { recipientKey, type Recipient } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { Tables } from '../../shared/stores/tables';
import { DeliveryMetrics } from '../../shared/telemetry/deliveryMetrics';
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
  let deps: { notifications: TableNotificationStore; deliveries: TableDeliveryStore; queue: RecordingQueue; metrics: DeliveryMetrics };

  beforeEach(async () => {
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
    deps = { notifications: new TableNotificationStore(tables), deliveries: new TableDeliveryStore(tables), queue: new RecordingQueue(), metrics: new DeliveryMetrics() };
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
    expect(first).toEqual({ notifications: 1, requeued: 2, failed: 0, finished: 0 });
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

  it('leaves alone what is moving: recent rows, claimed rows, future sends; a cancelled notification gets a cancel pass, not sends', async () => {
    const claimed = await stranded([{ type: 'user', aadObjectId: 'claimed' }]);
    const cancelled = await stranded([{ type: 'user', aadObjectId: 'cancelled' }], { cancelled: true });
    const row = await deps.deliveries.get(claimed, 'user:aad:claimed');
    await deps.deliveries.update(row as NonNullable<typeof row>, { leaseUntil: new Date(Date.now() + 10 * HOUR).toISOString() });
    await stranded([{ type: 'user', aadObjectId: 'later' }], { sendAt: new Date(Date.now() + 48 * HOUR).toISOString() });
    await stranded([{ type: 'user', aadObjectId: 'fresh' }]);

    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + 3 * HOUR)).toEqual({ notifications: 2, requeued: 1, failed: 0, finished: 0 });
    expect(deps.queue.jobs.filter((j) => j.kind === 'deliver').map((j) => ('recipientKey' in j ? j.recipientKey : undefined))).toEqual(['user:aad:fresh']);
    expect(deps.queue.jobs.filter((j) => j.kind === 'cancel').map((j) => j.notificationId)).toEqual([cancelled]);
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now())).toEqual({ notifications: 0, requeued: 0, failed: 0, finished: 0 });
  });

  it('a notification cancelled while still planning, whose pass never came, gets the entries pass (rows born skipped for what was never planned)', async () => {
    const id = `n${uniqueName()}`;
    const recipients: Recipient[] = [{ type: 'user', aadObjectId: 'planned' }, { type: 'user', aadObjectId: 'never-planned' }];
    await deps.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: 2, recipients, planning: true });
    await deps.deliveries.createPending(id, [{ recipientKey: recipientKey(recipients[0] as Recipient), recipient: recipients[0] as Recipient }]);
    await deps.notifications.markCancelled(id, new Date().toISOString());
    const now = Date.now() + 3 * HOUR;
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, now)).toMatchObject({ notifications: 1, requeued: 0, finished: 0 });
    expect(deps.queue.jobs).toEqual([{ v: 1, kind: 'cancel', notificationId: id, round: now, offset: 0, page: 0, pass: 0, held: 0 }]);
    // Still in the index: it is not finished until the pass has given every entry a row.
    expect(await indexed()).toEqual([id]);
  });

  it('fails a recipient that made no progress after the last allowed re-queue', async () => {
    const id = await stranded([{ type: 'user', aadObjectId: 'hopeless' }]);
    const options = { staleMs: 2 * HOUR, maxSweeps: 2, pageSize: 100 };
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

  /** The ids the unfinished index holds, all pages. */
  async function indexed(): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await deps.notifications.unfinished(token, 2);
      ids.push(...page.items.map((e) => e.id));
      token = page.continuationToken;
    } while (token !== undefined);
    return ids;
  }

  it('reads the unfinished index, not a range of dates: a send scheduled 60 days ahead is swept once due', async () => {
    const sendAt = Date.now() + 60 * 24 * HOUR;
    const id = await stranded([{ type: 'user', aadObjectId: 'far-ahead' }], { sendAt: new Date(sendAt).toISOString() });
    expect(await indexed()).toEqual([id]);
    // Not due: nothing read, nothing queued.
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, sendAt - HOUR)).toMatchObject({ requeued: 0 });
    // 60 days on (far past any look-back the old sweeper had), it is still found.
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, sendAt + 3 * HOUR)).toMatchObject({ notifications: 1, requeued: 1 });
    expect(deps.queue.jobs.map((j) => j.notificationId)).toEqual([id]);
  });

  it('takes finished notifications and dangling index rows out of the index, and pages through many', async () => {
    const done = await stranded([{ type: 'user', aadObjectId: 'done' }]);
    const row = await deps.deliveries.get(done, 'user:aad:done');
    await deps.deliveries.update(row as NonNullable<typeof row>, { status: 'delivered' });
    const open = await Promise.all([1, 2, 3, 4, 5].map((n) => stranded([{ type: 'user', aadObjectId: `open-${n}` }])));
    // An index row whose record never came (the accept died between the two writes).
    const orphan = `n${uniqueName()}`;
    await deps.notifications.markUnfinished({ id: orphan, createdAt: new Date().toISOString() });
    expect((await indexed()).sort()).toEqual([done, ...open, orphan].sort());

    const result = await sweepStuckDeliveries(deps, silentLogger, { ...DEFAULT_SWEEP_OPTIONS, pageSize: 2 }, Date.now() + 3 * HOUR);
    expect(result).toEqual({ notifications: 5, requeued: 5, failed: 0, finished: 2 });
    expect((await indexed()).sort()).toEqual([...open].sort());
  });

  it('a dangling index row younger than staleMs stays: its accept may be writing the record right now', async () => {
    const id = `n${uniqueName()}`;
    await deps.notifications.markUnfinished({ id, createdAt: new Date().toISOString() });
    expect(await sweepStuckDeliveries(deps, silentLogger, undefined, Date.now() + HOUR)).toMatchObject({ finished: 0 });
    expect(await indexed()).toEqual([id]);
  });

  it('a resend that re-adds a notification while a sweep looks at it keeps it in the index (ETag)', async () => {
    const id = await stranded([{ type: 'user', aadObjectId: 'resent' }]);
    const [entry] = (await deps.notifications.unfinished()).items;
    const record = await deps.notifications.get(id);
    await deps.notifications.markUnfinished(record as NonNullable<typeof record>);
    expect(await deps.notifications.markFinished(id, entry?.etag)).toBe(false);
    expect(await indexed()).toEqual([id]);
    expect(await deps.notifications.markFinished(id)).toBe(true);
    expect(await indexed()).toEqual([]);
  });
});
