import type { DeliverJob } from '../domain/job';
import type { DeliveryRecord, NotificationRecord } from '../domain/notification';
import { conversationSubject, userSubject } from '../domain/optOut';
import type { SendFailure, SendOutcome } from '../domain/outcome';
import type { TargetRecipient } from '../domain/recipient';
import { channelOf, type TeamReference, type UserReference } from '../domain/reference';
import type { Logger } from '../logger';
import { renderMessage } from '../messages/renderMessage';
import type { BotEndpointAddress, OutgoingMessage } from '../teams/teamsSender';
import { throttleDelayMs, transientDelayMs } from './backoff';
import { landingOf, resolveTarget, type InstallTarget, type Landing, type ResolvedTarget, type SendableTarget } from './resolveTarget';
import type { Route } from '../domain/route';
import type { ConversationStore } from '../stores/conversationStore';
import { EARLY_LIMIT_MS } from '../planning/planTargets';
import { Settlement, type DeliveryDependencies, type JobResult } from './settlement';

/** A planned send later than this is planned anew (once): at 50 a second a sliding second has about 25 ms to spare. */
const LATE_TOLERANCE_MS = 25;

/** A send planned anew for a time at most this far off waits for it in place instead of in the queue. */
const INLINE_REPLAN_MS = 1_000;

/** A claim with less than this left is renewed before a send goes out on it. */
const MIN_CLAIM_LEFT_MS = 30_000;

/** How many times a job re-reads its row when another writer got there first. */
const MAX_CLAIM_ROUNDS = 3;

/**
 * One recipient, one attempt: claim the row (ETag lease), resolve where the message goes, check
 * the allow-list and opt-out, send within the tenant's budget, and settle what Teams answered.
 */
export class RecipientDelivery {
  private readonly settlement: Settlement;

  constructor(private readonly deps: DeliveryDependencies) {
    this.settlement = new Settlement(deps);
  }

