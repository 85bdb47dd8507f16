import type { DeliverJob, PlannedSend, SliceJob } from '../domain/job';
import type { TenantPacer } from '../pacing/tenantPacer';
import { EARLY_LIMIT_MS, SLICE_LEAD_MS, UNRESOLVED_TENANT } from '../planning/planTargets';
import type { JobResult, Rescheduled, Settlement } from './settlement';
import type { SendBudget } from './sendBudget';

/**
 * How long before its due time a recipient's step starts: its claim and lookups take some
 * milliseconds of storage I/O, and the send itself must leave on time, not after them.
 */
const PREPARE_MS = 500;

export type SliceOutcome = SlicedOutcome | Rescheduled;

interface SlicedOutcome {
  readonly kind: 'sliced';
  readonly sends: number;
  /** How each recipient's step ended, by result kind (delivered, failed, skipped, rescheduled, ignored, ...). */
  readonly results: Readonly<Record<string, number>>;
}

/**
 * Sends one slice: each recipient at its planned time (moved back by any pause since), without
 * waiting for the one before (a send takes longer than the spacing). Each recipient is an
 * ordinary delivery step with its own claim, retries and status, so a slice delivered twice sends
 * nobody twice, and a slice cut short by a stop resumes where it was.
 */
export class SliceDelivery {
  constructor(
    private readonly budget: SendBudget,
    private readonly pacer: TenantPacer,
    private readonly settlement: Settlement,
  ) {}

  /** `deliverOne` is one recipient's delivery step, with its own fault handling. */
  async run(job: SliceJob, deliverOne: (job: DeliverJob) => Promise<JobResult>): Promise<SliceOutcome> {
    const planned = job.tenantId !== UNRESOLVED_TENANT;
    if (planned) this.budget.setRate(job.tenantId, await this.pacer.rate(job.tenantId));
    const sends = [...job.sends].sort((a, b) => a.at - b.at);
    if (planned) {
      const firstDue = await this.pacer.dueAt(job.tenantId, (sends[0] as PlannedSend).at);
      const earlyMs = firstDue - Date.now();
      if (earlyMs > EARLY_LIMIT_MS) return this.settlement.reschedule(job, earlyMs - SLICE_LEAD_MS, 'the tenant slowed down since it was planned');
    }
    const steps: Promise<JobResult>[] = [];
    try {
      for (const send of sends) {
        const due = planned ? await this.pacer.dueAt(job.tenantId, send.at) : send.at;
        await this.budget.wait(due - PREPARE_MS - Date.now());
        const { recipientKey, recipient, at, route, etag } = send;
        steps.push(
          deliverOne({
            v: 1,
            kind: 'deliver',
            notificationId: job.notificationId,
            recipientKey,
            recipient,
            attempt: 0,
            throttled: 0,
            at,
            ...(route !== undefined && { route }),
            ...(etag !== undefined && { etag }),
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
    return { kind: 'sliced', sends: sends.length, results };
  }
}
