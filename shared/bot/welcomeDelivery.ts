import { describeWelcomeJob, type WelcomeJob, type WelcomeSend } from '../domain/welcomeJob';
import { BudgetClosedError } from '../delivery/sendBudget';
import type { Logger } from '../logger';
import { retryAfterFault } from '../queue/faultRetry';
import { WelcomeSender, type WelcomeDependencies, type WelcomeResult } from './welcomeSender';

/** A welcome's lease is taken this long before its send time: one storage round trip, then the wait. */
const PREPARE_MS = 300;

export type WelcomeJobResult =
  | { readonly kind: 'welcomes'; readonly results: Readonly<Record<string, number>> }
  | { readonly kind: 'rescheduled'; readonly delayMs: number; readonly why: string }
  | { readonly kind: 'dead-lettered'; readonly reason: string; readonly detail: string };

/**
 * The worker's side of queued welcomes: each welcome of the job at its planned time, as a slice
 * sends its recipients. A welcome is sent only by whoever leases its row, so a job delivered twice
 * welcomes nobody twice; one leased by another copy right now is looked at again later.
 */
export class WelcomeDelivery {
  private readonly sender: WelcomeSender;

  constructor(private readonly deps: WelcomeDependencies) {
    this.sender = new WelcomeSender(deps);
  }

  async handle(job: WelcomeJob, log: Logger): Promise<WelcomeJobResult> {
    try {
      const result = await this.run(job, log);
      log.log(`${describeWelcomeJob(job)}: ${Object.entries(result.results).map(([kind, n]) => `${n} ${kind}`).join(', ')}`, { jobKind: job.kind, outcome: result.kind, tenantId: job.tenantId, count: job.sends.length });
      return result;
    } catch (error) {
      // Stopping: back to the queue unsent, as for notification jobs.
      if (error instanceof BudgetClosedError) throw error;
      return this.fault(job, error, log);
    }
  }

  /** The queue will not deliver it again: park it and record each welcome still open as failed. */
  async giveUp(job: WelcomeJob, body: string, reason: string, log: Logger): Promise<void> {
    await this.deps.queue.deadLetter({ body, reason: 'max-delivery-count', description: reason });
    for (const send of job.sends) {
      const lease = await this.deps.welcomes.lease(send.key, send.claimId, this.deps.options.leaseMs);
      if (lease.kind === 'leased') await this.deps.welcomes.finish(send.key, send.claimId, { status: 'failed', reason: 'retries-exhausted', detail: reason });
    }
    log.error(`${describeWelcomeJob(job)} gave up: ${reason}`, { jobKind: job.kind, outcome: 'dead-lettered', reason: 'max-delivery-count', tenantId: job.tenantId, count: job.sends.length });
  }

  private async run(job: WelcomeJob, log: Logger): Promise<{ kind: 'welcomes'; results: Record<string, number> }> {
    const sends = [...job.sends].sort((a, b) => a.at - b.at);
    const steps: Promise<WelcomeResult>[] = [];
    try {
      for (const send of sends) {
        const due = await this.deps.pacer.dueAt(job.tenantId, send.at);
        await this.deps.budget.wait(due - PREPARE_MS - Date.now());
        steps.push(this.one(send, log));
      }
    } finally {
      // Stopping or not, the welcomes already started finish and record what Teams answered.
      await Promise.allSettled(steps);
    }
    const results: Record<string, number> = {};
    for (const step of await Promise.allSettled(steps)) {
      if (step.status === 'rejected') throw step.reason;
      results[step.value.kind] = (results[step.value.kind] ?? 0) + 1;
    }
    return { kind: 'welcomes', results };
  }

  private async one(send: WelcomeSend, log: Logger): Promise<WelcomeResult> {
    const lease = await this.deps.welcomes.lease(send.key, send.claimId, this.deps.options.leaseMs);
    switch (lease.kind) {
      case 'done':
        return { kind: 'ignored', why: lease.why };
      case 'held': {
        // Another copy is sending it, or handing it back right now; look again soon, and once the lease is out.
        const delayMs = Math.min(lease.untilMs - Date.now() + 1_000, 2_000 * 2 ** Math.min(send.hop, 6));
        return this.sender.retryLater({ ...send, hop: send.hop + 1 }, Math.max(delayMs, 1_000), 'another copy holds the welcome', false);
      }
      case 'leased':
        return this.sender.attempt(send, log);
    }
  }

  /** Our own storage or queue failed: a delayed copy of the whole job (welcomes already sent are done on their rows), see `retryAfterFault`. */
  private fault(job: WelcomeJob, error: unknown, log: Logger): Promise<WelcomeJobResult> {
    return retryAfterFault(job, error, this.deps, (detail) => this.giveUp(job, JSON.stringify(job), detail, log), log);
  }
}