  /** `claimed`: the row, claimed already for this job (a slice claims its rows together). */
  async deliver(job: DeliverJob, notification: NotificationRecord, log: Logger, claimed?: DeliveryRecord): Promise<JobResult> {
    if (claimed !== undefined) return this.claimedAttempt(job, claimed, notification, log);
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const row = round === 0 ? (asCreated(job) ?? (await this.deps.deliveries.get(job.notificationId, job.recipientKey))) : await this.deps.deliveries.get(job.notificationId, job.recipientKey);
      if (row === undefined) return { kind: 'ignored', why: 'no delivery row' };
      if (row.status !== 'pending') return { kind: 'ignored', why: `already ${row.status}` };

      const now = Date.now();
      const ended = await this.notSendable(job, row, notification, log, false);
      if (ended !== undefined) return ended;
      if (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > now) {
        // Another copy of this job is sending right now (a redelivery after a lost lock, or a
        // resumed request). Look again once its claim runs out, in case that worker died.
        // (Soon, not only when the claim runs out: the holder may be a copy that is handing the
        // recipient back right now, as a retry that was enqueued a moment before its claim was let go.)
        const leftMs = Date.parse(row.leaseUntil) - now + 1000;
        return this.settlement.reschedule(job, Math.min(leftMs, 2_000 * 2 ** Math.min(job.hop ?? 0, 6)), 'another worker holds the recipient');
      }
      const claim = await this.deps.deliveries.update(row, { leaseUntil: new Date(now + this.deps.options.leaseMs).toISOString() });
      if (claim.kind === 'stale') continue;
      return this.claimedAttempt(job, claim.row, notification, log);
    }
    return { kind: 'ignored', why: 'the delivery row kept changing; another worker has it' };
  }

  /** A pending row that must not be sent now: the notification is not due, cancelled or expired. `held`: we hold its claim. */
  private async notSendable(job: DeliverJob, row: DeliveryRecord, notification: NotificationRecord, log: Logger, held: boolean): Promise<JobResult | undefined> {
    const now = Date.now();
    const due = notification.sendAt !== undefined ? Date.parse(notification.sendAt) : now;
    if (due > now + 1000) {
      // The copy first, then a claim we hold is let go: a crash in between leaves a copy that
      // waits out the claim, never a recipient with no job.
      const result = await this.settlement.reschedule(job, due - now, 'not due yet');
      if (held) await this.deps.deliveries.update(row, { leaseUntil: '' });
      return result;
    }
    if (notification.cancelled === true) return this.settlement.finish(row, 'skipped', 'cancelled', 'the notification was cancelled', log);
    if (notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= now) {
      return this.settlement.finish(row, 'failed', 'expired', `expired at ${notification.expiresAt} before it could be sent`, log);
    }
    return undefined;
  }

  private async claimedAttempt(job: DeliverJob, claimed: DeliveryRecord, notification: NotificationRecord, log: Logger): Promise<JobResult> {
    let row = claimed;
    if (row.leaseUntil === undefined || Date.parse(row.leaseUntil) - Date.now() < MIN_CLAIM_LEFT_MS) {
      // A claim about to run out is renewed before anything is sent on it; if the row changed
      // meanwhile, another copy has the recipient now.
      const renewed = await this.deps.deliveries.update(row, { leaseUntil: new Date(Date.now() + this.deps.options.leaseMs).toISOString() });
      if (renewed.kind === 'stale') return { kind: 'ignored', why: 'the claim ran out and another worker has the recipient' };
      row = renewed.row;
    }
    const progress = { delivered: false };
    try {
      return (await this.notSendable(job, row, notification, log, true)) ?? (await this.attempt(job, row, notification, log, progress));
    } catch (error) {
      // Let the redelivery that follows a throw claim the recipient at once, unless Teams already
      // took the message: then the lease keeps a second send off until it runs out.
      if (!progress.delivered) await this.deps.deliveries.update(row, { leaseUntil: '' }).catch(() => undefined);
      throw error;
    }
  }

  private async attempt(
    job: DeliverJob,
    row: DeliveryRecord,
    notification: NotificationRecord,
    log: Logger,
    progress: { delivered: boolean },
  ): Promise<JobResult> {
    const resolved = job.route ?? (await resolveTarget(job.recipient, this.deps.conversations, this.deps.install?.reach));
    if (resolved.kind === 'unreachable') {
      if (resolved.tenantId !== undefined && !this.settlement.tenantAllowed(resolved.tenantId)) {
        return this.settlement.finish(row, 'failed', 'tenant-not-allowed', `tenant ${resolved.tenantId} is not in ALLOWED_TENANT_IDS`, log, row.attempts, resolved.tenantId);
      }
      return this.settlement.finish(row, 'failed', resolved.reason, resolved.detail, log, row.attempts, resolved.tenantId);
    }
    if (!this.settlement.tenantAllowed(resolved.at.tenantId)) {
      log.warn('refused delivery: the tenant is not in the allow-list', { tenantId: resolved.at.tenantId, reason: 'tenant-not-allowed' });
      return this.settlement.finish(row, 'failed', 'tenant-not-allowed', `tenant ${resolved.at.tenantId} is not allowed`, log, row.attempts, resolved.at.tenantId);
    }
    const untrusted = this.untrustedServiceUrl(resolved.at, log);
    if (untrusted !== undefined) return this.settlement.finish(row, 'failed', 'untrusted-service-url', untrusted, log, row.attempts, resolved.at.tenantId);
    let target: SendableTarget;
    if (resolved.kind === 'install-personal' || resolved.kind === 'install-team') {
      const installed = await this.installFirst(job, row, resolved, log);
      if (installed.kind === 'result') return installed.result;
      target = installed.route;
      // The route may come from a reference Teams stored meanwhile: checked like any other.
      const refused = this.untrustedServiceUrl(target.at, log);
      if (refused !== undefined) return this.settlement.finish(row, 'failed', 'untrusted-service-url', refused, log, row.attempts, target.at.tenantId);
    } else {
      target = resolved;
    }
    const landing = landingOf(target);
    const optedOut = await this.optedOut(target, landing);
    if (optedOut !== undefined) return this.settlement.finish(row, 'skipped', 'opted-out', optedOut, log, row.attempts, target.at.tenantId);

    const paused = this.deps.budget.pausedFor(target.at.tenantId);
    if (paused > this.deps.options.maxInlineWaitMs) {
      // Teams asked this tenant to wait: hand the recipient back rather than hold its claim through the pause.
      return this.settlement.retryLater({ ...job, hop: (job.hop ?? 0) + 1 }, row, row.attempts, paused, 'tenant throttled by Teams');
    }
    if (job.at !== undefined) {
      // Claimed and looked up ahead of time; now wait for the time the tenant's timeline gave it.
      const due = await this.deps.pacer.dueAt(target.at.tenantId, job.at);
      if (due - Date.now() > EARLY_LIMIT_MS) {
        return this.settlement.retryLater({ ...job, hop: (job.hop ?? 0) + 1 }, row, row.attempts, due - Date.now(), 'not due yet: the tenant slowed down since it was planned');
      }
      await this.deps.budget.wait(due - Date.now());
      const lateMs = Date.now() - due;
      if (lateMs > LATE_TOLERANCE_MS && (job.hop ?? 0) === 0) {
        // Far behind its time, it would crowd the sends other instances make on time into the
        // tenant's limit: plan it anew, once. A little late, it goes when this process's bucket
        // lets it (planning anew costs storage work, and leaves its time unused).
        const again = await this.replanned({ ...job, hop: 1 }, target, 0);
        // A new time that comes soon (the tenant has little planned) is waited for here, holding
        // the claim; a later one goes back to the queue rather than hold a worker.
        if (again.dueInMs > INLINE_REPLAN_MS) return this.settlement.retryLater(again.job, row, row.attempts, again.dueInMs, `ran ${lateMs} ms late; planned anew`);
        await this.deps.budget.wait(again.dueInMs);
      }
      if (notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= Date.now()) {
        return this.settlement.finish(row, 'failed', 'expired', `expired at ${notification.expiresAt} before it could be sent`, log, row.attempts, target.at.tenantId);
      }
    }
    const firstContact = target.kind !== 'create-personal' && target.firstContact === true;
    const message = renderMessage(notification.message, { appName: this.deps.options.appName, landsIn: landing.kind, firstContact });
    const attempts = { count: row.attempts };
    // What a refusal says is true from here on: a reopening Teams shows after this moment outweighs it.
    const sentAt = new Date().toISOString();
    const outcome = await this.sendTo(target, message, attempts);

    switch (outcome.kind) {
      case 'delivered': {
        progress.delivered = true;
        const deliveredAt = Date.now();
        // Best effort, before the row is settled: a failure here must not make the delivered message look unsent.
        if (firstContact) await this.introduced(job.recipient, target).catch((error: unknown) => log.warn('could not mark the recipient introduced', { recipient: job.recipientKey, error }));
        // Tried again through a storage outage while the claim holds: a failed write here would send it twice.
        const settled = await this.settlement.settleAccepted(row, {
          status: 'delivered',
          activityId: outcome.activityId,
          conversationId: outcome.conversationId,
          attempts: attempts.count,
          // What an edit, a recall or a read receipt needs later, without reading the references again.
          sentVia: target.at,
          landsIn: landing.kind,
          version: notification.messageVersion ?? 1,
        }, { kind: 'delivered', activityId: outcome.activityId, conversationId: outcome.conversationId }, log);
        // Once it is recorded: a send whose record failed may be sent again, and would count twice.
        this.deps.metrics.deliveredAfter((deliveredAt - dueSince(notification, row)) / 1000, target.at.tenantId);
        // Indexed once the row says delivered, so a read receipt never finds a row still being sent (written when the job ends).
        if (landing.kind === 'personal') {
          this.deps.sentMessages.add({ tenantId: target.at.tenantId, conversationId: outcome.conversationId, activityId: outcome.activityId, notificationId: job.notificationId, recipientKey: job.recipientKey });
        }
        return settled;
      }
      case 'throttled':
        return this.retry(job, row, attempts.count, target, outcome, log, async (waitMs) => {
          this.deps.budget.pause(target.at.tenantId, waitMs);
          // Every instance learns of it: the tenant pauses and its timeline slows down (AIMD).
          await this.deps.pacer.throttled(target.at.tenantId, waitMs);
        });
      case 'transient':
        return this.retry(job, row, attempts.count, target, outcome, log);
      default:
        await this.forgetReference(job.recipient, target, outcome, sentAt);
        return this.settlement.finish(row, 'failed', outcome.kind, outcome.detail, log, attempts.count, target.at.tenantId);
    }
  }

  /**
   * Installs the app through Graph for a user or team the bot has never seen (proactive install),
   * and gives the route to send on; or ends or defers the recipient as Graph's answer says. A Graph
   * 429 pauses only that tenant's Graph calls, and does not slow its Bot Connector timeline.
   */
  private async installFirst(
    job: DeliverJob,
    row: DeliveryRecord,
    target: InstallTarget,
    log: Logger,
  ): Promise<{ kind: 'route'; route: Route } | { kind: 'result'; result: JobResult }> {
    const install = this.deps.install;
    if (install === undefined) return { kind: 'result', result: await this.settlement.finish(row, 'failed', 'not-installed', 'proactive install is off', log) };
    const tenantId = target.at.tenantId;
    // Graph asked this tenant to wait: hand the recipient back rather than hold the slice (and the
    // worker, which other tenants' slices need) through the pause.
    const paused = this.deps.graph.pausedFor(tenantId);
    if (paused > 0) {
      const again = await this.replanned({ ...job, hop: (job.hop ?? 0) + 1 }, target, paused);
      return { kind: 'result', result: await this.settlement.retryLater(again.job, row, row.attempts, again.dueInMs, 'tenant throttled by Graph') };
    }
    const outcome = await install.installer.install(target);
    switch (outcome.kind) {
      case 'installed':
        log.log(`installed the app for ${target.kind === 'install-personal' ? 'a user' : 'a team'} through Graph`, { tenantId, outcome: 'installed' });
        return { kind: 'route', route: outcome.route };
      case 'failed':
        return { kind: 'result', result: await this.settlement.finish(row, 'failed', outcome.reason, outcome.detail, log) };
      // Graph's own pause is in place already (PacedGraph); the Bot Connector's timeline is not slowed.
      case 'throttled':
      case 'transient':
        return { kind: 'result', result: await this.retry(job, row, row.attempts, target, outcome, log) };
    }
  }

  /**
   * A 429 or a transient failure (from the Bot Connector or from Graph): the job again, with its
   * own time on the tenant's timeline after the backoff, or the recipient ends `retries-exhausted`
   * once its budget is spent. Throttling never spends `maxAttempts`. `throttled` also tells the
   * tenant's pacing, for a connector 429.
   */
  private async retry(
    job: DeliverJob,
    row: DeliveryRecord,
    attempts: number,
    target: { readonly at: BotEndpointAddress },
    failure: { readonly kind: 'throttled'; readonly retryAfterMs?: number; readonly detail: string } | { readonly kind: 'transient'; readonly detail: string },
    log: Logger,
    throttled?: (waitMs: number) => Promise<void>,
  ): Promise<JobResult> {
    const { options } = this.deps;
    if (failure.kind === 'throttled') {
      const retryAfterMs = failure.retryAfterMs === undefined ? undefined : Math.min(failure.retryAfterMs, options.maxRetryAfterMs);
      const delayMs = throttleDelayMs(retryAfterMs, job.throttled, options.backoff, options.random);
      await throttled?.(retryAfterMs ?? delayMs);
      if (job.throttled + 1 > options.maxThrottles) return this.settlement.exhausted(job, row, attempts, `throttled ${job.throttled + 1} times: ${failure.detail}`, log);
      const again = await this.replanned({ ...job, throttled: job.throttled + 1 }, target, delayMs);
      return this.settlement.retryLater(again.job, row, attempts, again.dueInMs, `throttled: ${failure.detail}`);
    }
    if (job.attempt + 1 >= options.maxAttempts) return this.settlement.exhausted(job, row, attempts, `${job.attempt + 1} attempts failed; last: ${failure.detail}`, log);
    const delayMs = transientDelayMs(job.attempt, options.backoff, options.random);
    const again = await this.replanned({ ...job, attempt: job.attempt + 1 }, target, delayMs);
    return this.settlement.retryLater(again.job, row, attempts, again.dueInMs, `transient: ${failure.detail}`);
  }

  /**
   * Why a stored reference's serviceUrl must not be called, if it must not: every message to it
   * would go, with the bot's token, to whoever the URL names. Checked before any connector call,
   * for routes planned earlier too.
   */
  private untrustedServiceUrl(at: BotEndpointAddress, log: Logger): string | undefined {
    const refusal = this.deps.serviceUrls.refusal(at.serviceUrl);
    if (refusal === undefined) return undefined;
    log.warn(`refused to send to a stored reference: ${refusal}`, { tenantId: at.tenantId, reason: 'untrusted-service-url' });
    return `not sent: ${refusal}. An activity from Teams refreshes the reference.`;
  }

  /** The first message after a proactive install went out: later ones need not say why they come. */
  private async introduced(recipient: TargetRecipient, target: SendableTarget): Promise<void> {
    const { conversations } = this.deps;
    if (target.kind === 'new-thread') {
      const team = await findTeamOf(recipient, conversations);
      if (team !== undefined) await conversations.markIntroduced({ teamId: team.teamId });
      return;
    }
    if (recipient.type !== 'user') return;
    const user = await conversations.findUser(recipient);
    // Both rows of the user (by Teams id and by object id) when the bot knows both.
    if (user !== undefined) await conversations.markIntroduced({ user });
  }

  /**
   * Why nothing may be sent here, if someone said so: the user opted out (their 1:1 chat), or a
   * member muted the channel or group chat the message would land in. Checked before any connector
   * call, so a skip costs Teams nothing.
   */
  private async optedOut(target: SendableTarget, landing: Landing): Promise<string | undefined> {
    const { optOuts } = this.deps;
    const userId = target.kind === 'create-personal' ? target.user.userId : target.kind === 'conversation' ? target.userId : undefined;
    if (userId !== undefined && (await optOuts.isOptedOut(userSubject(target.at.tenantId, userId)))) {
      return 'the user opted out of notifications (they can send "start" to opt back in)';
    }
    if (landing.kind !== 'personal' && (await optOuts.isOptedOut(conversationSubject(target.at.tenantId, landing.conversationId)))) {
      const where = landing.kind === 'channel' ? 'channel' : 'group chat';
      return `a member muted this ${where} by @mentioning the bot with "stop" there; @mentioning it with "start" turns notifications back on`;
    }
    return undefined;
  }

  /**
   * A retry gets a time of its own on the tenant's timeline, no earlier than its backoff allows,
   * so that retries add to nobody's rate. The delay the retry is queued with follows that time.
   */
  private async replanned(job: DeliverJob, target: { readonly at: BotEndpointAddress }, delayMs: number): Promise<{ job: DeliverJob; dueInMs: number }> {
    const at = await this.deps.pacer.reserveOne(target.at.tenantId, Date.now() + delayMs);
    return { job: { ...job, at }, dueInMs: (await this.deps.pacer.dueAt(target.at.tenantId, at)) - Date.now() };
  }

  /**
   * Sends along the resolved route. A 404 on a stored 1:1 chat means Teams dropped it: forget it,
   * create the chat again and send once more, but only once per attempt.
   */
  private async sendTo(target: SendableTarget, message: OutgoingMessage, attempts: { count: number }): Promise<SendOutcome> {
    const { sender, budget } = this.deps;
    const call = async <T>(fn: () => Promise<T>): Promise<T> => {
      // Planned or not, this process's bucket has the last word: it smooths what runs late, so
      // that catching up never bursts past the tenant's rate.
      await budget.take(target.at.tenantId);
      attempts.count += 1;
      return fn();
    };
    switch (target.kind) {
      case 'new-thread':
        return call(() => sender.createChannelThread(target.at, target.channelId, message));
      case 'conversation': {
        const outcome = await call(() => sender.send({ ...target.at, conversationId: target.conversationId, conversationType: target.conversationKind }, message));
        if (outcome.kind !== 'conversation-not-found' || target.userId === undefined) return outcome;
        const user = await this.deps.conversations.findUser({ type: 'user', userId: target.userId });
        if (user === undefined) return outcome;
        await this.deps.conversations.clearPersonalConversation(user, { conversationId: target.conversationId });
        return this.createAndSend(target.at, withoutConversation({ ...user, userId: target.userId }), message, call);
      }
      case 'create-personal':
        return this.createAndSend(target.at, target.user, message, call);
    }
  }

  private async createAndSend(
    at: BotEndpointAddress,
    user: UserReference & { readonly userId: string },
    message: OutgoingMessage,
    call: <T>(fn: () => Promise<T>) => Promise<T>,
  ): Promise<SendOutcome> {
    const created = await call(() => this.deps.sender.createPersonalConversation(at, user.userId));
    if (created.kind !== 'created') return created;
    // Only the chat id is news: the rest of the user as stored now (an uninstall that landed
    // since `user` was read stays), and a user written by nobody yet as read.
    await this.deps.conversations.updateUser(user, (current) => ({ ...(current ?? user), personalConversationId: created.conversationId, updatedAt: new Date().toISOString() }));
    return call(() => this.deps.sender.send({ ...at, conversationId: created.conversationId, conversationType: 'personal' }, message));
  }

  /**
   * Teams said the target is gone or closed to us: stop sending there until Teams says otherwise.
   * A 403 in a channel closes that channel only (a private or shared channel the app is not in);
   * in the General channel (its id is the team's) or for the whole app, the app left the team.
   * Only the fields that change are written, never a whole reference read earlier. `sentAt`: when
   * the refused send started, so that an activity seen since (the app added back) is not undone.
   */
  private async forgetReference(recipient: TargetRecipient, target: ResolvedTarget, failure: SendFailure, sentAt: string): Promise<void> {
    if (failure.kind !== 'not-installed' && failure.kind !== 'blocked-by-user' && failure.kind !== 'conversation-not-found') return;
    const { conversations } = this.deps;
    if (recipient.type === 'user') {
      const user = await conversations.findUser(recipient);
      if (user === undefined) return;
      // A block drops the chat (TEAMS-FACTS); a 404 after re-creating it drops the chat only.
      const failedChat = target.kind === 'conversation' ? target.conversationId : undefined;
      await conversations.clearPersonalConversation(user, {
        ...(failure.kind !== 'conversation-not-found' && { installed: false }),
        ...(failedChat !== undefined && { conversationId: failedChat }),
      });
    } else if (recipient.type === 'conversation') {
      const conversation = await conversations.findConversation(recipient.conversationId);
      if (conversation === undefined) return;
      const team = failure.kind === 'not-installed' && conversation.kind === 'channel' && conversation.teamId !== undefined ? await conversations.findTeam(conversation.teamId) : undefined;
      // A channel named by its conversation id is still a channel of a team: a 403 there closes
      // the channel or the team as for a `channel` recipient, not the conversation as if deleted.
      if (team !== undefined && failure.kind === 'not-installed') await this.closeChannel(team, channelOf(conversation.conversationId), failure, sentAt);
      else await conversations.deactivateConversation(conversation.conversationId);
    } else if (failure.kind === 'not-installed' && target.kind !== 'unreachable') {
      const team = await findTeamOf(recipient, conversations);
      if (team === undefined) return;
      await this.closeChannel(team, recipient.type === 'channel' ? recipient.channelId : team.generalChannelId, failure, sentAt);
    }
  }

  /** A 403 in a team's channel: that channel alone closes, unless it is General or the app is disabled, which close the team. */
  private async closeChannel(team: TeamReference, channelId: string, failure: Extract<SendFailure, { kind: 'not-installed' }>, asOf: string): Promise<void> {
    const { conversations } = this.deps;
    const teamWide = channelId === team.teamId || channelId === team.generalChannelId || failure.scope === 'app';
    if (teamWide) await conversations.patchTeam(team.teamId, { installed: false, installedAsOf: asOf });
    else await conversations.setChannelReachable({ serviceUrl: team.serviceUrl, tenantId: team.tenantId, botId: team.botId, channelId, teamId: team.teamId }, false, asOf);
  }

}

