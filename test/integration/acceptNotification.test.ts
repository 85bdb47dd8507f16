import { acceptNotification, type AcceptDependencies } from '../../shared/requests/acceptNotification';
import type { NotificationRequest } from '../../shared/domain/notificationRequest';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { StorageQueueJobQueue, decodeQueueBody } from '../../shared/queue/storageQueueJobQueue';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { BlobRecipientListStore } from '../../shared/stores/recipientListStore';
import { Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

/** A real Azurite queue that refuses everything while `down`. */
class BreakingQueue implements JobQueue {
  down = true;
  constructor(readonly inner: StorageQueueJobQueue) {}
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    if (this.down) throw new Error('queue unavailable');
    await this.inner.enqueue(jobs);
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

const users = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'user' as const, aadObjectId: `00000000-0000-0000-0002-${String(i).padStart(12, '0')}` }));
const request: NotificationRequest = { recipients: users(3), message: { text: 'hello' } };

describe('accepting a notification', () => {
  let deps: AcceptDependencies & { queue: BreakingQueue; deliveries: TableDeliveryStore; notifications: TableNotificationStore; recipientLists: BlobRecipientListStore };

  beforeEach(async () => {
    const prefix = uniqueName();
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix });
    await tables.ensureCreated();
    const inner = new StorageQueueJobQueue(storageConnectionString(), { deliveries: uniqueName('q'), deadLetters: uniqueName('d') });
    await inner.ensureCreated();
    const recipientLists = new BlobRecipientListStore({ kind: 'connectionString', connectionString: storageConnectionString(), prefix });
    await recipientLists.ensureCreated();
    deps = { notifications: new TableNotificationStore(tables), deliveries: new TableDeliveryStore(tables), queue: new BreakingQueue(inner), recipientLists };
  });

  const queued = async () =>
    (await deps.queue.inner.deliveries.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => JSON.parse(decodeQueueBody(m.messageText)) as Record<string, unknown>);

  it('writes a constant number of entities and one job, whatever the audience; a large list goes to a blob', async () => {
    deps.queue.down = false;
    for (const size of [1, 1_000, 10_000]) {
      const result = await acceptNotification({ recipients: users(size), message: { text: 'to many' } }, undefined, deps);
      expect(result).toMatchObject({ kind: 'accepted', status: 'accepted' });
      const id = (result as { id: string }).id;
      const record = await deps.notifications.get(id);
      expect(record).toMatchObject({ requestedRecipients: size, planning: true });
      // No row yet: rows come from planning, page by page.
      expect((await deps.deliveries.counts(id)).counts.total).toBe(0);
      const inBlob = await deps.recipientLists.load(id);
      if (size === 1) {
        expect(record?.recipients).toHaveLength(1);
        expect(inBlob).toBeUndefined();
      } else {
        expect(record?.recipients).toBeUndefined();
        expect(inBlob).toHaveLength(size);
      }
    }
    expect((await queued()).map((job) => [job.kind, job.offset])).toEqual([
      ['plan', 0],
      ['plan', 0],
      ['plan', 0],
    ]);
  });

  it('a queue failure undoes everything (record, list, key), so a retry starts clean', async () => {
    const big: NotificationRequest = { recipients: users(1_000), message: { text: 'big' } };
    const error = await acceptNotification(big, 'k1', deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(await deps.notifications.findIdempotencyKey('k1')).toBeUndefined();
    expect(await queued()).toEqual([]);

    deps.queue.down = false;
    const retry = await acceptNotification(big, 'k1', deps);
    expect(retry).toMatchObject({ kind: 'accepted', replayed: false });
    const again = await acceptNotification(big, 'k1', deps);
    expect(again).toEqual({ ...retry, replayed: true });
    expect(await queued()).toHaveLength(1);
  }, 20_000);

  it('a scheduled send plans shortly before its time, urgent is remembered', async () => {
    deps.queue.down = false;
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const result = await acceptNotification({ ...request, sendAt, priority: 'urgent' }, undefined, deps);
    expect(result).toMatchObject({ status: 'scheduled' });
    const record = await deps.notifications.get((result as { id: string }).id);
    expect(record).toMatchObject({ priority: 'urgent', sendAt });
    // Not visible now: the plan job waits until half a minute before sendAt.
    expect(await queued()).toEqual([]);
  });
});
