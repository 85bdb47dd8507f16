import type { NotificationRecord } from '../domain/notification';
import type { Logger } from '../logger';
import type { DeliveryStore, SentMessage } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { Page } from '../stores/page';
import type { RecipientListStore } from '../stores/recipientListStore';

const DAY_MS = 24 * 3600_000;

export interface RetentionOptions {
  /** How long a notification is kept after it was created, or after its `sendAt` when that is later. */
  readonly retentionMs: number;
  /** Table rows one run deletes at most (deliveries, the record's own rows); the next run goes on. */
  readonly maxRowsPerRun: number;
  /** Notifications one run looks at at most, purged or kept; the next run goes on after them. */
  readonly maxNotificationsPerRun: number;
  /** Records read per page. */
  readonly pageSize: number;
  /** Old Idempotency-Key rows one run looks at, for those whose notification never came. */
  readonly maxKeysPerRun: number;
}

export function retentionOptions(retentionDays: number): RetentionOptions {
  return { retentionMs: retentionDays * DAY_MS, maxRowsPerRun: 20_000, maxNotificationsPerRun: 1_000, pageSize: 100, maxKeysPerRun: 500 };
}

export interface PurgeResult {
  /** Notifications gone entirely, with all their rows. */
  readonly purged: number;
  /** Rows deleted, records included. */
  readonly rows: number;
  /** Old enough but kept: not finished, and not yet twice the retention old. */
  readonly kept: number;
  /** Idempotency-Keys whose notification was never written (its accept died before the record). */
  readonly orphanKeys: number;
  /** The run stopped at its bounds: the next one continues. */
  readonly more: boolean;
}

export interface PurgeDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly recipientLists: RecipientListStore;
  readonly receipts: { forget(sent: readonly SentMessage[]): Promise<void> };
}

/**
 * Retention (`RETENTION_DAYS`): a finished notification (completed, cancelled or recalled) older
 * than the retention goes, with everything kept for it: its delivery rows, the read-receipt index
 * rows of its unread personal-chat messages, its recipient-list blob, its audience rows, its
 * index row and its Idempotency-Key. Age counts from `sendAt` when that is later than the creation,
 * so a scheduled notification is never purged before its send time, whatever `RETENTION_DAYS`
 * and `SEND_AT_HORIZON_DAYS` are.
 *
 * An unfinished one is left to the sweeper, which ends every stuck recipient within about a day;
 * one still unfinished at twice the retention can never finish (its planning was lost, say) and
 * goes too, with a warning.
 *
 * Bounded: a run deletes at most `maxRowsPerRun` rows and looks at `maxNotificationsPerRun`
 * notifications (kept ones count); a notification cut short is marked purging and finished later.
 * A run stopped at its bounds leaves a cursor (a row in the notifications table), and the next run
 * goes on after the last notification it looked at, wrapping around to the oldest at the end: any
 * number of kept notifications cannot hide an expired one for more than a lap. The orphan-key scan
 * keeps a cursor the same way. From the first step, `GET` answers 404 and the Idempotency-Key is
 * free: the same key again is a new request.
 */
export async function purgeExpired(deps: PurgeDependencies, log: Logger, options: RetentionOptions, now = Date.now()): Promise<PurgeResult> {
  const before = new Date(now - options.retentionMs).toISOString();
  const cursor = await deps.notifications.retentionCursor();
  const keys = await dropOrphanKeys(deps.notifications, before, cursor.keysAfter, options);
  const run = await purgeNotifications(deps, log, options, now, cursor.notificationsAfter);
  await deps.notifications.setRetentionCursor({
    ...(run.resumeAfter !== undefined && { notificationsAfter: run.resumeAfter }),
    ...(keys.resumeAfter !== undefined && { keysAfter: keys.resumeAfter }),
  });
  const result: PurgeResult = { purged: run.purged, rows: run.rows, kept: run.kept, orphanKeys: keys.dropped, more: run.more };
  if (result.purged > 0 || result.more) log.log(`retention: purged ${result.purged} notifications (${result.rows} rows), kept ${result.kept} unfinished${result.more ? '; more next run' : ''}`, { count: result.purged });
  return result;
}

interface NotificationsRun {
  readonly purged: number;
  readonly rows: number;
  readonly kept: number;
  readonly more: boolean;
  /** Where the next run goes on: after the last notification this one was done with; undefined once a lap is complete. */
  readonly resumeAfter: string | undefined;
}

