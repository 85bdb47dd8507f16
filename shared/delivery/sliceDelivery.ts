import type { DeliverJob, SliceJob } from '../domain/job';
import type { TenantPacer } from '../pacing/tenantPacer';
import { UNRESOLVED_TENANT } from '../planning/planTargets';
import type { JobResult } from './settlement';
import type { SendBudget } from './sendBudget';

export interface SliceOutcome {
  readonly kind: 'sliced';
  readonly sends: number;
  /** How each recipient's step ended, by result kind (delivered, failed, skipped, rescheduled, ignored, ...). */
  readonly results: Readonly<Record<string, number>>;
  /** How late the first send went out against its planned time. */
  readonly lateMs: number;
}

/**
 * Sends one slice: each recipient at its planned time, without waiting for the one before (a
 * send takes longer than the spacing), through the tenant's local budget as a safety net. Each
 * recipient is an ordinary delivery step with its own claim, retries and status, so a slice
 * delivered twice sends nobody twice, and a slice cut short by a stop resumes where it was.
 */
export class SliceDelivery {
  constructor(
    private readonly budget: SendBudget,
    private readonly pacer: TenantPacer,
  ) {}

  /** `deliverOne` is one recipient's delivery step, with its own fault handling. */
  async run(job: SliceJob, deliverOne: (job: DeliverJob) => Promise<JobResult>): Promise<SliceOutcome> {
    if (job.tenantId !== UNRESOLVED_TENANT) this.budget.setRate(job.tenantId, await this.pacer.rate(job.tenantId));
    const sends = [...job.sends].sort((a, b) => a.at - b.at);
    const steps: Promise<JobResult>[] = [];
    let lateMs = 0;
    try {
      for (const [index, send] of sends.entries()) {
        await this.budget.wait(send.at - Date.now());
        if (index === 0) lateMs = Math.max(0, Date.now() - send.at);
        steps.push(
          deliverOne({
            v: 1,
            kind: 'deliver',
            notificationId: job.notificationId,
            recipientKey: send.recipientKey,
            recipient: send.recipient,
            attempt: 0,
            throttled: 0,
          }),
        );
      }
    } finally {
      // Stopping or not, the sends already started finish and record what Teams answered.
      await Promise.allSettled(steps);
    }
    const results: Record<string, number> = {};
    for (const step of await Promise.allSettled(steps)) {
      if (step.status === 'rejected') throw step.reason;
      results[step.value.kind] = (results[step.value.kind] ?? 0) + 1;
    }
    return { kind: 'sliced', sends: sends.length, results, lateMs };
  }
}
