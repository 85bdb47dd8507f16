import type { DeliverJob, PlannedSend, SliceJob } from '../domain/job';
import type { TenantPacer } from '../pacing/tenantPacer';
import { SLICE_LEAD_MS, UNRESOLVED_TENANT } from '../planning/planTargets';
import type { JobQueue } from '../queue/jobQueue';
import { LATE_TOLERANCE_MS } from './recipientDelivery';
import type { JobResult } from './settlement';
import type { SendBudget } from './sendBudget';

/**
 * How long before its due time a recipient's step starts: its claim and lookups take some
 * milliseconds of storage I/O, and the send itself must leave on time, not after them.
 */
const PREPARE_MS = 250;

export interface SliceOutcome {
  readonly kind: 'sliced';
  readonly sends: number;
  /** How each recipient's step ended, by result kind (delivered, failed, skipped, rescheduled, ignored, ...). */
  readonly results: Readonly<Record<string, number>>;
  /** Sends that ran late and were planned anew, in a slice of their own. */
  readonly replanned: number;
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
    private readonly queue: JobQueue,
  ) {}

  /** `deliverOne` is one recipient's delivery step, with its own fault handling. */
  async run(job: SliceJob, deliverOne: (job: DeliverJob) => Promise<JobResult>): Promise<SliceOutcome> {
    const planned = job.tenantId !== UNRESOLVED_TENANT;
    if (planned) this.budget.setRate(job.tenantId, await this.pacer.rate(job.tenantId));
    const sends = [...job.sends].sort((a, b) => a.at - b.at);
    const replannable = (job.hop ?? 0) === 0;
    const steps: Promise<JobResult>[] = [];
    let late: PlannedSend[] = [];
    try {
      for (const [index, send] of sends.entries()) {
        const due = planned ? await this.pacer.dueAt(job.tenantId, send.at) : send.at;
        await this.budget.wait(due - PREPARE_MS - Date.now());
        // Late (picked up late, or the process was busy): the rest is planned anew, once; a
        // slice that is late again sends through this process's bucket.
        if (planned && replannable && Date.now() > due + LATE_TOLERANCE_MS) {
          late = sends.slice(index);
          break;
        }
        steps.push(deliverOne({ v: 1, kind: 'deliver', notificationId: job.notificationId, recipientKey: send.recipientKey, recipient: send.recipient, attempt: 0, throttled: 0, at: send.at, ...(!replannable && { replans: 1 }) }));
      }
    } finally {
      // Stopping or not, the sends already started finish and record what Teams answered.
      await Promise.allSettled(steps);
    }
    if (late.length > 0) await this.replan(job, late);
    const results: Record<string, number> = {};
    for (const step of await Promise.allSettled(steps)) {
      if (step.status === 'rejected') throw step.reason;
      results[step.value.kind] = (results[step.value.kind] ?? 0) + 1;
    }
    return { kind: 'sliced', sends: sends.length - late.length, results, replanned: late.length };
  }

  /** The late rest of a slice gets new times at the end of the tenant's timeline, as a slice of its own. */
  private async replan(job: SliceJob, late: readonly PlannedSend[]): Promise<void> {
    const reservation = await this.pacer.reserve(job.tenantId, late.length, Date.now(), 'bulk');
    const sends = late.map((send, i) => ({ ...send, at: Math.round(reservation.startAt + i * reservation.spacingMs) }));
    const hop = (job.hop ?? 0) + 1;
    const visibleAt = reservation.startAt + reservation.shiftMs - SLICE_LEAD_MS;
    await this.queue.enqueue([
      { job: { ...job, sliceId: `${job.sliceId}~${hop}`, sends, hop }, ...(visibleAt > Date.now() && { notBefore: new Date(visibleAt) }) },
    ]);
  }
}
