import type { Job } from '../../shared/domain/job';
import { newNotificationId } from '../../shared/domain/notification';
import type { NotificationRequest } from '../../shared/domain/notificationRequest';
import { recipientKey, type Recipient } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { acceptNotification } from '../../shared/requests/acceptNotification';
import { purgeExpired, retentionOptions, type RetentionOptions } from '../../shared/retention/purgeExpired';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { TableReadReceiptStore } from '../../shared/stores/readReceiptStore';
import { BlobRecipientListStore } from '../../shared/stores/recipientListStore';
import { tableKey, Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

const DAY = 24 * 3600_000;
const RETENTION: RetentionOptions = retentionOptions(30);

class HeldQueue implements JobQueue {
  readonly jobs: Job[] = [];
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    this.jobs.push(...jobs.map((j) => j.job));
  }
  async deadLetter(_letter: DeadLetter): Promise<void> {}
  async ensureCreated(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('retention: finished notifications go after RETENTION_DAYS, with everything kept for them, a bounded amount per run', () => {
  let tables: Tables;
  let notifications: TableNotificationStore;
  let deliveries: TableDeliveryStore;
  let recipientLists: BlobRecipientListStore;
  let receipts: TableReadReceiptStore;
  let deps: Parameters<typeof purgeExpired>[0];

  beforeEach(async () => {
    const prefix = uniqueName();
    tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix });
    await tables.ensureCreated();
    notifications = new TableNotificationStore(tables);
    deliveries = new TableDeliveryStore(tables);
    recipientLists = new BlobRecipientListStore({ kind: 'connectionString', connectionString: storageConnectionString(), prefix });
    await recipientLists.ensureCreated();
    receipts = new TableReadReceiptStore(tables);
    deps = { notifications, deliveries, recipientLists, receipts };
  });

  const users = (n: number, tag: string): Recipient[] => Array.from({ length: n }, (_, i) => ({ type: 'user', aadObjectId: `${tag}-${i}` }));

  /** A notification with `n` rows, created now (the tests move the clock instead). */
  async function notification(n: number, options: { createdAt?: number; sendAt?: number; settled?: boolean; idempotencyKey?: string } = {}): Promise<string> {
    const createdAt = options.createdAt ?? Date.now();
    const id = newNotificationId(createdAt);
    await notifications.create({
      id,
      createdAt: new Date(createdAt).toISOString(),
      message: { text: 'x' },
      requestedRecipients: n,
      ...(options.sendAt !== undefined && { sendAt: new Date(options.sendAt).toISOString() }),
      ...(options.idempotencyKey !== undefined && { idempotencyKey: options.idempotencyKey }),
    });
    const settled = options.settled === false ? undefined : { status: 'skipped' as const, reason: 'cancelled' as const, detail: 'done' };
    await deliveries.createPending(id, users(n, id).map((recipient) => ({ recipientKey: recipientKey(recipient), recipient, ...(settled !== undefined && { settled }) })));
    return id;
  }

  async function rowsOf(id: string): Promise<number> {
    let n = 0;
    for await (const _ of tables.client('deliveries').listEntities({ queryOptions: { filter: `PartitionKey eq '${id}'` } })) n += 1;
    for await (const _ of tables.client('notifications').listEntities({ queryOptions: { filter: `PartitionKey eq '${id}' or (PartitionKey eq 'index-unfinished' and RowKey eq '${id}')` } })) n += 1;
    return n;
  }

  it('purges a completed notification with its rows, read-receipt rows, recipient list, audience rows, index row and Idempotency-Key; a young one stays', async () => {
    const key = `key-${uniqueName()}`;
    const old = await notification(3, { idempotencyKey: key });
    await notifications.claimIdempotencyKey(key, old, 'hash-1');
    await recipientLists.save(old, users(3, old));
    expect(await notifications.reserveAudience(old, 'entry@0', 2, 10)).toBe(2);
    // One recipient was sent a personal-chat message nobody has read yet: it is in the read-receipt index.
    const sentAt = Date.now();
    const chat = { tenantId: 'tenant-r', conversationId: 'a:chat-retained', activityId: String(sentAt) };
    const row = await deliveries.get(old, `user:aad:${old}-0`);
    await deliveries.update(row as NonNullable<typeof row>, { status: 'delivered', activityId: chat.activityId, conversationId: chat.conversationId, landsIn: 'personal', sentVia: { serviceUrl: 'https://smba.example/', tenantId: chat.tenantId, botId: 'bot' } });
    await receipts.recordSent([{ ...chat, notificationId: old, recipientKey: `user:aad:${old}-0` }]);
    await notifications.markPlanned(old);
    // Created ten days after it: 21 days old when the old one is 31.
    const young = await notification(1, { createdAt: Date.now() + 10 * DAY });

    const result = await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 31 * DAY);
    expect(result).toMatchObject({ purged: 1, more: false });
    expect(await notifications.get(old)).toBeUndefined();
    expect(await rowsOf(old)).toBe(0);
    expect(await recipientLists.load(old)).toBeUndefined();
    expect(await notifications.findIdempotencyKey(key)).toBeUndefined();
    expect(await receipts.takeReadUpTo(chat.tenantId, chat.conversationId, String(sentAt + 1000))).toEqual([]);
    expect(await notifications.get(young)).toBeDefined();
    expect(await rowsOf(young)).toBe(3);
  });

  it('keeps what is younger than the retention, counting from sendAt when that is later', async () => {
    const now = Date.now();
    const recent = await notification(1);
    const scheduled = await notification(1, { sendAt: now + 20 * DAY });
    // At 31 days: the plain one goes, the one sent on day 20 is 11 days old and stays.
    expect(await purgeExpired(deps, silentLogger, RETENTION, now + 31 * DAY)).toMatchObject({ purged: 1, kept: 1 });
    expect(await notifications.get(recent)).toBeUndefined();
    expect(await notifications.get(scheduled)).toBeDefined();
    // And a day before the first one's time, nothing goes.
    const fresh = await notification(1);
    expect(await purgeExpired(deps, silentLogger, RETENTION, now + 29 * DAY)).toMatchObject({ purged: 0 });
    expect(await notifications.get(fresh)).toBeDefined();
  });

  it('leaves an unfinished notification to the sweeper, and purges it at twice the retention', async () => {
    const stuck = await notification(2, { settled: false });
    expect(await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 31 * DAY)).toMatchObject({ purged: 0, kept: 1 });
    expect(await notifications.get(stuck)).toBeDefined();
    expect(await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 61 * DAY)).toMatchObject({ purged: 1, kept: 0 });
    expect(await notifications.get(stuck)).toBeUndefined();
    expect(await rowsOf(stuck)).toBe(0);
  });

  it('works in bounded runs: a run stops at its row budget, GET already answers 404, and the next runs finish', async () => {
    const big = await notification(450);
    const small = await notification(5);
    const options = { ...RETENTION, maxRowsPerRun: 200 };
    const later = Date.now() + 31 * DAY;
    const first = await purgeExpired(deps, silentLogger, options, later);
    expect(first).toMatchObject({ purged: 0, rows: 200, more: true });
    expect(await notifications.get(big)).toBeUndefined();
    expect(await rowsOf(big)).toBe(450 + 2 - 200);
    const runs = [first];
    while (runs[runs.length - 1]?.more === true && runs.length < 10) runs.push(await purgeExpired(deps, silentLogger, options, later));
    // Each notification: its delivery rows and its record.
    expect(runs.map((r) => r.rows)).toEqual([200, 200, 450 - 400 + 1 + 5 + 1]);
    expect(runs.reduce((sum, r) => sum + r.purged, 0)).toBe(2);
    expect(await rowsOf(big)).toBe(0);
    expect(await rowsOf(small)).toBe(0);
  });

  it('goes on where the last run stopped: more kept notifications than a run looks at cannot hide an expired one behind them', async () => {
    const now = Date.now();
    // Eight unfinished notifications, older than the finished one: the first in the purge's order.
    const stuck: string[] = [];
    for (let i = 0; i < 8; i += 1) stuck.push(await notification(1, { createdAt: now - 60_000 + i, settled: false }));
    const done = await notification(2, { createdAt: now });
    const options = { ...RETENTION, maxNotificationsPerRun: 3, pageSize: 2 };
    const later = now + 31 * DAY;

    const runs = [];
    while ((await notifications.get(done)) !== undefined && runs.length < 5) runs.push(await purgeExpired(deps, silentLogger, options, later));
    // Three runs of three: 3 kept, 3 kept, 2 kept and the finished one purged.
    expect(runs.map((r) => [r.kept, r.purged])).toEqual([
      [3, 0],
      [3, 0],
      [2, 1],
    ]);
    expect(await rowsOf(done)).toBe(0);
    // A lap is complete: the next run starts from the oldest again.
    expect(await purgeExpired(deps, silentLogger, options, later)).toMatchObject({ kept: 3, purged: 0, more: true });
    expect(await notifications.get(stuck[0] as string)).toBeDefined();
  });

  it('wraps around: a notification that finished behind the cursor is purged on the next lap', async () => {
    const now = Date.now();
    const first = await notification(1, { createdAt: now - 60_000, settled: false });
    for (let i = 1; i < 5; i += 1) await notification(1, { createdAt: now - 60_000 + i, settled: false });
    const options = { ...RETENTION, maxNotificationsPerRun: 3 };
    const later = now + 31 * DAY;
    expect(await purgeExpired(deps, silentLogger, options, later)).toMatchObject({ kept: 3, more: true });
    // The oldest finishes now, behind where the run stopped.
    await notifications.markCancelled(first, new Date().toISOString());
    // Next: the two after the cursor, then from the start again, up to where the lap began.
    expect(await purgeExpired(deps, silentLogger, options, later)).toMatchObject({ kept: 2, purged: 1 });
    expect(await notifications.get(first)).toBeUndefined();
  });

  it('RETENTION_DAYS shorter than SEND_AT_HORIZON_DAYS: a scheduled notification, pending or cancelled, stays until its sendAt plus the retention', async () => {
    const now = Date.now();
    const short = retentionOptions(1);
    const pending = await notification(1, { sendAt: now + 5 * DAY, settled: false });
    const cancelled = await notification(1, { sendAt: now + 5 * DAY });
    await notifications.markCancelled(cancelled, new Date(now).toISOString());
    // Created 3 and 5.5 days ago with a 1-day retention, but not sent yet or just sent: both kept, neither "abandoned".
    expect(await purgeExpired(deps, silentLogger, short, now + 3 * DAY)).toMatchObject({ purged: 0, kept: 2 });
    expect(await purgeExpired(deps, silentLogger, short, now + 5.5 * DAY)).toMatchObject({ purged: 0, kept: 2 });
    expect(await notifications.get(pending)).toBeDefined();
    // A day after its send time the cancelled one goes; the pending one is the sweeper's until twice the retention.
    expect(await purgeExpired(deps, silentLogger, short, now + 6.5 * DAY)).toMatchObject({ purged: 1, kept: 1 });
    expect(await notifications.get(cancelled)).toBeUndefined();
    expect(await notifications.get(pending)).toBeDefined();
  });

  it('the orphan-key scan goes on where it stopped too: kept notifications\' keys cannot hide an orphan behind them', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `scope:cursor-${i}`).sort((a, b) => (tableKey(a) < tableKey(b) ? -1 : 1));
    // The orphan sorts last; the six before it belong to notifications that are still unfinished.
    const orphan = keys.pop() as string;
    await notifications.claimIdempotencyKey(orphan, newNotificationId(), 'hash');
    for (const key of keys) {
      const live = await notification(1, { createdAt: Date.now() + 40 * DAY, settled: false, idempotencyKey: key });
      await notifications.claimIdempotencyKey(key, live, 'hash');
    }
    const options = { ...RETENTION, maxKeysPerRun: 3 };
    const later = Date.now() + 31 * DAY;
    const dropped = [];
    for (let run = 0; run < 3; run += 1) dropped.push((await purgeExpired(deps, silentLogger, options, later)).orphanKeys);
    expect(dropped).toEqual([0, 0, 1]);
    expect(await notifications.findIdempotencyKey(orphan)).toBeUndefined();
    for (const key of keys) expect(await notifications.findIdempotencyKey(key)).toBeDefined();
  });

  it('drops an Idempotency-Key whose notification was never written (the accept died in between); keys of live notifications stay', async () => {
    await notifications.claimIdempotencyKey('scope:orphan', newNotificationId(), 'hash');
    const live = await notification(1, { createdAt: Date.now() + 40 * DAY, settled: false, idempotencyKey: 'scope:live' });
    await notifications.claimIdempotencyKey('scope:live', live, 'hash');
    // Within the retention, nothing is dropped: the accept that claimed it may still be running.
    expect(await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 29 * DAY)).toMatchObject({ orphanKeys: 0 });
    expect(await notifications.findIdempotencyKey('scope:orphan')).toBeDefined();
    expect(await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 31 * DAY)).toMatchObject({ orphanKeys: 1, purged: 0 });
    expect(await notifications.findIdempotencyKey('scope:orphan')).toBeUndefined();
    expect(await notifications.findIdempotencyKey('scope:live')).toBe(live);
  });

  it('after the purge the same Idempotency-Key is a new request: a new notification, not a replay', async () => {
    const queue = new HeldQueue();
    const accept = { notifications, deliveries, queue, recipientLists };
    const request: NotificationRequest = { recipients: [{ type: 'user', aadObjectId: 'again' }], message: { text: 'same body' } };
    const first = await acceptNotification(request, 'scope:deploy-42', accept);
    if (first.kind !== 'accepted') throw new Error('not accepted');
    expect((await acceptNotification(request, 'scope:deploy-42', accept)) as unknown).toMatchObject({ id: first.id, replayed: true });
    await notifications.markCancelled(first.id, new Date().toISOString());

    expect(await purgeExpired(deps, silentLogger, RETENTION, Date.now() + 31 * DAY)).toMatchObject({ purged: 1 });
    const again = await acceptNotification(request, 'scope:deploy-42', accept);
    expect(again).toMatchObject({ kind: 'accepted', replayed: false });
    expect(again.kind === 'accepted' ? again.id : first.id).not.toBe(first.id);
  });
});
