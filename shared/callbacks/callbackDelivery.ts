import type { CallbackJob, WatchJob } from '../domain/job';
import { notificationStatus, type NotificationRecord } from '../domain/notification';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { JobQueue } from '../queue/jobQueue';
import { completedEvent, recalledEvent, type CallbackEvent } from './callbackEvent';
import type { CallbackSender } from './callbackSender';

/** Retries end this long after the first attempt: then the event is recorded as failed on the notification. */
export const CALLBACK_WINDOW_MS = 24 * 60 * 60_000;
/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 60 * 60_000;
/** The first look for the end comes this soon; each next one later, up to a minute apart. */
const WATCH_FIRST_MS = 5_000;
const WATCH_MAX_MS = 60_000;
/** A watch ends after this long, done or not (the queue keeps jobs a week). */
const WATCH_LIMIT_MS = 7 * 24 * 60 * 60_000;

export interface CallbackDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: Pick<DeliveryStore, 'counts'>;
  readonly queue: JobQueue;
  /** Set when CALLBACK_SIGNING_KEY is: without it, no notification carries a callbackUrl. */
  readonly callbacks?: CallbackSender;
  readonly callbackWindowMs?: number;
  readonly random?: () => number;
}

export type CallbackResult = { readonly kind: 'callback'; readonly outcome: 'delivered' | 'retry' | 'gave-up' | 'watching' | 'none'; readonly detail: string };

/** Queues an event for the notification's callbackUrl, if it has one: delivered at least once, from the queue. */
export async function emitEvent(queue: JobQueue, notification: Pick<NotificationRecord, 'id' | 'callbackUrl'>, event: CallbackEvent): Promise<void> {
  if (notification.callbackUrl === undefined) return;
  await queue.enqueue([{ job: { v: 1, kind: 'callback', notificationId: notification.id, event, attempt: 0, since: Date.now() } }]);
}

/** A watch of a notification with a callbackUrl, from its send time (or now) on: accepted, retried or recalled. */
export function firstWatch(notification: Pick<NotificationRecord, 'id' | 'sendAt'>, from = Date.now()): { job: WatchJob; notBefore: Date } {
  const start = Math.max(from, notification.sendAt !== undefined ? Date.parse(notification.sendAt) : 0) + WATCH_FIRST_MS;
  return { job: { v: 1, kind: 'watch', notificationId: notification.id, since: Date.now() }, notBefore: new Date(start) };
}

/**
 * Signed events, at least once: each attempt POSTs the same bytes with the same event id, and a
 * failure (a 5xx, a timeout, a 429, even a 4xx: the receiver may be misconfigured for a while) is
 * retried through the queue with exponential backoff, Retry-After honoured, for up to a day. Then,
 * or at once when the URL turned unsafe (SSRF checks at send time), the failure is recorded on the
 * notification, where the status shows it.
 */
export class CallbackDelivery {
  constructor(private readonly deps: CallbackDependencies) {}

  async send(job: CallbackJob, notification: NotificationRecord): Promise<CallbackResult> {
    const { callbacks, queue, notifications } = this.deps;
    if (notification.callbackUrl === undefined || callbacks === undefined) return { kind: 'callback', outcome: 'none', detail: 'no callbackUrl, or callbacks are not configured' };
    const attempt = await callbacks.post(notification.callbackUrl, job.event);
    if (attempt.kind === 'delivered') return { kind: 'callback', outcome: 'delivered', detail: `answered ${attempt.status}` };
    const window = this.deps.callbackWindowMs ?? CALLBACK_WINDOW_MS;
    const backoff = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** job.attempt) * (0.5 + (this.deps.random ?? Math.random)() / 2);
    const delayMs = attempt.kind === 'retry' ? Math.max(backoff, attempt.retryAfterMs ?? 0) : 0;
    if (attempt.kind === 'refused' || Date.now() + delayMs > job.since + window) {
      await notifications.recordCallbackFailure(job.notificationId, { eventId: job.event.id, detail: attempt.detail });
      return { kind: 'callback', outcome: 'gave-up', detail: attempt.detail };
    }
    await queue.enqueue([{ job: { ...job, attempt: job.attempt + 1, hop: 0, faults: 0 }, notBefore: new Date(Date.now() + delayMs) }]);
    return { kind: 'callback', outcome: 'retry', detail: attempt.detail };
  }

  /** Looks whether the notification is done; says so once it is (completed or cancelled), else looks again later. */
  async watch(job: WatchJob, notification: NotificationRecord): Promise<CallbackResult> {
    const { counts, anyAttempted, recallsFailed } = await this.deps.deliveries.counts(notification.id);
    const status = notificationStatus(notification, counts, anyAttempted);
    // A recall is done when nothing is left to delete: every message deleted, or its failure recorded.
    if (status === 'recalled' && counts.pending === 0 && counts.delivered === recallsFailed) {
      await emitEvent(this.deps.queue, notification, recalledEvent({ notificationId: notification.id, counts: { ...counts } }));
      return { kind: 'callback', outcome: 'delivered', detail: 'recalled: queued notification.recalled' };
    }
    if (status === 'completed' || status === 'cancelled') {
      // Each watch's completion is its own fact: a resend to the failed completes the notification again.
      await emitEvent(this.deps.queue, notification, completedEvent({ notificationId: notification.id, status, counts: { ...counts }, occasion: job.since }));
      return { kind: 'callback', outcome: 'delivered', detail: `${status}: queued notification.completed` };
    }
    if (Date.now() - job.since > WATCH_LIMIT_MS) return { kind: 'callback', outcome: 'gave-up', detail: `still ${status} after a week: no longer watched` };
    const hop = (job.hop ?? 0) + 1;
    const until = status === 'scheduled' && notification.sendAt !== undefined ? Math.max(0, Date.parse(notification.sendAt) - Date.now()) : 0;
    const delayMs = Math.max(until, Math.min(WATCH_MAX_MS, WATCH_FIRST_MS * 2 ** Math.min(hop, 4)));
    await this.deps.queue.enqueue([{ job: { ...job, hop }, notBefore: new Date(Date.now() + delayMs) }]);
    return { kind: 'callback', outcome: 'watching', detail: `${status}: looking again in ${Math.round(delayMs / 1000)} s` };
  }
}
