import { firstCancelPass } from '../cancelling/cancelPass';
import { firstJob, type Job, type PlanJob } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import { isFanOut, recipientKey, type Recipient } from '../domain/recipient';
import type { QueuedJob } from '../queue/jobQueue';
import type { RecipientListStore } from '../stores/recipientListStore';
import type { NewDelivery } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { JobQueue } from '../queue/jobQueue';
import { planTargets, type PlanDependencies } from './planTargets';

/** Entries planned per job: about two seconds of one tenant's timeline, a few hundred milliseconds of work. */
export const PLAN_PAGE_SIZE = 100;
/**
 * Planning runs at most this far ahead of a tenant's sends. A tenant's backlog is scheduled
 * slices, which hold up no other tenant, and a 429 slows the tenant's clock for the sends already
 * planned, so it can be well ahead: far enough that a listing reaches the next tenant's users
 * after about five hundred of one tenant's without waiting (real Teams user ids are opaque, so
 * tenants interleave in a listing of all users anyway). Not further, because the rate a tenant
 * recovers to after its 429s only reaches sends planned afterwards.
 */
export const PLAN_AHEAD_MS = 10_000;

export interface RequestPlanningDependencies extends PlanDependencies {
  readonly notifications: NotificationStore;
  readonly recipientLists: RecipientListStore;
  readonly queue: JobQueue;
}

export type PlanOutcome =
  | { readonly kind: 'planned'; readonly recipients: number; readonly slices: number; readonly more: boolean }
  | { readonly kind: 'ignored'; readonly why: string };

/**
 * The request's own entries, a page per job: targets become rows and slices; fan-out entries
 * (allUsers, teamMembers, ...) become rows and expansion jobs of their own. The next page is
 * planned once the tenants' sends planned so far come within `PLAN_AHEAD_MS`.
 */
export class RequestPlanning {
  private readonly lists = new Map<string, readonly Recipient[]>();

  constructor(private readonly deps: RequestPlanningDependencies) {}

  async plan(job: PlanJob, notification: NotificationRecord): Promise<PlanOutcome> {
    if (notification.cancelled === true) {
      // Not just marked planned: the DELETE may have died before queuing its pass, and the entries
      // not planned yet need their born-skipped rows for the counts to add up. The pass marks it
      // planned when done; a second one beside the DELETE's writes nothing new. The creation time
      // as its round: a redelivered plan job queues the same message, which Service Bus drops.
      if (notification.planning === true) await this.deps.queue.enqueue([{ job: firstCancelPass(notification.id, Date.parse(notification.createdAt), true) }]);
      return { kind: 'ignored', why: 'the notification was cancelled' };
    }
    const entries = await this.entries(notification);
    const page = entries.slice(job.offset, job.offset + PLAN_PAGE_SIZE);
    const rows: NewDelivery[] = page.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient }));
    const fanOuts = rows.filter((row) => isFanOut(row.recipient));
    const targets = rows.filter((row) => !isFanOut(row.recipient));

    const jobs: QueuedJob[] = [];
    if (fanOuts.length > 0) {
      await this.deps.deliveries.createPending(notification.id, fanOuts);
      const notBefore = dueAt(notification);
      for (const row of fanOuts) jobs.push({ job: firstJob(notification.id, row.recipientKey, row.recipient), ...(notBefore !== undefined && { notBefore }) });
    }
    const planned = await planTargets(notification, targets, `plan@${job.offset}`, this.deps);
    jobs.push(...planned.slices);

    const nextOffset = job.offset + page.length;
    const more = nextOffset < entries.length;
    if (more) {
      const next: Job = { v: 1, kind: 'plan', notificationId: notification.id, offset: nextOffset };
      const waitMs = planned.backlogMs - PLAN_AHEAD_MS;
      jobs.push({ job: next, ...(waitMs > 0 && { notBefore: new Date(Date.now() + waitMs) }) });
    }
    await this.deps.queue.enqueue(jobs);
    if (!more) {
      await this.deps.notifications.markPlanned(notification.id);
      this.lists.delete(notification.id);
    }
    return { kind: 'planned', recipients: planned.recipients + fanOuts.length, slices: planned.slices.length, more };
  }

  /** A large list is read from its blob once per process, not once per page. */
  private async entries(notification: NotificationRecord): Promise<readonly Recipient[]> {
    if (notification.recipients !== undefined) return notification.recipients;
    const cached = this.lists.get(notification.id);
    if (cached !== undefined) return cached;
    const loaded = await this.deps.recipientLists.load(notification.id);
    if (loaded === undefined) throw new Error(`the recipient list of notification ${notification.id} is missing`);
    if (this.lists.size >= 20) this.lists.delete(this.lists.keys().next().value as string);
    this.lists.set(notification.id, loaded);
    return loaded;
  }
}

function dueAt(notification: NotificationRecord): Date | undefined {
  return notification.sendAt !== undefined && Date.parse(notification.sendAt) > Date.now() ? new Date(notification.sendAt) : undefined;
}
