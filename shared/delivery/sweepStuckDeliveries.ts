import { firstCancelPass } from '../cancelling/cancelPass';
import { firstJob } from '../domain/job';
import type { Logger } from '../logger';
import type { JobQueue } from '../queue/jobQueue';
import type { DeliveryMetrics } from '../telemetry/deliveryMetrics';
import { recipientTenant } from '../domain/recipient';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore, UnfinishedEntry } from '../stores/notificationStore';

export interface SweepOptions {
  /** A pending recipient nobody has touched for this long, past its send time, is stuck. */
  readonly staleMs: number;
  /** Re-queues without progress before the recipient is failed instead. */
  readonly maxSweeps: number;
  /** Entries of the unfinished index read per page. */
  readonly pageSize: number;
}

/**
 * Two hours without a touch: long enough that a recipient waiting in a big send's backlog (180,000
 * an hour per tenant at most) is rarely re-queued, and a re-queue is harmless anyway (the job finds
 * the row settled). Twelve re-queues without progress, a day, before a recipient is failed.
 */
export const DEFAULT_SWEEP_OPTIONS: SweepOptions = { staleMs: 2 * 3600_000, maxSweeps: 12, pageSize: 100 };

export interface SweepResult {
  readonly notifications: number;
  readonly requeued: number;
  readonly failed: number;
  /** Notifications found finished (or gone) and taken out of the unfinished index. */
  readonly finished: number;
}

type SweepDependencies = { readonly notifications: NotificationStore; readonly deliveries: DeliveryStore; readonly queue: JobQueue; readonly metrics: DeliveryMetrics };

/**
 * The safety net behind "no recipient ends in silence". A recipient can be left pending with no
 * job on the queue when our own storage was down on a job's last delivery (Service Bus then
 * dead-letters it), or when the process died while accepting a request sent without an
 * Idempotency-Key. Every pending recipient past its send time, unclaimed and untouched for
 * `staleMs`, gets its job re-queued; after `maxSweeps` re-queues without progress it ends
 * `failed` / `retries-exhausted`. Delivery rows keep this idempotent: a recipient that was in
 * fact delivered meanwhile is not sent again.
 *
 * It reads the index of unfinished notifications, page by page, never a range of dates: a send
 * scheduled any distance ahead stays covered, and the work follows what is open, not the history.
 * A notification found finished (completed, or cancelled with nothing pending) leaves the index;
 * so does an index row older than `staleMs` whose record is gone (a crash while accepting). A
 * cancelled one with stuck rows gets a cancel pass again, and one cancelled while still planning
 * gets the pass that gives its remaining entries rows born skipped.
 */
export async function sweepStuckDeliveries(deps: SweepDependencies, log: Logger, options: SweepOptions = DEFAULT_SWEEP_OPTIONS, now = Date.now()): Promise<SweepResult> {
  const tally = { notifications: 0, requeued: 0, failed: 0, finished: 0 };
  let token: string | undefined;
  do {
    const page = await deps.notifications.unfinished(token, options.pageSize);
    for (const entry of page.items) await sweepOne(entry, deps, options, now, tally);
    token = page.continuationToken;
  } while (token !== undefined);
  if (tally.requeued + tally.failed > 0) log.warn(`sweeper: re-queued ${tally.requeued} and failed ${tally.failed} stuck recipients in ${tally.notifications} notifications`, { count: tally.requeued + tally.failed });
  return tally;
}

async function sweepOne(entry: UnfinishedEntry, deps: SweepDependencies, options: SweepOptions, now: number, tally: { notifications: number; requeued: number; failed: number; finished: number }): Promise<void> {
  const stale = now - options.staleMs;
  // Not due yet (or just accepted): nothing can be stuck, and nothing is read.
  if (Date.parse(entry.sendAt ?? entry.createdAt) > stale) return;
  const record = await deps.notifications.get(entry.id);
  if (record === undefined) {
    // Written ahead of a record that never came (the accept died, or was undone), or being purged.
    if (await deps.notifications.markFinished(entry.id, entry.etag)) tally.finished += 1;
    return;
  }
  if (record.cancelled === true && record.planning === true) {
    // Cancelled while planning, and no pass finished it (the DELETE died before queuing one, the
    // planner's job was lost): the entries pass gives every entry a row, then ends the pending ones.
    await deps.queue.enqueue([{ job: firstCancelPass(record.id, now, true) }]);
    tally.notifications += 1;
    return;
  }
  let touched = false;
  let pending = false;
  let cancelPassNeeded = false;
  for await (const row of deps.deliveries.pending(record.id)) {
    pending = true;
    if (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > now) continue;
    if (Date.parse(row.updatedAt) > stale) continue;
    if (record.cancelled === true) {
      // Its cancel pass died or was never queued: one pass ends them all.
      cancelPassNeeded = true;
      continue;
    }
    const sweeps = row.sweeps ?? 0;
    if (sweeps >= options.maxSweeps) {
      const ended = await deps.deliveries.update(row, {
        status: 'failed',
        reason: 'retries-exhausted',
        detail: `no progress after ${sweeps} re-queues by the sweeper`,
        leaseUntil: '',
      });
      if (ended.kind === 'updated') {
        tally.failed += 1;
        deps.metrics.ended({ status: 'failed', reason: 'retries-exhausted' }, recipientTenant(row.recipient));
      }
    } else {
      // A hop of its own, so Service Bus duplicate detection does not drop the re-queued job.
      const job = { ...firstJob(record.id, row.recipientKey, row.recipient), hop: 1_000_000 + sweeps };
      await deps.queue.enqueue([{ job }]);
      const marked = await deps.deliveries.update(row, { sweeps: sweeps + 1, detail: 're-queued: no progress for a while' });
      if (marked.kind === 'updated') tally.requeued += 1;
    }
    touched = true;
  }
  if (cancelPassNeeded) {
    // The sweep's time is the round: one such pass per sweep, not a duplicate of the DELETE's.
    await deps.queue.enqueue([{ job: firstCancelPass(record.id, now, false) }]);
    touched = true;
  }
  if (touched) tally.notifications += 1;
  // Finished: nothing pending and nothing more to plan. Under the entry's ETag, so a resend that
  // re-added the notification meanwhile keeps it.
  if (!pending && record.planning !== true && (await deps.notifications.markFinished(entry.id, entry.etag))) tally.finished += 1;
}
