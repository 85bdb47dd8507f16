import type { Job } from '../domain/job';
import type { WelcomeJob } from '../domain/welcomeJob';

/** The delivery queue's name, the same in Service Bus (Azure) and Azurite (local). */
export const DELIVERY_QUEUE_NAME = 'delivery-jobs';
/** Where jobs that can never succeed go, with their reason (poison bodies, exhausted retries). */
export const DEAD_LETTER_QUEUE_NAME = 'delivery-jobs-deadletter';

/** Everything the delivery queue carries: notification jobs, and welcomes that could not go out at once. */
export type QueueJob = Job | WelcomeJob;

/** Producers of notification jobs see `QueuedJob`; the queue itself takes welcome jobs too. */
export interface QueuedJob<J extends QueueJob = Job> {
  readonly job: J;
  /** Deliver no earlier than this (Service Bus scheduled enqueue; Azurite visibility delay). */
  readonly notBefore?: Date;
}

export interface DeadLetter {
  /** The body as it arrived, so an operator can replay or inspect it. */
  readonly body: string;
  readonly reason: string;
  readonly description: string;
}

/** The producer side of the job queue: the HTTP function and the worker's re-scheduling use it. */
export interface JobQueue {
  /** Enqueues all jobs or throws; each job carries a deterministic message id (see `jobMessageId`). */
  enqueue(jobs: readonly QueuedJob<QueueJob>[]): Promise<void>;
  /** Parks a job that must not be retried, with the reason, where operators look for them. */
  deadLetter(letter: DeadLetter): Promise<void>;
  /** Creates what the adapter may create for itself (local queues); a no-op where infra/ owns it. */
  ensureCreated(): Promise<void>;
  /** Throws when the queue cannot be reached (the health endpoint's check). */
  ping(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}
