import { parseJob, type Job } from '../domain/job';
import type { DeliveryRecord, NotificationRecord } from '../domain/notification';
import { withFields, type Logger } from '../logger';
import { bodyText, retryAfterFault } from '../queue/faultRetry';
import { FanOutExpansion } from '../planning/fanOutExpansion';
import { RequestPlanning } from '../planning/planRequest';
import { RecipientDelivery } from './recipientDelivery';
import { AmendPass } from '../amending/amendPass';
import { AmendSlice } from '../amending/amendSlice';
import { RetryFailed } from '../planning/retryFailed';
import { CancelPass } from '../cancelling/cancelPass';
import { CallbackDelivery, emitEvent } from '../callbacks/callbackDelivery';
import { recipientFailedEvent } from '../callbacks/callbackEvent';
import { SliceDelivery } from './sliceDelivery';
import { BudgetClosedError } from './sendBudget';
import { describeResult, Settlement, type DeliveryDependencies, type JobResult } from './settlement';
import { jobLogFields, jobSummary, resultLogFields } from '../telemetry/jobLog';
import type { Attributes, Span } from '@opentelemetry/api';
import { ATTRIBUTE, SPAN } from '../telemetry/names';
import { inSpan } from '../telemetry/tracing';

export { DEFAULT_DELIVERY_OPTIONS, type DeliveryDependencies, type DeliveryOptions, type JobResult } from './settlement';

/** How long a worker trusts a cached notification record (a cancel takes at most this to be seen). */
export const RECORD_CACHE_MS = 5_000;

/**
 * Handles one job from the delivery queue: the same code behind the Service Bus trigger in Azure
 * and the Azurite poller locally. It returns normally for everything it has dealt with, including
 * retries (the message is completed and a delayed copy enqueued), and throws only when even that
 * copy cannot be enqueued: then the queue's own redelivery is all that is left.
 */
export class DeliveryWorker {
  private readonly records = new Map<string, { record: NotificationRecord; readAt: number }>();
  private readonly recipients: RecipientDelivery;
  private readonly fanOuts: FanOutExpansion;
  private readonly planning: RequestPlanning;
  private readonly slices: SliceDelivery;
  private readonly settlement: Settlement;
  private readonly amendPasses: AmendPass;
  private readonly amendSlices: AmendSlice;
  private readonly retries: RetryFailed;
  private readonly cancels: CancelPass;
  private readonly callbacks: CallbackDelivery;

  constructor(private readonly deps: DeliveryDependencies) {
    this.recipients = new RecipientDelivery(deps);
    this.fanOuts = new FanOutExpansion(deps);
    this.planning = new RequestPlanning(deps);
    this.settlement = new Settlement(deps);
    this.slices = new SliceDelivery(deps, this.settlement);
    this.amendPasses = new AmendPass(deps);
    this.amendSlices = new AmendSlice(deps);
    this.retries = new RetryFailed(deps);
    this.cancels = new CancelPass(deps);
    this.callbacks = new CallbackDelivery({ ...deps, callbackWindowMs: deps.options.callbackWindowMs });
  }

  async handle(body: unknown, log: Logger): Promise<JobResult> {
    const parsed = parseJob(body);
    if (!parsed.ok) {
      await this.deps.queue.deadLetter({ body: bodyText(body), reason: 'invalid-job', description: parsed.reason });
      log.error(`dead-lettered a poison job: ${parsed.reason}`, { outcome: 'dead-lettered', reason: 'invalid-job' });
      return { kind: 'dead-lettered', reason: 'invalid-job', detail: parsed.reason };
    }
    const { job } = parsed;
    // The job continues the trace of whatever enqueued it: its notification's accept, plan or slice.
    // Internal, not a consumer span: in Azure the Functions host already records the invocation as a request.
    return inSpan(spanNameOf(job), jobSpanAttributes(job), async (span) => ended(span, await this.handleJob(job, body, log)), { parent: job.trace });
  }

