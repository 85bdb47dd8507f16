import { randomUUID } from 'node:crypto';
import type { WelcomeContent, WelcomeJob, WelcomeSend } from '../domain/welcomeJob';
import { throttleDelayMs, transientDelayMs } from '../delivery/backoff';
import type { DeliveryOptions } from '../delivery/deliveryWorker';
import type { SendBudget } from '../delivery/sendBudget';
import type { Logger } from '../logger';
import { groupChatWelcome, personalWelcome, teamWelcome, type BotMessageSettings } from '../messages/botMessages';
import type { TenantPacer } from '../pacing/tenantPacer';
import { cut } from '../planning/planTargets';
import type { JobQueue, QueuedJob } from '../queue/jobQueue';
import type { WelcomeStore } from '../stores/welcomeStore';
import type { OutgoingMessage, TeamsSender } from '../teams/teamsSender';

/** What a welcome needs: the same pacing, budget, sender and queue as a notification. */
export interface WelcomeDependencies {
  readonly welcomes: WelcomeStore;
  readonly sender: TeamsSender;
  readonly pacer: TenantPacer;
  readonly budget: SendBudget;
  readonly queue: JobQueue;
  readonly settings: BotMessageSettings;
  readonly options: WelcomeOptions;
}

/** The delivery settings that apply to welcomes as they do to notifications. */
export type WelcomeOptions = Pick<DeliveryOptions, 'maxAttempts' | 'maxThrottles' | 'backoff' | 'leaseMs' | 'maxRetryAfterMs' | 'maxInlineWaitMs' | 'maxFaults' | 'random'>;

/** What one welcome came to. */
export type WelcomeResult =
  | { readonly kind: 'sent'; readonly activityId: string }
  | { readonly kind: 'failed'; readonly reason: string; readonly detail: string }
  | { readonly kind: 'rescheduled'; readonly delayMs: number; readonly why: string }
  | { readonly kind: 'ignored'; readonly why: string };

/**
 * A welcome job is due this long before its first send time: Azurite's visibility delay has whole
 * seconds, and the worker leases each welcome before its time, then waits for it.
 */
const LEAD_MS = 1_500;
/**
 * Never due sooner than this: a retry is enqueued just before its lease is handed back, and a copy
 * that came at once would find the lease still held.
 */
const MIN_DELAY_MS = 500;

export function renderWelcome(welcome: WelcomeContent, settings: BotMessageSettings): OutgoingMessage {
  switch (welcome.kind) {
    case 'personal':
      return personalWelcome(settings);
    case 'team':
      return teamWelcome(settings, welcome.addedBy, welcome.teamName);
    case 'groupChat':
      return groupChatWelcome(settings, welcome.addedBy);
  }
}

/**
 * Sends one welcome whose lease the caller holds, at its time on the tenant's timeline, and
 * settles what Teams answered the way a notification's delivery does: 429 pauses and slows the
 * tenant everywhere and retries, a transient failure retries with backoff, anything else is
 * recorded on the welcome's row and logged. Used inline by the bot and by the queued welcome job.
 */
export class WelcomeSender {
  constructor(private readonly deps: WelcomeDependencies) {}

