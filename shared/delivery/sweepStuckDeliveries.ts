import { firstJob } from '../domain/job';
import type { Logger } from '../logger';
import type { JobQueue } from '../queue/jobQueue';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';

export interface SweepOptions {
  /** A pending recipient nobody has touched for this long, past its send time, is stuck. */
  readonly staleMs: number;
  /** How far back to look for notifications with stuck recipients. */
  readonly lookbackMs: number;
  /** Re-queues without progress before the recipient is failed instead. */
  readonly maxSweeps: number;
}

/**
 * Two hours without a touch: long enough that a recipient waiting in a big send's backlog (180,000
 * an hour per tenant at most) is rarely re-queued, and a re-queue is harmless anyway (the job finds
 * the row settled). Twelve re-queues without progress, a day, before a recipient is failed.
 */
export const DEFAULT_SWEEP_OPTIONS: SweepOptions = { staleMs: 2 * 3600_000, lookbackMs: 14 * 24 * 3600_000, maxSweeps: 12 };

export interface SweepResult {
  readonly notifications: number;
  readonly requeued: number;
  readonly failed: number;
}

/**
 * The safety net behind "no recipient ends in silence". A recipient can be left pending with no
 * job on the queue when our own storage was down on a job's last delivery (Service Bus then
 * dead-letters it), or when the process died while accepting a request sent without an
 * Idempotency-Key. Every pending recipient past its send time, unclaimed and untouched for
 * `staleMs`, gets its job re-queued; after `maxSweeps` re-queues without progress it ends
 * `failed` / `retries-exhausted`. Delivery rows keep this idempotent: a recipient that was in
 * fact delivered meanwhile is not sent again.
 */
export async function sweepStuckDeliveries(
  deps: { readonly notifications: NotificationStore; readonly deliveries: DeliveryStore; readonly queue: JobQueue },
  log: Logger,
  options: SweepOptions = DEFAULT_SWEEP_OPTIONS,
  now = Date.now(),
): Promise<SweepResult> {
  let notifications = 0;
  let requeued = 0;
  let failed = 0;
  const stale = now - options.staleMs;
  for await (const record of deps.notifications.createdSince(new Date(now - options.lookbackMs).toISOString())) {
    if (record.cancelled === true) continue;
    if (Date.parse(record.sendAt ?? record.createdAt) > stale) continue;
    let touched = false;
    for await (const row of deps.deliveries.pending(record.id)) {
      if (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > now) continue;
      if (Date.parse(row.updatedAt) > stale) continue;
      const sweeps = row.sweeps ?? 0;
      if (sweeps >= options.maxSweeps) {
        const ended = await deps.deliveries.update(row, {
          status: 'failed',
          reason: 'retries-exhausted',
          detail: `no progress after ${sweeps} re-queues by the sweeper`,
          leaseUntil: '',
        });
        if (ended.kind === 'updated') failed += 1;
      } else {
        // A hop of its own, so Service Bus duplicate detection does not drop the re-queued job.
        const job = { ...firstJob(record.id, row.recipientKey, row.recipient), hop: 1_000_000 + sweeps };
        await deps.queue.enqueue([{ job }]);
        const marked = await deps.deliveries.update(row, { sweeps: sweeps + 1, detail: 're-queued: no progress for a while' });
        if (marked.kind === 'updated') requeued += 1;
      }
      touched = true;
    }
    if (touched) notifications += 1;
  }
  if (requeued + failed > 0) log.warn(`sweeper: re-queued ${requeued} and failed ${failed} stuck recipients in ${notifications} notifications`);
  return { notifications, requeued, failed };
}
