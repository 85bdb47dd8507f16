import { createHash } from 'node:crypto';
import type { AmendItem, AmendSliceJob } from '../domain/job';
import type { DeliveryRecord, NotificationRecord } from '../domain/notification';
import type { FailureReason } from '../domain/outcome';
import type { Logger } from '../logger';
import { renderMessage } from '../messages/renderMessage';
import { throttleDelayMs, transientDelayMs } from '../delivery/backoff';
import type { DeliveryDependencies, JobResult } from '../delivery/settlement';
import { EARLY_LIMIT_MS, SLICE_LEAD_MS } from '../planning/planTargets';
import type { ChangeOutcome } from '../teams/teamsSender';
import { needsChange } from './amendPass';
import { sentMessageOf, type SentMessage } from './sentMessage';

/** What one item came to, tallied per slice for the log. */
type ItemResult = 'edited' | 'recalled' | 'up-to-date' | 'not-delivered' | 'held' | 'retry' | 'failed';

/**
 * Edits or deletes, recipient by recipient at their planned times, the messages a notification
 * sent. An edit always puts the notification's *current* message in place (read when the slice
 * starts), never the version that asked for the pass, and skips a row that has it already; each
 * row is claimed while it is changed. So two quick edits end with the newest everywhere, whichever
 * pass runs last. 429s pause and slow the tenant as sends do; failures are recorded on the row
 * (`editFailure`, `recallFailure`), which keeps its delivered status.
 */
export class AmendSlice {
  constructor(private readonly deps: DeliveryDependencies) {}

  async run(job: AmendSliceJob, log: Logger): Promise<JobResult> {
    // Fresh, not cached: the version to put in place is the newest.
    const notification = await this.deps.notifications.get(job.notificationId);
    if (notification === undefined) return { kind: 'ignored', why: 'the notification does not exist' };
    const results: Record<string, number> = {};
    for (const item of job.items) {
      const result = await this.item(job, item, notification, log);
      results[result] = (results[result] ?? 0) + 1;
      if (result === 'edited' || result === 'recalled' || result === 'failed') this.deps.metrics.amendedMessage(job.action, result === 'failed' ? 'failed' : 'done', job.tenantId);
    }
    return { kind: 'sliced', sends: job.items.length, results };
  }

  private async item(job: AmendSliceJob, item: AmendItem, notification: NotificationRecord, log: Logger): Promise<ItemResult> {
    const { deliveries, conversations, options } = this.deps;
    const found = await deliveries.get(job.notificationId, item.recipientKey);
    if (found === undefined || found.status !== 'delivered' || found.activityId === undefined) return 'not-delivered';
    // An edit after the recall has nothing left to edit.
    if (job.action === 'edit' && notification.recalledAt !== undefined) return 'not-delivered';
    if (!needsChange(found, job, notification)) return 'up-to-date';
    if (found.leaseUntil !== undefined && Date.parse(found.leaseUntil) > Date.now()) {
      await this.again(job, { ...item, at: Date.now() + 2_000 }, 'held');
      return 'held';
    }
    const claim = await deliveries.update(found, { leaseUntil: new Date(Date.now() + options.leaseMs).toISOString() });
    if (claim.kind === 'stale') {
      await this.again(job, { ...item, at: Date.now() + 1_000 }, 'held');
      return 'held';
    }
    let row = claim.row;
    const sent = await sentMessageOf(row, conversations);
    if (sent === undefined) return this.failed(job, row, 'not-installed', 'the references no longer say where this message is', log);
    try {
      const paused = this.deps.budget.pausedFor(job.tenantId);
      const due = await this.deps.pacer.dueAt(job.tenantId, item.at);
      if (paused > options.maxInlineWaitMs || due - Date.now() > EARLY_LIMIT_MS) {
        // Teams asked the tenant to wait, or its timeline slowed: hand the row back rather than hold
        // it (and the worker) through the wait; the claim would run out before the change went out.
        await this.again(job, { ...item, at: Math.max(due, Date.now() + paused) }, 'paused');
        await deliveries.update(row, { leaseUntil: '' });
        return 'retry';
      }
      await this.deps.budget.wait(due - Date.now());
      await this.deps.budget.take(job.tenantId);
      // Still ours right before the change goes out (a newer edit's item may have taken it): else stop.
      const renewed = await deliveries.update(row, { leaseUntil: new Date(Date.now() + options.leaseMs).toISOString() });
      if (renewed.kind === 'stale') return 'held';
      row = renewed.row;
      const outcome = await this.change(job, sent, notification);
      return await this.settle(job, item, row, outcome, notification, log);
    } catch (error) {
      await deliveries.update(row, { leaseUntil: '' }).catch(() => undefined);
      throw error;
    }
  }

