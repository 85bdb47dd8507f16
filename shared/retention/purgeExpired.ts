import type { NotificationRecord } from '../domain/notification';
import type { Logger } from '../logger';
import type { DeliveryStore, SentMessage } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { RecipientListStore } from '../stores/recipientListStore';

const DAY_MS = 24 * 3600_000;

export interface RetentionOptions {
  /** How long a notification is kept after it was created, or after its `sendAt` when that is later. */
  readonly retentionMs: number;
  /** Table rows one run deletes at most (deliveries, the record's own rows); the next run goes on. */
  readonly maxRowsPerRun: number;
  /** Notifications one run looks at at most, purged or kept. */
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
 * index row and its Idempotency-Key. Age counts from `sendAt` when that is later than the creation.
 *
 * An unfinished one is left to the sweeper, which ends every stuck recipient within about a day;
 * one still unfinished at twice the retention can never finish (its planning was lost, say) and
 * goes too, with a warning.
 *
 * Bounded: a run deletes at most `maxRowsPerRun` rows and looks at `maxNotificationsPerRun`
 * notifications, oldest first; a notification cut short is marked purging and finished by the next
 * run. From the first step, `GET` answers 404 and the Idempotency-Key is free: the same key again
 * is a new request.
 */
export async function purgeExpired(deps: PurgeDependencies, log: Logger, options: RetentionOptions, now = Date.now()): Promise<PurgeResult> {
  const cutoff = now - options.retentionMs;
  const lastChance = now - 2 * options.retentionMs;
  let budget = options.maxRowsPerRun;
  let looked = 0;
  let purged = 0;
  let kept = 0;
  const orphanKeys = await dropOrphanKeys(deps.notifications, new Date(cutoff).toISOString(), options);
  let token: string | undefined;
  for (;;) {
    const page = await deps.notifications.createdBefore(new Date(cutoff).toISOString(), token, options.pageSize);
    for (const { record, purging } of page.items) {
      if (budget <= 0 || looked >= options.maxNotificationsPerRun) return finish(true);
      looked += 1;
      if (!purging) {
        const verdict = await judge(record, deps.deliveries, cutoff, lastChance);
        if (verdict === 'keep') {
          kept += 1;
          continue;
        }
        if (verdict === 'abandoned') log.warn(`retention: notification ${record.id} never finished; purged at twice the retention`);
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
    }
    token = page.continuationToken;
    if (token === undefined) return finish(false);
  }

  function finish(more: boolean): PurgeResult {
    const result = { purged, rows: options.maxRowsPerRun - budget, kept, orphanKeys, more };
    if (purged > 0 || more) log.log(`retention: purged ${purged} notifications (${result.rows} rows), kept ${kept} unfinished${more ? '; more next run' : ''}`);
    return result;
  }
}

/**
 * Idempotency-Key rows older than the retention whose notification does not exist: the accept
 * died between claiming the key and writing the record, and its undo never ran. Keys of
 * notifications that exist go with their notification. Oldest pages first, `maxKeysPerRun` at most.
 */
async function dropOrphanKeys(notifications: NotificationStore, before: string, options: RetentionOptions): Promise<number> {
  let dropped = 0;
  let looked = 0;
  let token: string | undefined;
  do {
    const page = await notifications.idempotencyKeysBefore(before, token, Math.min(options.pageSize, options.maxKeysPerRun - looked));
    for (const row of page.items) {
      looked += 1;
      if ((await notifications.get(row.notificationId)) !== undefined) continue;
      await notifications.dropIdempotencyRow(row);
      dropped += 1;
    }
    token = page.continuationToken;
  } while (token !== undefined && looked < options.maxKeysPerRun);
  return dropped;
}

type Verdict = 'purge' | 'abandoned' | 'keep';

async function judge(record: NotificationRecord, deliveries: DeliveryStore, cutoff: number, lastChance: number): Promise<Verdict> {
  const age = Math.max(Date.parse(record.createdAt), record.sendAt !== undefined ? Date.parse(record.sendAt) : 0);
  if (age >= cutoff) return 'keep';
  const finished = record.cancelled === true || record.recalledAt !== undefined || (record.planning !== true && !(await deliveries.hasPending(record.id)));
  if (finished) return 'purge';
  return age < lastChance ? 'abandoned' : 'keep';
}