  private async handleJob(job: Job, body: unknown, log: Logger): Promise<JobResult> {
    // Every line logged while the job runs names its notification, its kind and its recipient.
    const jobLog = withFields(log, jobLogFields(job));
    const began = Date.now();
    // A cancel pass must see the cancel that queued it: a record cached just before the DELETE
    // (by the plan job, say) would make it pass the notification by as not cancelled.
    const notification = await this.notification(job.notificationId, job.kind === 'cancel');
    if (notification === undefined) {
      jobLog.warn('job for an unknown notification dropped', { outcome: 'ignored' });
      return { kind: 'ignored', why: 'the notification does not exist' };
    }
    try {
      const result = await this.step(job, body, notification, jobLog);
      jobLog.log(`${jobSummary(job)}: ${describeResult(result)}`, { ...resultLogFields(result), durationMs: Date.now() - began });
      return result;
    } finally {
      // The personal-chat messages this job sent, indexed for read receipts in one batch per tenant.
      await this.deps.sentMessages.flush(jobLog);
    }
  }

  /** A recipient ended failed: the caller's callbackUrl hears of it (`recipient.failed`). */
  private async failedEvent(job: Job, result: JobResult, notification: NotificationRecord): Promise<void> {
    if (result.kind !== 'failed' || notification.callbackUrl === undefined || (job.kind !== 'deliver' && job.kind !== 'expand')) return;
    // Its time is the occasion: after a resend to the failed, the same recipient can fail again.
    await emitEvent(this.deps.queue, notification, recipientFailedEvent({ notificationId: job.notificationId, recipientKey: job.recipientKey, recipient: { ...job.recipient }, reason: result.reason, detail: result.detail, occasion: Date.now() }));
  }

  /** `claimed`: a recipient's row its slice has claimed already. */
  private async step(job: Job, body: unknown, notification: NotificationRecord, log: Logger, claimed?: DeliveryRecord): Promise<JobResult> {
    try {
      switch (job.kind) {
        case 'deliver':
          return await this.withFailedEvent(job, notification, await this.recipients.deliver(job, notification, log, claimed));
        case 'expand':
          return await this.withFailedEvent(job, notification, await this.fanOuts.expand(job, notification, log));
        case 'plan':
          return await this.planning.plan(job, notification);
        case 'slice':
          // Each recipient is a step of its own: a storage fault retries that recipient, not the slice.
          // Each step reads the record through the cache, so a cancel during the slice stops its later sends.
          return await this.slices.run(job, (deliver, row) =>
            // Each recipient's step is a span and logs as a deliver job of its own, and its outcome gets a line (found by the recipient's hash).
            inSpan(SPAN.deliver, jobSpanAttributes(deliver), async (span) => {
              const recipientLog = withFields(log, { ...jobLogFields(deliver), count: undefined });
              const result = await this.step(deliver, JSON.stringify(deliver), (await this.notification(job.notificationId)) ?? notification, recipientLog, row);
              recipientLog.log(`deliver: ${describeResult(result)}`, resultLogFields(result));
              return ended(span, result);
            }),
          );
        case 'amend':
          return await this.amendPasses.run(job, notification);
        case 'amendSlice':
          return await this.amendSlices.run(job, log);
        case 'retry':
          return await this.retries.run(job, notification);
        case 'watch':
          return await this.callbacks.watch(job, notification);
        case 'callback':
          return await this.callbacks.send(job, notification);
        case 'cancel':
          return await this.cancels.run(job, notification);
      }
    } catch (error) {
      // Stopping: the job was not sent; throwing hands the message straight back to the queue.
      if (error instanceof BudgetClosedError) throw error;
      return this.fault(job, body, error, log);
    }
  }

  private async withFailedEvent(job: Job, notification: NotificationRecord, result: JobResult): Promise<JobResult> {
    await this.failedEvent(job, result, notification);
    return result;
  }

  /**
   * The process is stopping: jobs waiting for a send slot throw `BudgetClosedError` (and go back
   * to the queue unsent) instead of sending; sends already on the wire finish and settle.
   */
  stop(): void {
    this.deps.budget.close();
  }

  /** Our own storage failed: a delayed copy, or after `maxFaults` a recorded status (see `retryAfterFault`). */
  private fault(job: Job, body: unknown, error: unknown, log: Logger): Promise<JobResult> {
    return retryAfterFault(job, error, this.deps, (detail) => this.giveUp(body, detail, log, 'too-many-errors'), log);
  }

