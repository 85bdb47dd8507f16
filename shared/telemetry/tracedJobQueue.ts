import type { DeadLetter, JobQueue, QueuedJob, QueueJob } from '../queue/jobQueue';
import { currentTraceparent } from './tracing';

/**
 * The job queue, carrying traces: a job enqueued inside a span (the accept, a plan page, a slice)
 * takes that span as its `traceparent`, so the worker that picks it up continues the trace. A
 * decorator over the port, so both transports carry it and no producer has to remember it. The
 * message id does not depend on it (`jobMessageId`): a replayed accept still de-duplicates.
 */
export class TracedJobQueue implements JobQueue {
  constructor(private readonly inner: JobQueue) {}

  enqueue(jobs: readonly QueuedJob<QueueJob>[]): Promise<void> {
    const traceparent = currentTraceparent();
    if (traceparent === undefined) return this.inner.enqueue(jobs);
    return this.inner.enqueue(jobs.map((queued) => ({ ...queued, job: { ...queued.job, trace: traceparent } })));
  }

  deadLetter(letter: DeadLetter): Promise<void> {
    return this.inner.deadLetter(letter);
  }

  ensureCreated(): Promise<void> {
    return this.inner.ensureCreated();
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.inner.ping(signal);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
