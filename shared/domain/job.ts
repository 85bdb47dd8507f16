import { createHash } from 'node:crypto';
import { z } from 'zod';
import { routeSchema, type Route } from './route';
import type { CallbackEvent } from '../callbacks/callbackEvent';
import { isFanOut, recipientSchema, type FanOutRecipient, type Recipient, type TargetRecipient } from './recipient';

/**
 * The one job schema both transports carry (Service Bus in Azure, Azurite queues locally).
 * A job names its notification; the message itself lives in the notification record so that a
 * 100k-recipient send does not copy a 28 KB card 100k times through the queue.
 */
export interface DeliverJob {
  readonly v: 1;
  readonly kind: 'deliver';
  readonly notificationId: string;
  readonly recipientKey: string;
  readonly recipient: TargetRecipient;
  /** Send attempts already spent on transient failures (throttling does not spend them). */
  readonly attempt: number;
  /** 429s seen so far for this recipient: kept apart so throttling never exhausts the retry budget. */
  readonly throttled: number;
  /**
   * Unchanged re-schedules (not due yet, recipient held by another worker, tenant paused) and
   * unexpected errors retried with backoff. Counted so that every copy the worker enqueues has a
   * message id of its own: Service Bus drops a second message with the same id within its window.
   */
  readonly hop?: number;
  readonly faults?: number;
  /**
   * The send time its tenant's timeline gave it (epoch ms), for a recipient of a slice or a retry:
   * it is sent then, without taking from this process's bucket. Absent for unplanned sends.
   */
  readonly at?: number;
  /** Where to send, as planning read it: the send does not read the references again. */
  readonly route?: Route;
  /**
   * The row's ETag from its creation, for the first attempt of a planned send: the claim is then a
   * conditional write without a read first. A stale ETag only costs that read.
   */
  readonly etag?: string;
}

export interface ExpandJob {
  readonly v: 1;
  readonly kind: 'expand';
  readonly notificationId: string;
  readonly recipientKey: string;
  readonly recipient: FanOutRecipient;
  /** Where the previous page of the expansion stopped. */
  readonly continuationToken?: string;
  readonly page: number;
  /** Recipients produced by the pages before this one. */
  readonly expanded: number;
  /** Listing failures so far (the roster call can fail like a send). */
  readonly attempt: number;
  readonly throttled: number;
  readonly hop?: number;
  readonly faults?: number;
}

/**
 * The request's own recipient entries, read from the stored request and planned a page at a time
 * from `offset`: the one job `POST /api/notifications` enqueues, whatever the audience.
 */
export interface PlanJob {
  readonly v: 1;
  readonly kind: 'plan';
  readonly notificationId: string;
  readonly offset: number;
  readonly hop?: number;
  readonly faults?: number;
}

/** One recipient of a slice, with the send time the tenant's timeline gave it (epoch ms). */
export interface PlannedSend {
  readonly recipientKey: string;
  readonly recipient: TargetRecipient;
  readonly at: number;
  readonly route?: Route;
  readonly etag?: string;
}

/**
 * A stretch of one tenant's timeline (about a second's worth of sends): any instance that
 * receives it when due sends each recipient at its planned time. Recipients keep their own rows,
 * claims and retries, so a redelivered slice sends nobody twice.
 */
export interface SliceJob {
  readonly v: 1;
  readonly kind: 'slice';
  readonly notificationId: string;
  readonly tenantId: string;
  /** Unique within the notification and the same for the same planned page: the message id comes from it. */
  readonly sliceId: string;
  readonly sends: readonly PlannedSend[];
  readonly hop?: number;
  readonly faults?: number;
}

/** What changes a sent message: `edit` puts the current version in place, `recall` deletes it. */
export type AmendAction = 'edit' | 'recall';

/**
 * One pass over a notification's rows, a page per job, after an edit or a recall: each delivered
 * row that needs the change gets a time on its tenant's timeline, in amend slices. A pass that saw
 * sends still in flight is followed by another, so they are changed too once they land.
 */
export interface AmendJob {
  readonly v: 1;
  readonly kind: 'amend';
  readonly notificationId: string;
  readonly action: AmendAction;
  /**
   * What asked for the pass: the message version an edit made, or 0 for a recall. Part of the
   * message ids, so the passes of two quick edits are not taken for duplicates of each other.
   */
  readonly round: number;
  /** The rows page where this job starts. */
  readonly continuationToken?: string;
  readonly page: number;
  /** Which pass this is (0 first). */
  readonly pass: number;
  /** Sends in flight seen by the pages of this pass so far. */
  readonly inFlight: number;
  readonly hop?: number;
  readonly faults?: number;
}

/** One recipient's sent message to change, at its time; its own counters, so it retries alone. */
export interface AmendItem {
  readonly recipientKey: string;
  readonly at: number;
  readonly attempt: number;
  readonly throttled: number;
}

