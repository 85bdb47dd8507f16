import { createHash } from 'node:crypto';
import { z } from 'zod';
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

export type Job = DeliverJob | ExpandJob;

const base = {
  v: z.literal(1),
  notificationId: z.string().min(1),
  recipientKey: z.string().min(1),
  hop: z.number().int().min(0).optional(),
  faults: z.number().int().min(0).optional(),
};

export const jobSchema = z.discriminatedUnion('kind', [
  z.object({
    ...base,
    kind: z.literal('deliver'),
    recipient: recipientSchema,
    attempt: z.number().int().min(0),
    throttled: z.number().int().min(0),
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
  const fanOut = job.recipient.type === 'teamMembers' || job.recipient.type === 'allUsers' || job.recipient.type === 'allTeams';
  if ((job.kind === 'expand') !== fanOut) return { ok: false, reason: `a ${job.kind} job cannot carry a ${job.recipient.type} recipient` };
  return { ok: true, job: job as Job };
}

/**
 * Deterministic message id: the same job step always gets the same id, so Service Bus duplicate
 * detection drops a second enqueue of it (a retried HTTP request, a redelivered expansion page).
 */
export function jobMessageId(job: Job): string {
  const counters = `${job.attempt}:${job.throttled}:${job.hop ?? 0}:${job.faults ?? 0}`;
  const step = job.kind === 'deliver' ? `d:${counters}` : `e:${job.page}:${counters}`;
  const digest = createHash('sha256').update(`${job.notificationId}\n${job.recipientKey}\n${step}`).digest('base64url');
  return `${job.notificationId.slice(0, 40)}-${digest}`;
}
