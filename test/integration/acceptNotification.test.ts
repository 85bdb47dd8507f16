import { AcceptIncompleteError, acceptNotification, type AcceptDependencies } from '../../shared/delivery/acceptNotification';
import type { NotificationRequest } from '../../shared/domain/notificationRequest';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { StorageQueueJobQueue, decodeQueueBody } from '../../shared/queue/storageQueueJobQueue';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

/** A real Azurite queue that breaks after `accepts` jobs, as a queue can fail in the middle of a batch. */
class BreakingQueue implements JobQueue {
  accepted = 0;
  constructor(
    readonly inner: StorageQueueJobQueue,
    public accepts: number,
  ) {}
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    for (const job of jobs) {
      if (this.accepted >= this.accepts) throw new Error('queue unavailable');
      await this.inner.enqueue([job]);
      this.accepted += 1;
    }
  }
  deadLetter(letter: DeadLetter): Promise<void> {
    return this.inner.deadLetter(letter);
  }
  ensureCreated(): Promise<void> {
    return this.inner.ensureCreated();
  }
  ping(signal?: AbortSignal): Promise<void> {
    return this.inner.ping(signal);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const request: NotificationRequest = {
  recipients: [
    { type: 'user', aadObjectId: 'a1' },
    { type: 'user', aadObjectId: 'a2' },
    { type: 'user', aadObjectId: 'a3' },
  ],
  message: { text: 'partly queued' },
};

describe('accepting when the queue fails part-way', () => {
  let deps: AcceptDependencies & { queue: BreakingQueue; deliveries: TableDeliveryStore; notifications: TableNotificationStore };

  beforeEach(async () => {
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
    const inner = new StorageQueueJobQueue(storageConnectionString(), { deliveries: uniqueName('q'), deadLetters: uniqueName('d') });
    await inner.ensureCreated();
    deps = { notifications: new TableNotificationStore(tables), deliveries: new TableDeliveryStore(tables), queue: new BreakingQueue(inner, 1) };
  });

  const queued = async () =>
    (await deps.queue.inner.deliveries.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map(
      (m) => (JSON.parse(decodeQueueBody(m.messageText)) as { recipientKey: string }).recipientKey,
    );

  it('without an Idempotency-Key: nothing is deleted; recipients not yet claimed end failed not-enqueued', async () => {
    const error = await acceptNotification(request, undefined, deps).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcceptIncompleteError);
    const incomplete = error as AcceptIncompleteError;
    expect(incomplete.resumable).toBe(false);
    // One job reached the queue (each retry re-sent it; deterministic ids make that harmless on Service Bus).
    expect(new Set(await queued())).toEqual(new Set(['user:aad:a1']));

    const record = await deps.notifications.get(incomplete.notificationId);
    expect(record).toMatchObject({ enqueueFailed: true });
    const rows = (await deps.deliveries.list(incomplete.notificationId)).items;
    expect(rows.map((r) => [r.recipientKey, r.status, r.reason])).toEqual([
      ['user:aad:a1', 'failed', 'not-enqueued'],
      ['user:aad:a2', 'failed', 'not-enqueued'],
      ['user:aad:a3', 'failed', 'not-enqueued'],
    ]);
  }, 20_000);

  it('with an Idempotency-Key: the retry resumes the same notification and queues the rest', async () => {
    const error = (await acceptNotification(request, 'k1', deps).catch((e: unknown) => e)) as AcceptIncompleteError;
    expect(error).toBeInstanceOf(AcceptIncompleteError);
    expect(error.resumable).toBe(true);
    expect((await deps.deliveries.list(error.notificationId)).items.every((r) => r.status === 'pending')).toBe(true);

    deps.queue.accepts = Number.POSITIVE_INFINITY;
    const started = Date.now();
    const retry = await acceptNotification(request, 'k1', deps);
    // The failed first attempt is marked, so the retry does not wait out the concurrency window.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(retry).toEqual({ kind: 'accepted', id: error.notificationId, status: 'accepted', replayed: true });
    expect(new Set(await queued())).toEqual(new Set(['user:aad:a1', 'user:aad:a2', 'user:aad:a3']));
    expect((await deps.notifications.get(error.notificationId))?.enqueuedAt).toBeDefined();
  }, 20_000);

  it('a failure before anything is queued leaves nothing behind, and frees the key', async () => {
    const failing = { ...deps, deliveries: Object.assign(Object.create(deps.deliveries) as TableDeliveryStore, { createPending: () => Promise.reject(new Error('storage down')) }) };
    await expect(acceptNotification(request, 'k2', failing)).rejects.toThrow('storage down');
    expect(await deps.notifications.findIdempotencyKey('k2')).toBeUndefined();
    expect(await queued()).toEqual([]);
    const fresh = await acceptNotification(request, 'k2', { ...deps, queue: Object.assign(deps.queue, { accepts: Number.POSITIVE_INFINITY }) });
    expect(fresh).toMatchObject({ kind: 'accepted', replayed: false });
  }, 20_000);
});