/**
 * The row as its creation left it, for a send that carries the creation ETag: a claim then needs
 * no read first. If anything touched the row since (a copy of the job, a cancel, a sweep), the
 * ETag no longer matches and the claim reads the row as usual.
 */
export function rowAsCreated(notificationId: string, send: Pick<DeliverJob, 'recipientKey' | 'recipient' | 'etag'>): DeliveryRecord | undefined {
  if (send.etag === undefined) return undefined;
  return { notificationId, recipientKey: send.recipientKey, recipient: send.recipient, status: 'pending', attempts: 0, updatedAt: '', etag: send.etag };
}

/** Only a job's first attempt can find its row as created. */
function asCreated(job: DeliverJob): DeliveryRecord | undefined {
  return job.attempt === 0 && job.throttled === 0 && (job.hop ?? 0) === 0 ? rowAsCreated(job.notificationId, job) : undefined;
}

function withoutConversation<U extends UserReference>(user: U): U {
  const { personalConversationId: _dropped, ...rest } = user;
  return rest as U;
}


/** The team a team or channel recipient names, by team id or by Entra group id. */
function findTeamOf(recipient: TargetRecipient, conversations: ConversationStore): Promise<TeamReference | undefined> {
  if (recipient.type === 'channel') return conversations.findTeam(recipient.teamId);
  if (recipient.type !== 'team') return Promise.resolve(undefined);
  return recipient.aadGroupId !== undefined ? conversations.findTeamByGroup(recipient.aadGroupId) : conversations.findTeam(recipient.teamId);
}

/**
 * When this recipient's message was due to go, the start of its delivery latency: the accept, or
 * the sendAt if later, or the resend (or redrive) that reopened the row.
 */
function dueSince(notification: NotificationRecord, row: DeliveryRecord): number {
  const times = [notification.createdAt, notification.sendAt, row.reopenedAt].filter((t): t is string => t !== undefined).map((t) => Date.parse(t));
  return Math.max(...times);
}