export interface AmendSliceJob {
  readonly v: 1;
  readonly kind: 'amendSlice';
  readonly notificationId: string;
  readonly tenantId: string;
  readonly action: AmendAction;
  readonly sliceId: string;
  readonly items: readonly AmendItem[];
  readonly hop?: number;
  readonly faults?: number;
}

/** `POST .../retry`: the recipients that failed for a reason that can change, reopened and planned again, a page per job. */
export interface RetryJob {
  readonly v: 1;
  readonly kind: 'retry';
  readonly notificationId: string;
  /** Which retry request this is (its time): part of the message and slice ids. */
  readonly round: number;
  readonly continuationToken?: string;
  readonly page: number;
  readonly hop?: number;
  readonly faults?: number;
}

/** Watches a notification that has a `callbackUrl` until it is done, to say so (`notification.completed`). */
export interface WatchJob {
  readonly v: 1;
  readonly kind: 'watch';
  readonly notificationId: string;
  /** When the watch began (epoch ms): the occasion its event names, and how old the watch is. */
  readonly since: number;
  /** Looks so far: the next one comes later each time, up to a minute apart. */
  readonly hop?: number;
  readonly faults?: number;
}

/** One signed event for the notification's `callbackUrl`, retried with backoff for up to a day. */
export interface CallbackJob {
  readonly v: 1;
  readonly kind: 'callback';
  readonly notificationId: string;
  readonly event: CallbackEvent;
  readonly attempt: number;
  /** When the first attempt was made (epoch ms): the retries end a day after it. */
  readonly since: number;
  readonly hop?: number;
  readonly faults?: number;
}

/**
 * `DELETE /api/notifications/{id}` finishing in the background: the entries not planned yet get
 * rows born skipped (`offset` through the request's entries), then the pending rows nobody holds
 * end skipped, a page per job. A pass that met rows held by a worker is followed by another once
 * their claims have run out, so every row ends.
 */
export interface CancelJob {
  readonly v: 1;
  readonly kind: 'cancel';
  readonly notificationId: string;
  /** Which DELETE started it (its time): part of the message ids, so a second DELETE is not a duplicate. */
  readonly round: number;
  /** The next of the request's entries to give a born-skipped row, while the notification was still planning. */
  readonly offset?: number;
  /** The pending rows page where this job starts. */
  readonly continuationToken?: string;
  readonly page: number;
  /** Which pass over the pending rows this is (0 first). */
  readonly pass: number;
  /** Rows held by a worker seen by the pages of this pass so far. */
  readonly held: number;
  readonly hop?: number;
  readonly faults?: number;
}

/**
 * What every job may carry besides its step: the W3C `traceparent` of the span that enqueued it
 * (see `TracedJobQueue`), so one notification's accept, fan-out and deliveries are one trace.
 */
export interface JobTrace {
  readonly trace?: string;
}

export type Job = (DeliverJob | ExpandJob | PlanJob | SliceJob | AmendJob | AmendSliceJob | RetryJob | WatchJob | CallbackJob | CancelJob) & JobTrace;

const eventBase = { id: z.string().min(1), notificationId: z.string().min(1), occurredAt: z.string().min(1) };
const countsSchema = z.record(z.string(), z.number());
/** The events a callback job carries, as `CallbackEvent` types them. */
const callbackEventSchema = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('notification.completed'), status: z.enum(['accepted', 'scheduled', 'sending', 'completed', 'cancelled', 'recalled']), counts: countsSchema }),
  z.object({ ...eventBase, type: z.literal('recipient.failed'), recipient: z.record(z.string(), z.unknown()), reason: z.string(), detail: z.string() }),
  z.object({ ...eventBase, type: z.literal('notification.recalled'), counts: countsSchema }),
]);

const counters = {
  v: z.literal(1),
  notificationId: z.string().min(1),
  hop: z.number().int().min(0).optional(),
  faults: z.number().int().min(0).optional(),
  /** W3C traceparent (version, trace id, parent id, flags). Diagnostic only: a malformed one is dropped, never the job. */
  trace: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/).optional().catch(undefined),
};
const base = { ...counters, recipientKey: z.string().min(1) };

