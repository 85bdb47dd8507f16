import type { CancelJob } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import { recipientKey, recipientTenant, type Recipient } from '../domain/recipient';
import type { JobResult } from '../delivery/settlement';
import type { JobQueue, QueuedJob } from '../queue/jobQueue';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { RecipientListStore } from '../stores/recipientListStore';
import type { DeliveryMetrics } from '../telemetry/deliveryMetrics';

/** How a cancelled recipient ends. */
export const CANCELLED = { status: 'skipped', reason: 'cancelled', detail: 'the notification was cancelled' } as const;

export interface CancelPassOptions {
  /** Pending rows read (and ended, one transaction each) per page. */
  readonly pageSize: number;
  /** Pages per job: bounded work per job, few hops through the queue. */
  readonly pagesPerJob: number;
  /** Request entries given a born-skipped row per job. */
  readonly entriesPerJob: number;
  /** A pass that met rows held by a worker runs again this long after. */
  readonly passIntervalMs: number;
  /** Passes at most: a claim runs out within minutes; what is left after is the sweeper's. */
  readonly maxPasses: number;
}

export const DEFAULT_CANCEL_PASS_OPTIONS: CancelPassOptions = { pageSize: 100, pagesPerJob: 10, entriesPerJob: 1000, passIntervalMs: 10_000, maxPasses: 15 };

export interface CancelPassDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly recipientLists: RecipientListStore;
  readonly metrics: DeliveryMetrics;
  readonly queue: JobQueue;
}

/** Another pass over the rows, for rows a worker held when the last one looked. */
export function laterCancelPass(notificationId: string, round: number, pass: number): CancelJob {
  return { v: 1, kind: 'cancel', notificationId, round, page: 0, pass, held: 0 };
}

/** The first job of a cancel: from the request's entries when planning had not finished, else from the rows. */
export function firstCancelPass(notificationId: string, round: number, planning: boolean): CancelJob {
  return { v: 1, kind: 'cancel', notificationId, round, ...(planning && { offset: 0 }), page: 0, pass: 0, held: 0 };
}

/**
 * The background half of `DELETE /api/notifications/{id}`: the record already says cancelled, so
 * workers skip what they meet. Entries not planned yet get rows born skipped (so the counts account
 * for every entry), then every pending row nobody holds ends skipped / cancelled, a page at a
 * time, each job handing the rest to the next. A row a worker holds is left to it: that send
 * ends delivered or, once the worker sees the cancel, skipped; never both. A pass that met such
 * rows runs again a little later, for rows whose worker died holding them.
 */
export class CancelPass {
  constructor(
    private readonly deps: CancelPassDependencies,
    private readonly options: CancelPassOptions = DEFAULT_CANCEL_PASS_OPTIONS,
  ) {}

  async run(job: CancelJob, notification: NotificationRecord): Promise<JobResult> {
    if (notification.cancelled !== true) return { kind: 'ignored', why: 'the notification is not cancelled' };
    return job.offset !== undefined ? this.entries(job, job.offset, notification) : this.rows(job);
  }

  /** Rows born skipped for a page of the request's entries (create-if-absent: rows a planner wrote stay, and the row pass ends them). */
  private async entries(job: CancelJob, offset: number, notification: NotificationRecord): Promise<JobResult> {
    const all = await entriesOf(notification, this.deps.recipientLists);
    const page = all.slice(offset, offset + this.options.entriesPerJob);
    const created = await this.deps.deliveries.createPending(job.notificationId, page.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient, settled: CANCELLED })));
    for (const recipient of page) if (created.has(recipientKey(recipient))) this.deps.metrics.ended(CANCELLED, recipientTenant(recipient));
    const nextOffset = offset + page.length;
    const more = nextOffset < all.length;
    if (!more) await this.deps.notifications.markPlanned(job.notificationId);
    // Then the rows, from the first page: rows a planner wrote before it saw the cancel are pending.
    const next: CancelJob = more ? { ...job, offset: nextOffset, hop: 0, faults: 0 } : { v: 1, kind: 'cancel', notificationId: job.notificationId, round: job.round, page: 0, pass: 0, held: 0 };
    await this.deps.queue.enqueue([{ job: next }]);
    return { kind: 'planned', recipients: created.size, slices: 0, more: true };
  }

  /** Up to `pagesPerJob` pages of pending rows ended; the next job continues, or another pass follows. */
  private async rows(job: CancelJob): Promise<JobResult> {
    let token = job.continuationToken;
    let held = job.held;
    let ended = 0;
    let pages = 0;
    do {
      const page = await this.deps.deliveries.endUnclaimedPage(job.notificationId, CANCELLED, token, this.options.pageSize);
      ended += page.ended;
      // A page of rows ended in one transaction: their tenants are not read, so they count as unknown.
      this.deps.metrics.ended(CANCELLED, undefined, page.ended);
      held += page.held;
      token = page.continuationToken;
      pages += 1;
    } while (token !== undefined && pages < this.options.pagesPerJob);

    const jobs: QueuedJob[] = [];
    if (token !== undefined) {
      jobs.push({ job: { ...job, continuationToken: token, page: job.page + pages, held, hop: 0, faults: 0 } });
    } else if (held > 0 && job.pass + 1 < this.options.maxPasses) {
      jobs.push({ job: laterCancelPass(job.notificationId, job.round, job.pass + 1), notBefore: new Date(Date.now() + this.options.passIntervalMs) });
    }
    await this.deps.queue.enqueue(jobs);
    return { kind: 'planned', recipients: ended, slices: 0, more: jobs.length > 0 };
  }
}

async function entriesOf(record: NotificationRecord, lists: RecipientListStore): Promise<readonly Recipient[]> {
  return record.recipients ?? (await lists.load(record.id)) ?? [];
}