  async attempt(send: WelcomeSend, log: Logger, progress: { sent: boolean } = { sent: false }): Promise<WelcomeResult> {
    const { budget, pacer, options } = this.deps;
    const tenantId = send.to.tenantId;
    try {
      const paused = budget.pausedFor(tenantId);
      if (paused > options.maxInlineWaitMs) return await this.retryLater({ ...send, hop: send.hop + 1 }, paused, 'tenant throttled by Teams', true);
      budget.setRate(tenantId, await pacer.rate(tenantId));
      await budget.wait((await pacer.dueAt(tenantId, send.at)) - Date.now());
      // The bucket has the last word, as for notifications: a welcome picked up late (a queue's
      // delay is coarse) is smoothed into the tenant's rate instead of bursting with the others.
      await budget.take(tenantId);
      const outcome = await this.deps.sender.send(send.to, renderWelcome(send.welcome, this.deps.settings));
      switch (outcome.kind) {
        case 'delivered':
          progress.sent = true;
          await this.deps.welcomes.finish(send.key, send.claimId, { status: 'sent', activityId: outcome.activityId });
          return { kind: 'sent', activityId: outcome.activityId };
        case 'throttled': {
          const retryAfterMs = outcome.retryAfterMs === undefined ? undefined : Math.min(outcome.retryAfterMs, options.maxRetryAfterMs);
          const delayMs = throttleDelayMs(retryAfterMs, send.throttled, options.backoff, options.random);
          budget.pause(tenantId, retryAfterMs ?? delayMs);
          await pacer.throttled(tenantId, retryAfterMs ?? delayMs);
          if (send.throttled + 1 > options.maxThrottles) return await this.fail(send, 'retries-exhausted', `throttled ${send.throttled + 1} times: ${outcome.detail}`, log);
          return await this.retryLater({ ...send, throttled: send.throttled + 1 }, delayMs, `throttled: ${outcome.detail}`, true);
        }
        case 'transient': {
          if (send.attempt + 1 >= options.maxAttempts) return await this.fail(send, 'retries-exhausted', `${send.attempt + 1} attempts failed; last: ${outcome.detail}`, log);
          const delayMs = transientDelayMs(send.attempt, options.backoff, options.random);
          return await this.retryLater({ ...send, attempt: send.attempt + 1 }, delayMs, `transient: ${outcome.detail}`, true);
        }
        default:
          return await this.fail(send, outcome.kind, outcome.detail, log);
      }
    } catch (error) {
      // Unsent: give the lease back so the retry that follows the error can take it at once. Sent:
      // the lease keeps a second send off until it runs out (the crash window, see README).
      if (!progress.sent) await this.deps.welcomes.handBack(send.key, send.claimId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A retry gets a send time of its own on the tenant's timeline, no earlier than its backoff
   * allows, so retries add to nobody's rate. The job is enqueued before the lease is handed back:
   * a crash in between leaves a job that waits for the lease to run out, never no job.
   */
  async retryLater(send: WelcomeSend, delayMs: number, why: string, holding: boolean): Promise<WelcomeResult> {
    const at = await this.deps.pacer.reserveOne(send.to.tenantId, Date.now() + delayMs);
    await this.schedule([{ ...send, at }], `${send.claimId}:a${send.attempt}:t${send.throttled}:h${send.hop}`);
    if (holding) await this.deps.welcomes.handBack(send.key, send.claimId);
    return { kind: 'rescheduled', delayMs, why };
  }

  /**
   * Enqueues welcomes of one tenant as jobs of about a second of its timeline each, every job due
   * a little before its first send time. `batchId` names a retry step, so a second enqueue of the
   * same step gets the same message id (Service Bus drops it).
   */
  async schedule(sends: readonly WelcomeSend[], batchId: string = randomUUID()): Promise<void> {
    const chunks = cut([...sends].sort((a, b) => a.at - b.at));
    const now = Date.now();
    const jobs: QueuedJob<WelcomeJob>[] = [];
    for (const [i, chunk] of chunks.entries()) {
      const first = chunk[0] as WelcomeSend;
      const due = await this.deps.pacer.dueAt(first.to.tenantId, first.at);
      jobs.push({
        job: { v: 1, kind: 'welcome', tenantId: first.to.tenantId, batchId: chunks.length === 1 ? batchId : `${batchId}:${i}`, sends: chunk },
        notBefore: new Date(Math.max(due - LEAD_MS, now + MIN_DELAY_MS)),
      });
    }
    await this.deps.queue.enqueue(jobs);
  }

  /** Teams refused it for good (or retries ran out): recorded on the row, so the installation is not welcomed again. */
  private async fail(send: WelcomeSend, reason: string, detail: string, log: Logger): Promise<WelcomeResult> {
    await this.deps.welcomes.finish(send.key, send.claimId, { status: 'failed', reason, detail });
    log.warn(`${send.to.conversationType} welcome not sent: ${reason} ${detail}`, { jobKind: 'welcome', outcome: 'failed', reason, tenantId: send.to.tenantId, recipient: send.to.conversationId });
    return { kind: 'failed', reason, detail };
  }
}