export const jobSchema = z.discriminatedUnion('kind', [
  z.object({
    ...base,
    kind: z.literal('deliver'),
    recipient: recipientSchema,
    attempt: z.number().int().min(0),
    throttled: z.number().int().min(0),
    at: z.number().optional(),
    route: routeSchema.optional(),
    etag: z.string().min(1).optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('expand'),
    recipient: recipientSchema,
    continuationToken: z.string().optional(),
    page: z.number().int().min(0),
    expanded: z.number().int().min(0),
    attempt: z.number().int().min(0),
    throttled: z.number().int().min(0),
  }),
  z.object({ ...counters, kind: z.literal('plan'), offset: z.number().int().min(0) }),
  z.object({
    ...counters,
    kind: z.literal('amend'),
    action: z.enum(['edit', 'recall']),
    round: z.number().int().min(0),
    continuationToken: z.string().optional(),
    page: z.number().int().min(0),
    pass: z.number().int().min(0),
    inFlight: z.number().int().min(0),
  }),
  z.object({ ...counters, kind: z.literal('watch'), since: z.number() }),
  z.object({
    ...counters,
    kind: z.literal('callback'),
    event: callbackEventSchema,
    attempt: z.number().int().min(0),
    since: z.number(),
  }),
  z.object({ ...counters, kind: z.literal('retry'), round: z.number().int().min(0), continuationToken: z.string().optional(), page: z.number().int().min(0) }),
  z.object({
    ...counters,
    kind: z.literal('cancel'),
    round: z.number().int().min(0),
    offset: z.number().int().min(0).optional(),
    continuationToken: z.string().optional(),
    page: z.number().int().min(0),
    pass: z.number().int().min(0),
    held: z.number().int().min(0),
  }),
  z.object({
    ...counters,
    kind: z.literal('amendSlice'),
    tenantId: z.string().min(1),
    action: z.enum(['edit', 'recall']),
    sliceId: z.string().min(1).max(200),
    items: z
      .array(z.object({ recipientKey: z.string().min(1), at: z.number(), attempt: z.number().int().min(0), throttled: z.number().int().min(0) }))
      .min(1),
  }),
  z.object({
    ...counters,
    kind: z.literal('slice'),
    tenantId: z.string().min(1),
    sliceId: z.string().min(1).max(200),
    sends: z
      .array(
        z.object({
          recipientKey: z.string().min(1),
          recipient: recipientSchema,
          at: z.number(),
          route: routeSchema.optional(),
          etag: z.string().min(1).optional(),
        }),
      )
      .min(1),
  }),
]);

/** The first job for a recipient: deliver to a target, or expand a fan-out entry from its first page. */
export function firstJob(notificationId: string, recipientKey: string, recipient: Recipient): Job {
  return isFanOut(recipient)
    ? { v: 1, kind: 'expand', notificationId, recipientKey, recipient, page: 0, expanded: 0, attempt: 0, throttled: 0 }
    : { v: 1, kind: 'deliver', notificationId, recipientKey, recipient, attempt: 0, throttled: 0 };
}

export type JobParseResult = { ok: true; job: Job } | { ok: false; reason: string };

/** Reads a queue body (already-decoded object, JSON text, or bytes) into a job, or says why it is poison. */
export function parseJob(body: unknown): JobParseResult {
  let value: unknown = body;
  try {
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) value = Buffer.from(value).toString('utf8');
    if (typeof value === 'string') value = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const parsed = jobSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { ok: false, reason: `body is not a job: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}` };
  }
  const job = parsed.data;
  if (job.kind === 'plan' || job.kind === 'amend' || job.kind === 'amendSlice' || job.kind === 'retry' || job.kind === 'watch' || job.kind === 'callback' || job.kind === 'cancel') return { ok: true, job };
  if (job.kind === 'slice') {
    const fanOut = job.sends.find((send) => isFanOut(send.recipient as Recipient));
    return fanOut === undefined ? { ok: true, job: job as SliceJob } : { ok: false, reason: `a slice cannot carry a ${fanOut.recipient.type} recipient` };
  }
  if ((job.kind === 'expand') !== isFanOut(job.recipient as Recipient)) return { ok: false, reason: `a ${job.kind} job cannot carry a ${job.recipient.type} recipient` };
  return { ok: true, job: job as Job };
}

/**
 * Deterministic message id: the same job step always gets the same id, so Service Bus duplicate
 * detection drops a second enqueue of it (a retried HTTP request, a redelivered expansion page).
 */
export function jobMessageId(job: Job): string {
  const copies = `${job.hop ?? 0}:${job.faults ?? 0}`;
  const step = ((): string => {
    switch (job.kind) {
      case 'deliver':
        // The planned time too: a recipient reopened by a resend counts its attempts from 0 again.
        return `${job.recipientKey}\nd:${job.attempt}:${job.throttled}:${copies}:${job.at ?? ''}`;
      case 'expand':
        return `${job.recipientKey}\ne:${job.page}:${job.attempt}:${job.throttled}:${copies}`;
      case 'plan':
        return `\np:${job.offset}:${copies}`;
      case 'slice':
        return `\ns:${job.sliceId}:${copies}`;
      case 'amend':
        return `\na:${job.action}:${job.round}:${job.pass}:${job.page}:${copies}`;
      case 'amendSlice':
        return `\nas:${job.action}:${job.sliceId}:${copies}`;
      case 'retry':
        return `\nr:${job.round}:${job.page}:${copies}`;
      case 'watch':
        return `\nw:${job.since}:${copies}`;
      case 'callback':
        return `\nc:${job.event.id}:${job.attempt}:${copies}`;
      case 'cancel':
        return `\nx:${job.round}:${job.pass}:${job.offset ?? ''}:${job.page}:${copies}`;
    }
  })();
  const digest = createHash('sha256').update(`${job.notificationId}\n${step}`).digest('base64url');
  return `${job.notificationId.slice(0, 40)}-${digest}`;
}