async function purgeNotifications(deps: PurgeDependencies, log: Logger, options: RetentionOptions, now: number, from: string | undefined): Promise<NotificationsRun> {
  const cutoff = now - options.retentionMs;
  const lastChance = now - 2 * options.retentionMs;
  const before = new Date(cutoff).toISOString();
  let budget = options.maxRowsPerRun;
  let looked = 0;
  let purged = 0;
  let kept = 0;
  // A notification cut short is not done with: the next run starts at it again.
  let done = from;
  const candidates = wrapAround(from, (after, token) => deps.notifications.createdBefore(before, token, options.pageSize, after), (c) => c.record.id);
  for await (const { record, purging } of candidates) {
    if (budget <= 0 || looked >= options.maxNotificationsPerRun) return finish(true);
    looked += 1;
    if (!purging) {
      const verdict = await judge(record, deps.deliveries, cutoff, lastChance);
      if (verdict === 'keep') {
        kept += 1;
        done = record.id;
        continue;
      }
      if (verdict === 'abandoned') log.warn('retention: a notification never finished; purged at twice the retention', { notificationId: record.id, outcome: 'purged', reason: 'abandoned' });
    }
    // The key first, while it still names this notification; then the record leaves the API.
    if (record.idempotencyKey !== undefined) await deps.notifications.releaseIdempotencyKeyOf(record.idempotencyKey, record.id);
    if (!purging) await deps.notifications.markPurging(record.id);
    const rows = await deps.deliveries.deleteSome(record.id, budget, (sent) => deps.receipts.forget(sent));
    const allowance = budget;
    budget -= rows;
    if (rows >= allowance) return finish(true);
    await deps.recipientLists.delete(record.id);
    const own = await deps.notifications.purgeRows(record.id, budget);
    budget -= own.deleted;
    if (!own.done) return finish(true);
    purged += 1;
    done = record.id;
  }
  return finish(false);

  function finish(more: boolean): NotificationsRun {
    return { purged, rows: options.maxRowsPerRun - budget, kept, more, resumeAfter: more ? done : undefined };
  }
}

/**
 * The items after `from`, then, from the start again, those up to `from`: one lap, begun where
 * the last run stopped. The caller stops early at its bounds.
 */
async function* wrapAround<T>(from: string | undefined, read: (after: string | undefined, token: string | undefined) => Promise<Page<T>>, keyOf: (item: T) => string): AsyncGenerator<T> {
  let token: string | undefined;
  do {
    const page = await read(from, token);
    yield* page.items;
    token = page.continuationToken;
  } while (token !== undefined);
  if (from === undefined) return;
  do {
    const page = await read(undefined, token);
    for (const item of page.items) {
      if (keyOf(item) > from) return;
      yield item;
    }
    token = page.continuationToken;
  } while (token !== undefined);
}

/**
 * Idempotency-Key rows older than the retention whose notification does not exist: the accept
 * died between claiming the key and writing the record, and its undo never ran. Keys of
 * notifications that exist go with their notification. `maxKeysPerRun` looked at at most, going
 * on where the last run stopped.
 */
async function dropOrphanKeys(notifications: NotificationStore, before: string, from: string | undefined, options: RetentionOptions): Promise<{ readonly dropped: number; readonly resumeAfter: string | undefined }> {
  let dropped = 0;
  let looked = 0;
  let last = from;
  const rows = wrapAround(from, (after, token) => notifications.idempotencyKeysBefore(before, token, Math.min(options.pageSize, options.maxKeysPerRun), after), (row) => row.partitionKey);
  for await (const row of rows) {
    if (looked >= options.maxKeysPerRun) return { dropped, resumeAfter: last };
    looked += 1;
    if ((await notifications.get(row.notificationId)) === undefined) {
      await notifications.dropIdempotencyRow(row);
      dropped += 1;
    }
    last = row.partitionKey;
  }
  return { dropped, resumeAfter: undefined };
}

type Verdict = 'purge' | 'abandoned' | 'keep';

async function judge(record: NotificationRecord, deliveries: DeliveryStore, cutoff: number, lastChance: number): Promise<Verdict> {
  const age = Math.max(Date.parse(record.createdAt), record.sendAt !== undefined ? Date.parse(record.sendAt) : 0);
  if (age >= cutoff) return 'keep';
  const finished = record.cancelled === true || record.recalledAt !== undefined || (record.planning !== true && !(await deliveries.hasPending(record.id)));
  if (finished) return 'purge';
  return age < lastChance ? 'abandoned' : 'keep';
}
