import type { DeliverJob, PlannedSend, SliceJob } from '../domain/job';
import { EARLY_LIMIT_MS, SLICE_LEAD_MS, UNRESOLVED_TENANT } from '../planning/planTargets';
import type { DeliveryRecord } from '../domain/notification';
import { rowAsCreated } from './recipientDelivery';
import type { DeliveryDependencies, JobResult, Rescheduled, Settlement } from './settlement';

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
    private readonly deps: Pick<DeliveryDependencies, 'budget' | 'pacer' | 'deliveries' | 'options'>,
    private readonly settlement: Settlement,
  ) {}

  /**
   * `deliverOne` is one recipient's delivery step, with its own fault handling; `claimed` is its
   * row when the slice claimed it already.
   */
  async run(job: SliceJob, deliverOne: (job: DeliverJob, claimed?: DeliveryRecord) => Promise<JobResult>): Promise<SliceOutcome> {
    const { budget, pacer } = this.deps;
    const planned = job.tenantId !== UNRESOLVED_TENANT;
    if (planned) budget.setRate(job.tenantId, await pacer.rate(job.tenantId));
    const sends = [...job.sends].sort((a, b) => a.at - b.at);
    if (planned) {
      const firstDue = await pacer.dueAt(job.tenantId, (sends[0] as PlannedSend).at);
      const earlyMs = firstDue - Date.now();
      if (earlyMs > EARLY_LIMIT_MS) return this.settlement.reschedule(job, earlyMs - SLICE_LEAD_MS, 'the tenant slowed down since it was planned');
    }
    const claimed = await this.claimAsCreated(job);
    const steps: Promise<JobResult>[] = [];
    const started = new Set<string>();
    const letGo = async () => {
      const unstarted = [...(claimed?.values() ?? [])].filter((row) => !started.has(row.recipientKey));
      if (unstarted.length > 0) await this.deps.deliveries.updateAll(unstarted, { leaseUntil: '' }).catch(() => undefined);
    };
    let deferred = 0;
    try {
      for (const [index, send] of sends.entries()) {
        const due = planned ? await pacer.dueAt(job.tenantId, send.at) : send.at;
        if (planned && due - Date.now() > EARLY_LIMIT_MS) {
          // Teams paused the tenant meanwhile: the rest of the slice goes back to the queue until
          // shortly before its time, rather than hold its claims (and a worker) through the pause.
          const rest = sends.slice(index);
          await this.settlement.reschedule({ ...job, sends: rest }, due - Date.now() - SLICE_LEAD_MS, 'the tenant was paused');
          await letGo();
          deferred = rest.length;
          break;
        }
        await budget.wait(due - PREPARE_MS - Date.now());
        const { recipientKey, recipient, at, route, etag } = send;
        const deliver: DeliverJob = {
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
        };
        started.add(recipientKey);
        const step = deliverOne(deliver, claimed?.get(recipientKey));
        // Handled below, once the loop ends; until then a step that fails must not count as unhandled.
        step.catch(() => undefined);
        steps.push(step);
      }
    } catch (error) {
      // Stopping (or a fault): the recipients not started are let go at once, so the slice's
      // redelivery sends them now rather than after their claims run out.
      await letGo();
      throw error;
    } finally {
      // Stopping or not, the sends already started finish and record what Teams answered.
      await Promise.allSettled(steps);
    }
    const results: Record<string, number> = deferred > 0 ? { deferred } : {};
    for (const step of await Promise.allSettled(steps)) {
      if (step.status === 'rejected') throw step.reason;
      results[step.value.kind] = (results[step.value.kind] ?? 0) + 1;
    }
    return { kind: 'sliced', sends: sends.length, results };
  }

  /**
   * The rows planning created for this slice, claimed in one transaction with their creation
   * ETags: one table round trip for the slice instead of one per recipient. If any of them changed
   * since (a copy of the slice got there first, a cancel, a sweep), none is claimed here, and each
   * recipient's step claims its own row as usual.
   */
  private async claimAsCreated(job: SliceJob): Promise<ReadonlyMap<string, DeliveryRecord> | undefined> {
    const rows = job.sends.map((send) => rowAsCreated(job.notificationId, send));
    const fresh = rows.filter((row): row is DeliveryRecord => row !== undefined);
    if (fresh.length < 2) return undefined;
    return this.deps.deliveries.updateAll(fresh, { leaseUntil: new Date(Date.now() + this.deps.options.leaseMs).toISOString() });
  }
}
