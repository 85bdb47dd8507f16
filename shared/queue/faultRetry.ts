import { transientDelayMs, type BackoffPolicy } from '../delivery/backoff';
import { describeError, type Logger } from '../logger';
import type { JobQueue, QueueJob } from './jobQueue';

export type FaultOutcome =
  | { readonly kind: 'rescheduled'; readonly delayMs: number; readonly why: string }
  | { readonly kind: 'dead-lettered'; readonly reason: 'retries-exhausted'; readonly detail: string };

export interface FaultRetryOptions {
  readonly maxFaults: number;
  readonly backoff: BackoffPolicy;
  readonly random?: () => number;
}

/**
 * Something unexpected failed while handling a job (usually our own storage). Throwing would
 * redeliver it at once and burn the queue's delivery count in seconds, so this enqueues a delayed
 * copy with one more fault counted (a message id of its own); after `maxFaults`, `giveUp` records
 * the failure. Only if even the copy cannot be enqueued does it throw the original error, for the
 * queue's own redelivery.
 */
export async function retryAfterFault<J extends QueueJob>(
  job: J,
  error: unknown,
  deps: { readonly queue: JobQueue; readonly options: FaultRetryOptions },
  giveUp: (detail: string) => Promise<void>,
  log: Logger,
): Promise<FaultOutcome> {
  const faults = (job.faults ?? 0) + 1;
  const message = describeError(error);
  if (faults >= deps.options.maxFaults) {
    await giveUp(`failed ${faults} times; last error: ${message}`);
    return { kind: 'dead-lettered', reason: 'retries-exhausted', detail: message };
  }
  // The job's ids are the logger's fields (see `withFields`): the text names none.
  log.warn('job failed; retrying later', { count: faults, error });
  const delayMs = transientDelayMs(faults - 1, deps.options.backoff, deps.options.random);
  try {
    await deps.queue.enqueue([{ job: { ...job, faults }, notBefore: new Date(Date.now() + delayMs) }]);
  } catch {
    throw error;
  }
  return { kind: 'rescheduled', delayMs, why: `error: ${message}` };
}

/** A queue body as text, for parking it where an operator can read or replay it. */
export function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  return JSON.stringify(body) ?? String(body);
}
