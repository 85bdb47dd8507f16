import type { SendBudget } from '../delivery/sendBudget';
import type { TenantPacer } from '../pacing/tenantPacer';
import type { ReplyPacing } from './botEndpoint';

/**
 * How long a reply may wait in its turn for the tenant's next send time. Teams gives a bot's turn
 * about 15 s; a 429's usual `Retry-After` (1 s) fits, a long pause does not.
 */
export const MAX_REPLY_WAIT_MS = 5_000;

/** A reply that could not go out within its turn: the turn fails, loudly, rather than drop it. */
export class ReplyNotSentError extends Error {
  override name = 'ReplyNotSentError';
}

/**
 * Replies to a user's own message (help, stop, start) stay in the turn, but take their token from
 * the tenant's shared timeline, not only from this process's bucket: the bot endpoint may run on
 * an instance that sends nothing else, and its bucket cannot see the other instances' sends,
 * whereas a time on the timeline is one no planned send uses, on any instance. The reply takes the
 * urgent lane, so a person's answer does not wait behind a broadcast's backlog (the bulk work not
 * yet planned moves back by one send). It costs a table read and write per reply, and replies come
 * one per message a person types. The bucket is then taken too, as every send does here.
 */
export class TimelineReplyPacing implements ReplyPacing {
  constructor(
    private readonly pacer: TenantPacer,
    private readonly budget: SendBudget,
    private readonly maxWaitMs = MAX_REPLY_WAIT_MS,
  ) {}

  async beforeReply(tenantId: string): Promise<void> {
    const reservation = await this.pacer.reserve(tenantId, 1, Date.now(), 'urgent');
    // A time on the plan's clock is due later by every pause Teams asked for since (see TenantPacer.dueAt).
    const waitMs = Math.max(reservation.startAt + reservation.shiftMs - Date.now(), this.budget.pausedFor(tenantId));
    if (waitMs > this.maxWaitMs) {
      throw new ReplyNotSentError(`tenant ${tenantId} is paused by Teams for ${Math.round(waitMs / 1000)} s more; the reply is not sent`);
    }
    await this.budget.wait(waitMs);
    await this.budget.take(tenantId);
  }

  async throttled(tenantId: string, retryAfterMs: number | undefined): Promise<void> {
    const ms = retryAfterMs ?? 1_000;
    this.budget.pause(tenantId, ms);
    // Every instance learns of it, as when a notification meets a 429.
    await this.pacer.throttled(tenantId, ms);
  }
}
