import type { RetryJob } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import type { FailureReason } from '../domain/outcome';
import type { DeliveryDependencies, JobResult } from '../delivery/settlement';
import { PLAN_AHEAD_MS } from './planRequest';
import { planTargets, type PlanTarget } from './planTargets';
import type { QueuedJob } from '../queue/jobQueue';
import { isFanOut } from '../domain/recipient';
import { reopenDelivery } from '../stores/reopenDelivery';

/** Rows read per retry job. */
const RETRY_PAGE_SIZE = 100;

/**
 * Reasons that can change, so a resend may succeed: the retries ran out (Teams or storage was
 * down), the app was reinstalled, consent was granted, or the notification was given a new
 * `expiresAt`. Never a block, an opt-out, a rejection, or someone not found.
 */
export const RETRYABLE_REASONS: ReadonlySet<FailureReason> = new Set(['retries-exhausted', 'not-installed', 'install-not-permitted', 'expired']);

/**
 * `POST .../retry`, a page per job: each recipient that ended failed for a reason that can change
 * is reopened (pending again, under its row's ETag, so a row two copies of the job see is
 * reopened once) and planned again on its tenant's timeline, like a first send. Delivered,
 * skipped and still-pending recipients are never touched, so nobody gets the message twice.
 */
export class RetryFailed {
  constructor(private readonly deps: DeliveryDependencies) {}

  async run(job: RetryJob, cached: NotificationRecord): Promise<JobResult> {
    const { deliveries, queue } = this.deps;
    // Fresh: the request may have just given the notification a new expiresAt.
    const notification = (await this.deps.notifications.get(job.notificationId)) ?? cached;
    if (notification.cancelled === true) return { kind: 'ignored', why: 'the notification was cancelled' };
    // Each page puts the notification back in the sweeper's index before it reopens rows: a sweep
    // that found it finished between two pages took it out (the rewrite defeats one in progress).
    await this.deps.notifications.markUnfinished(notification);
    const page = await deliveries.list(job.notificationId, job.continuationToken, RETRY_PAGE_SIZE);
    const expired = notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= Date.now();
    const targets: PlanTarget[] = [];
    for (const row of page.items) {
      // A copy of a page that failed part-way: rows it reopened are pending now, and planned again
      // (a row lets one send through, whichever of its slices comes first).
      if ((job.faults ?? 0) > 0 && row.status === 'pending' && (row.leaseUntil === undefined || Date.parse(row.leaseUntil) <= Date.now()) && !isFanOut(row.recipient)) {
        targets.push({ recipientKey: row.recipientKey, recipient: row.recipient, ...(row.fromKey !== undefined && { fromKey: row.fromKey }) });
        continue;
      }
      if (row.status !== 'failed' || row.reason === undefined || !RETRYABLE_REASONS.has(row.reason) || isFanOut(row.recipient)) continue;
      if (row.reason === 'expired' && expired) continue;
      const reopened = await reopenDelivery(deliveries, row);
      if (reopened.kind === 'stale') continue;
      targets.push({ recipientKey: row.recipientKey, recipient: row.recipient, ...(row.fromKey !== undefined && { fromKey: row.fromKey }) });
    }
    const planned = await planTargets(notification, targets, `retry:${job.round}@${job.page}`, this.deps);
    const jobs: QueuedJob[] = [...planned.slices];
    if (page.continuationToken !== undefined) {
      const waitMs = planned.backlogMs - PLAN_AHEAD_MS;
      jobs.push({ job: { ...job, continuationToken: page.continuationToken, page: job.page + 1, hop: 0, faults: 0 }, ...(waitMs > 0 && { notBefore: new Date(Date.now() + waitMs) }) });
    }
    await queue.enqueue(jobs);
    return { kind: 'planned', recipients: targets.length, slices: planned.slices.length, more: page.continuationToken !== undefined };
  }
}