  private change(job: AmendSliceJob, sent: SentMessage, notification: NotificationRecord): Promise<ChangeOutcome> {
    if (job.action === 'recall') return this.deps.sender.deleteMessage(sent.to, sent.activityId);
    const message = renderMessage(notification.message, { appName: this.deps.options.appName, landsIn: sent.landsIn });
    return this.deps.sender.updateMessage(sent.to, sent.activityId, message);
  }

  private async settle(job: AmendSliceJob, item: AmendItem, row: DeliveryRecord, outcome: ChangeOutcome, notification: NotificationRecord, log: Logger): Promise<ItemResult> {
    const { deliveries, options, budget, pacer } = this.deps;
    switch (outcome.kind) {
      case 'changed':
        if (job.action === 'recall') {
          await deliveries.update(row, { status: 'recalled', recallFailure: null, leaseUntil: '' });
          return 'recalled';
        }
        await deliveries.update(row, { version: notification.messageVersion ?? 1, editFailure: null, leaseUntil: '' });
        return 'edited';
      case 'throttled': {
        const retryAfterMs = outcome.retryAfterMs === undefined ? undefined : Math.min(outcome.retryAfterMs, options.maxRetryAfterMs);
        const delayMs = throttleDelayMs(retryAfterMs, item.throttled, options.backoff, options.random);
        budget.pause(job.tenantId, retryAfterMs ?? delayMs);
        await pacer.throttled(job.tenantId, retryAfterMs ?? delayMs);
        if (item.throttled + 1 > options.maxThrottles) return this.failed(job, row, 'retries-exhausted', `throttled ${item.throttled + 1} times: ${outcome.detail}`, log);
        await this.again(job, { ...item, throttled: item.throttled + 1, at: await pacer.reserveOne(job.tenantId, Date.now() + delayMs) }, 'retry');
        await deliveries.update(row, { leaseUntil: '' });
        return 'retry';
      }
      case 'transient': {
        if (item.attempt + 1 >= options.maxAttempts) return this.failed(job, row, 'retries-exhausted', `${item.attempt + 1} attempts failed; last: ${outcome.detail}`, log);
        const delayMs = transientDelayMs(item.attempt, options.backoff, options.random);
        await this.again(job, { ...item, attempt: item.attempt + 1, at: await pacer.reserveOne(job.tenantId, Date.now() + delayMs) }, 'retry');
        await deliveries.update(row, { leaseUntil: '' });
        return 'retry';
      }
      case 'conversation-not-found':
        // Teams no longer has the message (the chat or the post is gone): for a recall, that is the
        // outcome wanted; an edit has nothing left to change.
        if (job.action === 'recall') {
          await deliveries.update(row, { status: 'recalled', recallFailure: null, detail: `Teams no longer had the message: ${outcome.detail}`, leaseUntil: '' });
          return 'recalled';
        }
        return this.failed(job, row, outcome.kind, outcome.detail, log);
      default:
        return this.failed(job, row, outcome.kind, outcome.detail, log);
    }
  }

  private async failed(job: AmendSliceJob, row: DeliveryRecord, reason: FailureReason, detail: string, log: Logger): Promise<ItemResult> {
    const failure = { reason, detail };
    await this.deps.deliveries.update(row, job.action === 'edit' ? { editFailure: failure, leaseUntil: '' } : { recallFailure: failure, leaseUntil: '' });
    log.warn(`${job.action} failed (${reason}): ${detail}`, { notificationId: row.notificationId, jobKind: job.kind, outcome: 'failed', reason, recipient: row.recipientKey });
    return 'failed';
  }

  /** The item alone, again later: a slice of its own, with an id of its own. */
  private async again(job: AmendSliceJob, item: AmendItem, why: string): Promise<void> {
    const id = createHash('sha256').update(`${job.sliceId}\n${item.recipientKey}\n${item.attempt}:${item.throttled}:${item.at}:${why}`).digest('base64url').slice(0, 32);
    const next: AmendSliceJob = { ...job, sliceId: `${job.sliceId.slice(0, 120)}/${id}`, items: [item], hop: 0, faults: 0 };
    await this.deps.queue.enqueue([{ job: next, notBefore: new Date(Math.max(item.at - SLICE_LEAD_MS, Date.now() + 1_000)) }]);
  }
}
