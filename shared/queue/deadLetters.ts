import { parseJob, type Job } from '../domain/job';
import type { Page } from '../stores/page';

/**
 * A parked job as an operator sees it: why it was parked, what it was about, and when. The `id`
 * is stable for as long as the letter is parked and names where it is (see each adapter).
 */
export interface DeadLetterEntry {
  readonly id: string;
  /** The code that parked it (`invalid-job`, `max-delivery-count`, `too-many-errors`) or Service Bus' own (`MaxDeliveryCountExceeded`, `TTLExpiredException`). */
  readonly reason: string;
  readonly description: string;
  /** When it was parked (Service Bus' own dead-lettering: when the message was enqueued there). */
  readonly deadLetteredAt: string;
  /** Unset for a body that is not a notification job (a poison body, a welcome). */
  readonly notificationId?: string;
  /** The job's kind (`deliver`, `slice`, `plan`, ...), or unset when the body is not a job. */
  readonly jobKind?: Job['kind'];
  /** The recipients the job is about: one for deliver/expand, several for a slice, none for a plan. */
  readonly recipientKeys: readonly string[];
  /** The body as it arrived. */
  readonly body: string;
}

export interface DeadLetterQuery {
  readonly notificationId?: string;
  /** At most this many entries per page. */
  readonly limit: number;
  readonly continuationToken?: string;
}

/**
 * The dead-letter side of the job queue, for operators: list what is parked and take a letter out
 * once its job is back on the queue. One adapter per transport (Service Bus, Azurite queues).
 */
export interface DeadLetters {
  /**
   * One page, oldest first. A page may hold fewer than `limit` entries and still have a
   * continuation: a filtered scan stops after a bounded amount of reading.
   */
  list(query: DeadLetterQuery): Promise<Page<DeadLetterEntry>>;
  /** The letter with this id, or undefined when there is none (an unknown or malformed id included). */
  get(id: string): Promise<DeadLetterEntry | undefined>;
  /**
   * Removes the letter; false when it was not removed: gone already (another redrive took it), or
   * (Service Bus) too deep to reach or locked by someone else, in which case it stays listed.
   */
  remove(id: string): Promise<boolean>;
}

/** What a queue adapter offers when it can show its dead letters (both of ours do; see `createServices`). */
export interface HasDeadLetters {
  deadLetterStore(): DeadLetters;
}

export function hasDeadLetters(queue: object): queue is HasDeadLetters {
  return typeof (queue as Partial<HasDeadLetters>).deadLetterStore === 'function';
}

/** What a parked body says about itself: its notification, kind and recipients, when it is a job. */
export function describeBody(body: string): Pick<DeadLetterEntry, 'notificationId' | 'jobKind' | 'recipientKeys'> {
  const parsed = parseJob(body);
  if (!parsed.ok) return { recipientKeys: [] };
  return { notificationId: parsed.job.notificationId, jobKind: parsed.job.kind, recipientKeys: recipientKeysOf(parsed.job) };
}

export function recipientKeysOf(job: Job): string[] {
  switch (job.kind) {
    case 'deliver':
    case 'expand':
      return [job.recipientKey];
    case 'slice':
      return job.sends.map((send) => send.recipientKey);
    case 'amendSlice':
      return job.items.map((item) => item.recipientKey);
    default:
      return [];
  }
}

/** A continuation token that is not one of ours: the caller sent it wrong (400, not 500). */
export class InvalidContinuationToken extends Error {
  constructor() {
    super('the continuationToken is not valid');
    this.name = 'InvalidContinuationToken';
  }
}

/** Continuation tokens are ours, opaque to callers: base64url JSON. Undefined for anything else. */
export function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeToken(token: string): unknown {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(token)) return undefined;
  try {
    return JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
