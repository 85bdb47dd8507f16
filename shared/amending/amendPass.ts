import type { AmendJob, AmendItem, AmendSliceJob, Job } from '../domain/job';
import type { DeliveryRecord, NotificationRecord } from '../domain/notification';
import { cut, sliceId, SLICE_LEAD_MS } from '../planning/planTargets';
import type { QueuedJob } from '../queue/jobQueue';
import type { DeliveryDependencies, JobResult } from '../delivery/settlement';
import { sentMessageOf } from './sentMessage';

/** Rows read per amend job. */
const AMEND_PAGE_SIZE = 100;
/** A pass that saw sends in flight runs again this long after, so those are changed once they land. */
const PASS_INTERVAL_MS = 10_000;
/** Passes at most: a claim runs out within minutes, so in-flight sends land (or fail) long before. */
const MAX_PASSES = 15;
/** The earliest an amend may be: time for its slice to reach a worker. */
const FIRST_LEAD_MS = 500;

/**
 * One page of an edit's or a recall's pass over the notification's rows: each delivered row that
 * needs the change gets a time on its tenant's timeline (ahead of bulk sends: a correction or a
 * recall is urgent), cut into amend slices like sends are. Pending rows need nothing: an edit
 * reaches them when they are sent, and a recall cancelled them. Rows being sent right now are
 * counted, and the pass runs again once they may have landed.
 */
export class AmendPass {
  constructor(private readonly deps: DeliveryDependencies) {}

  async run(job: AmendJob, notification: NotificationRecord): Promise<JobResult> {
    const { deliveries, conversations, pacer, queue } = this.deps;
    const page = await deliveries.list(job.notificationId, job.continuationToken, AMEND_PAGE_SIZE);
    const now = Date.now();
    // In flight: sends that may land after this pass. For an edit, those claimed now; for a recall,
    // any still pending (a worker whose cached record did not say cancelled yet may send them).
    const inFlight =
      job.inFlight +
      page.items.filter((row) => row.status === 'pending' && (job.action === 'recall' || (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > now))).length;

    const byTenant = new Map<string, DeliveryRecord[]>();
    for (const row of page.items.filter((r) => needsChange(r, job, notification))) {
      const sent = await sentMessageOf(row, conversations);
      // A row the references can no longer place is left as it is; its status says delivered.
      if (sent === undefined) continue;
      const list = byTenant.get(sent.to.tenantId) ?? [];
      list.push(row);
      byTenant.set(sent.to.tenantId, list);
    }

    const jobs: QueuedJob[] = [];
    let changes = 0;
    for (const [tenantId, rows] of byTenant) {
      const reservation = await pacer.reserve(tenantId, rows.length, now + FIRST_LEAD_MS, 'urgent');
      const items = rows.map((row, i): AmendItem => ({ recipientKey: row.recipientKey, at: Math.round(reservation.startAt + i * reservation.spacingMs), attempt: 0, throttled: 0 }));
      changes += items.length;
      cut(items).forEach((part, index) => {
        const slice: AmendSliceJob = {
          v: 1,
          kind: 'amendSlice',
          notificationId: job.notificationId,
          tenantId,
          action: job.action,
          sliceId: sliceId(`${job.action}:${job.round}:${job.pass}:${job.page}`, tenantId, index),
          items: part,
        };
        const visibleAt = (part[0] as AmendItem).at + reservation.shiftMs - SLICE_LEAD_MS;
        jobs.push({ job: slice, ...(visibleAt > now && { notBefore: new Date(visibleAt) }) });
      });
    }

    const more = page.continuationToken !== undefined;
    if (more) {
      jobs.push({ job: { ...job, continuationToken: page.continuationToken, page: job.page + 1, inFlight, hop: 0, faults: 0 } });
    } else if (inFlight > 0 && job.pass + 1 < MAX_PASSES) {
      const again: Job = { v: 1, kind: 'amend', notificationId: job.notificationId, action: job.action, round: job.round, page: 0, pass: job.pass + 1, inFlight: 0 };
      jobs.push({ job: again, notBefore: new Date(now + PASS_INTERVAL_MS) });
    }
    await queue.enqueue(jobs);
    const again = more || (inFlight > 0 && job.pass + 1 < MAX_PASSES);
    return { kind: 'planned', recipients: changes, slices: jobs.length - (again ? 1 : 0), more };
  }
}

/** A delivered message that does not have what the notification says now: an older version, or any version once recalled. */
export function needsChange(row: DeliveryRecord, job: Pick<AmendJob, 'action'>, notification: NotificationRecord): boolean {
  if (row.status !== 'delivered' || row.activityId === undefined) return false;
  return job.action === 'recall' || (row.version ?? 1) < (notification.messageVersion ?? 1);
}