  /**
   * The queue will not deliver this message again (its last delivery threw): record the failure on
   * the recipient's row and park the job, so the sender sees a status instead of a row left pending.
   */
  async giveUp(body: unknown, reason: string, log: Logger, letterReason: 'max-delivery-count' | 'too-many-errors' = 'max-delivery-count'): Promise<void> {
    const parsed = parseJob(body);
    await this.deps.queue.deadLetter({ body: bodyText(body), reason: letterReason, description: reason });
    if (!parsed.ok) return;
    const { job } = parsed;
    if (job.kind === 'plan') {
      // The entries not planned have no rows to fail: the operator finds the job in the dead letters.
      await this.deps.notifications.markPlanned(job.notificationId);
      log.error(`planning gave up at entry ${job.offset}: ${reason}`, { ...jobLogFields(job), outcome: 'dead-lettered', reason: letterReason });
      return;
    }
    if (job.kind === 'amendSlice') {
      // The rows keep their delivered status, and say why the change did not reach them.
      for (const item of job.items) {
        const row = await this.deps.deliveries.get(job.notificationId, item.recipientKey);
        if (row?.status !== 'delivered') continue;
        const failure = { reason: 'retries-exhausted' as const, detail: reason };
        const updated = await this.deps.deliveries.update(row, job.action === 'edit' ? { editFailure: failure, leaseUntil: '' } : { recallFailure: failure, leaseUntil: '' });
        if (updated.kind === 'updated') this.deps.metrics.amendedMessage(job.action, 'failed', job.tenantId);
      }
      return;
    }
    if (job.kind === 'callback') {
      await this.deps.notifications.recordCallbackFailure(job.notificationId, { eventId: job.event.id, detail: reason });
      return;
    }
    if (job.kind === 'amend' || job.kind === 'retry' || job.kind === 'watch' || job.kind === 'cancel') {
      // Nothing of a recipient's to record: the operator finds the job in the dead letters.
      log.error(`${jobSummary(job)} gave up: ${reason}`, { ...jobLogFields(job), outcome: 'dead-lettered', reason: letterReason });
      return;
    }
    const keys = job.kind === 'slice' ? job.sends.map((send) => send.recipientKey) : [job.recipientKey];
    for (const key of keys) {
      const row = await this.deps.deliveries.get(job.notificationId, key);
      // A live claim means another copy of the job is sending right now: it will settle the row.
      const heldByAnother = row?.leaseUntil !== undefined && Date.parse(row.leaseUntil) > Date.now();
      if (row !== undefined && row.status === 'pending' && !heldByAnother) {
        await this.settlement.finish(row, 'failed', 'retries-exhausted', reason, log, row.attempts, job.kind === 'slice' ? job.tenantId : undefined);
      }
    }
  }

  /**
   * Notification records change only when cancelled, so a short cache saves a read per recipient;
   * short enough that a cancel reaches warm workers within seconds.
   */
  private async notification(id: string, fresh = false): Promise<NotificationRecord | undefined> {
    const cached = this.records.get(id);
    if (!fresh && cached !== undefined && Date.now() - cached.readAt < RECORD_CACHE_MS) return cached.record;
    const record = await this.deps.notifications.get(id);
    if (record !== undefined) {
      if (this.records.size >= 1000) this.records.delete(this.records.keys().next().value as string);
      this.records.set(id, { record, readAt: Date.now() });
    }
    return record;
  }
}

/** Each recipient's delivery is a span of its own; plan and expand pages are the fan-out. */
function spanNameOf(job: Job): string {
  switch (job.kind) {
    case 'deliver':
      return SPAN.deliver;
    case 'plan':
    case 'expand':
      return SPAN.plan;
    case 'slice':
      return SPAN.slice;
    default:
      return SPAN.job;
  }
}

function jobSpanAttributes(job: Job): Attributes {
  return {
    [ATTRIBUTE.notificationId]: job.notificationId,
    [ATTRIBUTE.jobKind]: job.kind,
    ...(job.kind === 'slice' && { [ATTRIBUTE.tenantId]: job.tenantId, [ATTRIBUTE.recipients]: job.sends.length }),
  };
}

/** The span says how its job ended (a `JobResult` kind: delivered, failed, skipped, rescheduled, ...). */
function ended(span: Span, result: JobResult): JobResult {
  span.setAttribute(ATTRIBUTE.outcome, result.kind);
  if (result.kind === 'failed' || result.kind === 'skipped') span.setAttribute(ATTRIBUTE.reason, result.reason);
  return result;
}
