import { parseJob, type DeliverJob, type ExpandJob, type Job } from '../domain/job';
import type { DeliveryRecord, NotificationRecord } from '../domain/notification';
import type { FailureReason, SendFailure, SendOutcome } from '../domain/outcome';
import { recipientKey, type TargetRecipient } from '../domain/recipient';
import type { UserReference } from '../domain/reference';
import type { Logger } from '../logger';
import { renderMessage } from '../messages/renderMessage';
import type { JobQueue } from '../queue/jobQueue';
import type { ConversationStore } from '../stores/conversationStore';
import type { DeliveryChange, DeliveryStore, NewDelivery } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { OptOutStore } from '../stores/optOutStore';
import type { BotEndpointAddress, OutgoingMessage, TeamsSender } from '../teams/teamsSender';
import { DEFAULT_BACKOFF, throttleDelayMs, transientDelayMs, type BackoffPolicy } from './backoff';
import { resolveTarget, type ResolvedTarget } from './resolveTarget';
import type { SendBudget } from './sendBudget';

export interface DeliveryOptions {
  /** Send attempts per recipient that may fail transiently before `retries-exhausted`. */
  readonly maxAttempts: number;
  /** 429s one recipient may meet before giving up; throttling never spends `maxAttempts`. */
  readonly maxThrottles: number;
  readonly backoff: BackoffPolicy;
  /** How long a worker owns a recipient while sending; a crashed worker's claim expires after it. */
  readonly leaseMs: number;
  /** Tenants allowed (lower case); empty allows all. */
  readonly allowedTenants: readonly string[];
  readonly appName: string;
  /** Recipients per page when expanding allUsers / allTeams / teamMembers. */
  readonly expandPageSize: number;
  /** Unexpected errors (our own storage down) one job may meet, retried with backoff, before it gives up. */
  readonly maxFaults: number;
  /** A Retry-After longer than this is not believed: a broken header must not park a recipient for days. */
  readonly maxRetryAfterMs: number;
  /** When the tenant is paused for longer than this, a claimed recipient is handed back and re-scheduled instead of waited for. */
  readonly maxInlineWaitMs: number;
  readonly random?: () => number;
}

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = {
  maxAttempts: 6,
  maxThrottles: 30,
  backoff: DEFAULT_BACKOFF,
  leaseMs: 2 * 60_000,
  allowedTenants: [],
  appName: 'Notifications',
  expandPageSize: 100,
  maxFaults: 10,
  maxRetryAfterMs: 5 * 60_000,
  maxInlineWaitMs: 5_000,
};

export interface DeliveryDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly conversations: ConversationStore;
  readonly optOuts: OptOutStore;
  readonly queue: JobQueue;
  readonly sender: TeamsSender;
  readonly budget: SendBudget;
  readonly options: DeliveryOptions;
}

/** What handling one queue message came to: logged by the trigger, asserted by tests. */
export type JobResult =
  | { readonly kind: 'delivered'; readonly activityId: string; readonly conversationId: string }
  | { readonly kind: 'failed' | 'skipped'; readonly reason: FailureReason; readonly detail: string }
  | { readonly kind: 'rescheduled'; readonly delayMs: number; readonly why: string }
  | { readonly kind: 'expanded'; readonly recipients: number; readonly more: boolean }
  | { readonly kind: 'ignored'; readonly why: string }
  | { readonly kind: 'dead-lettered'; readonly reason: string; readonly detail: string };

/** How many times a job re-reads its row when another writer got there first. */
const MAX_CLAIM_ROUNDS = 3;

/**
 * Handles one job from the delivery queue: the same code behind the Service Bus trigger in Azure
 * and the Azurite poller locally. It returns normally for everything it has dealt with (the
 * message is completed) and throws only for what must be redelivered at once (storage down).
 */
export class DeliveryWorker {
  private readonly records = new Map<string, { record: NotificationRecord; readAt: number }>();

  constructor(private readonly deps: DeliveryDependencies) {}

  async handle(body: unknown, log: Logger): Promise<JobResult> {
    const parsed = parseJob(body);
    if (!parsed.ok) {
      const raw = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : JSON.stringify(body) ?? String(body);
      await this.deps.queue.deadLetter({ body: raw, reason: 'invalid-job', description: parsed.reason });
      log.error(`dead-lettered a poison job: ${parsed.reason}`);
      return { kind: 'dead-lettered', reason: 'invalid-job', detail: parsed.reason };
    }
    const { job } = parsed;
    const notification = await this.notification(job.notificationId);
    if (notification === undefined) {
      log.warn(`job for unknown notification ${job.notificationId} dropped`);
      return { kind: 'ignored', why: 'the notification does not exist' };
    }
    let result: JobResult;
    try {
      result = job.kind === 'deliver' ? await this.deliver(job, notification, log) : await this.expand(job, notification, log);
    } catch (error) {
      result = await this.fault(job, body, error, log);
    }
    log.log(`${job.kind} ${job.notificationId} ${job.recipientKey}: ${describe(result)}`);
    return result;
  }

  /**
   * Something unexpected failed (usually our own storage). Throwing would redeliver at once and burn
   * the queue's delivery count in seconds, so back off with a delayed copy instead; after
   * `maxFaults`, give up with a recorded status. Only if even the queue refuses do we throw.
   */
  private async fault(job: Job, body: unknown, error: unknown, log: Logger): Promise<JobResult> {
    const faults = (job.faults ?? 0) + 1;
    const message = error instanceof Error ? error.message : String(error);
    if (faults >= this.deps.options.maxFaults) {
      await this.giveUp(body, `failed ${faults} times; last error: ${message}`, log, 'too-many-errors');
      return { kind: 'dead-lettered', reason: 'retries-exhausted', detail: message };
    }
    log.warn(`${job.kind} ${job.notificationId} ${job.recipientKey} failed (${message}); retrying later`);
    const delayMs = transientDelayMs(faults - 1, this.deps.options.backoff, this.deps.options.random);
    try {
      await this.deps.queue.enqueue([{ job: { ...job, faults }, notBefore: new Date(Date.now() + delayMs) }]);
    } catch {
      throw error;
    }
    return { kind: 'rescheduled', delayMs, why: `error: ${message}` };
  }

  /**
   * The queue will not deliver this message again (its last delivery threw): record the failure on
   * the recipient's row and park the job, so the sender sees a status instead of a row left pending.
   */
  async giveUp(body: unknown, reason: string, log: Logger, letterReason: 'max-delivery-count' | 'too-many-errors' = 'max-delivery-count'): Promise<void> {
    const parsed = parseJob(body);
    const raw = typeof body === 'string' ? body : JSON.stringify(body) ?? String(body);
    await this.deps.queue.deadLetter({ body: raw, reason: letterReason, description: reason });
    if (!parsed.ok) return;
    const row = await this.deps.deliveries.get(parsed.job.notificationId, parsed.job.recipientKey);
    // A live claim means another copy of the job is sending right now: it will settle the row.
    const heldByAnother = row?.leaseUntil !== undefined && Date.parse(row.leaseUntil) > Date.now();
    if (row !== undefined && row.status === 'pending' && !heldByAnother) {
      await this.finish(row, 'failed', 'retries-exhausted', reason, log);
    }
  }

  private async deliver(job: DeliverJob, notification: NotificationRecord, log: Logger): Promise<JobResult> {
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const row = await this.deps.deliveries.get(job.notificationId, job.recipientKey);
      if (row === undefined) return { kind: 'ignored', why: 'no delivery row' };
      if (row.status !== 'pending') return { kind: 'ignored', why: `already ${row.status}` };

      const now = Date.now();
      const due = notification.sendAt !== undefined ? Date.parse(notification.sendAt) : now;
      if (due > now + 1000) return this.reschedule(job, due - now, 'not due yet');
      if (notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= now) {
        return this.finish(row, 'failed', 'expired', `expired at ${notification.expiresAt} before it could be sent`, log);
      }
      if (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > now) {
        // Another copy of this job is sending right now (a redelivery after a lost lock, or a
        // resumed request). Look again once its claim runs out, in case that worker died.
        return this.reschedule(job, Date.parse(row.leaseUntil) - now + 1000, 'another worker holds the recipient');
      }
      const claim = await this.deps.deliveries.update(row, { leaseUntil: new Date(now + this.deps.options.leaseMs).toISOString() });
      if (claim.kind === 'stale') continue;
      const progress = { delivered: false };
      try {
        return await this.attempt(job, claim.row, notification, log, progress);
      } catch (error) {
        // Let the redelivery that follows a throw claim the recipient at once, unless Teams already
        // took the message: then the lease keeps a second send off until it runs out.
        if (!progress.delivered) await this.deps.deliveries.update(claim.row, { leaseUntil: '' }).catch(() => undefined);
        throw error;
      }
    }
    return { kind: 'ignored', why: 'the delivery row kept changing; another worker has it' };
  }

  private async attempt(
    job: DeliverJob,
    row: DeliveryRecord,
    notification: NotificationRecord,
    log: Logger,
    progress: { delivered: boolean },
  ): Promise<JobResult> {
    const target = await resolveTarget(job.recipient, this.deps.conversations);
    if (target.kind === 'unreachable') {
      if (target.tenantId !== undefined && !this.tenantAllowed(target.tenantId)) {
        return this.finish(row, 'failed', 'tenant-not-allowed', `tenant ${target.tenantId} is not in ALLOWED_TENANT_IDS`, log);
      }
      return this.finish(row, 'failed', target.reason, target.detail, log);
    }
    if (!this.tenantAllowed(target.at.tenantId)) {
      log.warn(`refused delivery to tenant ${target.at.tenantId}: not in the allow-list`);
      return this.finish(row, 'failed', 'tenant-not-allowed', `tenant ${target.at.tenantId} is not allowed`, log);
    }
    const user = target.kind === 'create-personal' || target.kind === 'conversation' ? target.user : undefined;
    if (user !== undefined && (await this.deps.optOuts.isOptedOut(user.tenantId, user.userId))) {
      return this.finish(row, 'skipped', 'opted-out', 'the user opted out of notifications (they can send "start" to opt back in)', log);
    }

    const paused = this.deps.budget.pausedFor(target.at.tenantId);
    if (paused > this.deps.options.maxInlineWaitMs) {
      // Teams asked this tenant to wait: hand the recipient back rather than hold its claim through the pause.
      return this.retryLater({ ...job, hop: (job.hop ?? 0) + 1 }, row, row.attempts, paused, 'tenant throttled by Teams');
    }
    const message = renderMessage(notification.message, this.deps.options.appName);
    const attempts = { count: row.attempts };
    const outcome = await this.sendTo(target, message, attempts);

    switch (outcome.kind) {
      case 'delivered':
        progress.delivered = true;
        return this.settle(row, {
          status: 'delivered',
          activityId: outcome.activityId,
          conversationId: outcome.conversationId,
          attempts: attempts.count,
        }, { kind: 'delivered', activityId: outcome.activityId, conversationId: outcome.conversationId }, log);
      case 'throttled': {
        const retryAfterMs = outcome.retryAfterMs === undefined ? undefined : Math.min(outcome.retryAfterMs, this.deps.options.maxRetryAfterMs);
        const delayMs = throttleDelayMs(retryAfterMs, job.throttled, this.deps.options.backoff, this.deps.options.random);
        this.deps.budget.pause(target.at.tenantId, retryAfterMs ?? delayMs);
        if (job.throttled + 1 > this.deps.options.maxThrottles) {
          return this.exhausted(job, row, attempts.count, `throttled ${job.throttled + 1} times: ${outcome.detail}`, log);
        }
        return this.retryLater({ ...job, throttled: job.throttled + 1 }, row, attempts.count, delayMs, `throttled: ${outcome.detail}`);
      }
      case 'transient': {
        if (job.attempt + 1 >= this.deps.options.maxAttempts) {
          return this.exhausted(job, row, attempts.count, `${job.attempt + 1} attempts failed; last: ${outcome.detail}`, log);
        }
        const delayMs = transientDelayMs(job.attempt, this.deps.options.backoff, this.deps.options.random);
        return this.retryLater({ ...job, attempt: job.attempt + 1 }, row, attempts.count, delayMs, `transient: ${outcome.detail}`);
      }
      default:
        await this.forgetReference(job.recipient, target, outcome);
        return this.finish(row, 'failed', outcome.kind, outcome.detail, log, attempts.count);
    }
  }

  /**
   * Sends along the resolved route. A 404 on a stored 1:1 chat means Teams dropped it: forget it,
   * create the chat again and send once more, but only once per attempt.
   */
  private async sendTo(target: Exclude<ResolvedTarget, { kind: 'unreachable' }>, message: OutgoingMessage, attempts: { count: number }): Promise<SendOutcome> {
    const { sender, budget } = this.deps;
    const call = async <T>(fn: () => Promise<T>): Promise<T> => {
      await budget.take(target.at.tenantId);
      attempts.count += 1;
      return fn();
    };
    switch (target.kind) {
      case 'new-thread':
        return call(() => sender.createChannelThread(target.at, target.channelId, message));
      case 'conversation': {
        const outcome = await call(() => sender.send({ ...target.at, conversationId: target.conversationId }, message));
        if (outcome.kind !== 'conversation-not-found' || target.user === undefined) return outcome;
        await this.deps.conversations.clearPersonalConversation(target.user);
        return this.createAndSend(target.at, withoutConversation(target.user), message, call);
      }
      case 'create-personal':
        return this.createAndSend(target.at, target.user, message, call);
    }
  }

  private async createAndSend(
    at: BotEndpointAddress,
    user: UserReference,
    message: OutgoingMessage,
    call: <T>(fn: () => Promise<T>) => Promise<T>,
  ): Promise<SendOutcome> {
    const created = await call(() => this.deps.sender.createPersonalConversation(at, user.userId));
    if (created.kind !== 'created') return created;
    await this.deps.conversations.saveUser({ ...user, personalConversationId: created.conversationId, updatedAt: new Date().toISOString() });
    return call(() => this.deps.sender.send({ ...at, conversationId: created.conversationId, conversationType: 'personal' }, message));
  }

  /** Teams said the target is gone or closed to us: stop sending there until a new install says otherwise. */
  private async forgetReference(recipient: TargetRecipient, target: ResolvedTarget, failure: SendFailure): Promise<void> {
    if (failure.kind !== 'not-installed' && failure.kind !== 'blocked-by-user' && failure.kind !== 'conversation-not-found') return;
    const now = new Date().toISOString();
    const { conversations } = this.deps;
    if (recipient.type === 'user') {
      const user = await conversations.findUser(recipient);
      if (user === undefined) return;
      // A block drops the chat (TEAMS-FACTS); a 404 after re-creating it means the same.
      await conversations.clearPersonalConversation(user, { installed: failure.kind === 'conversation-not-found' });
    } else if (recipient.type === 'conversation') {
      const conversation = await conversations.findConversation(recipient.conversationId);
      if (conversation !== undefined) await conversations.saveConversation({ ...conversation, active: false, updatedAt: now });
    } else if (failure.kind === 'not-installed' && target.kind !== 'unreachable') {
      const team = await conversations.findTeam(recipient.teamId);
      if (team !== undefined) await conversations.saveTeam({ ...team, installed: false, updatedAt: now });
    }
  }

  private async expand(job: ExpandJob, notification: NotificationRecord, log: Logger): Promise<JobResult> {
    const row = await this.deps.deliveries.get(job.notificationId, job.recipientKey);
    if (row === undefined) return { kind: 'ignored', why: 'no delivery row' };
    if (row.status !== 'pending' || row.expandedTo !== undefined) return { kind: 'ignored', why: 'already expanded' };
    if (notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= Date.now()) {
      return this.finish(row, 'failed', 'expired', `expired at ${notification.expiresAt} before it could be sent`, log);
    }

    const page = await this.expansionPage(job);
    if (page.kind === 'failure') {
      const failure = page.failure;
      if (failure.kind === 'throttled' || failure.kind === 'transient') {
        const throttled = failure.kind === 'throttled';
        if (throttled && page.tenantId !== undefined) this.deps.budget.pause(page.tenantId, failure.retryAfterMs ?? 1000);
        const next = throttled ? { ...job, throttled: job.throttled + 1 } : { ...job, attempt: job.attempt + 1 };
        if (next.attempt >= this.deps.options.maxAttempts || next.throttled > this.deps.options.maxThrottles) {
          return this.exhausted(job, row, row.attempts, failure.detail, log);
        }
        const delayMs = throttled
          ? throttleDelayMs(failure.retryAfterMs, job.throttled, this.deps.options.backoff, this.deps.options.random)
          : transientDelayMs(job.attempt, this.deps.options.backoff, this.deps.options.random);
        return this.reschedule(next, delayMs, `listing recipients: ${failure.detail}`);
      }
      return this.finish(row, 'failed', failure.kind, failure.detail, log);
    }

    const children: NewDelivery[] = page.recipients.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient, fromKey: job.recipientKey }));
    await this.deps.deliveries.createPending(job.notificationId, children);
    const expanded = job.expanded + children.length;
    const jobs: Job[] = children.map((child) => ({
      v: 1,
      kind: 'deliver',
      notificationId: job.notificationId,
      recipientKey: child.recipientKey,
      recipient: child.recipient as TargetRecipient,
      attempt: 0,
      throttled: 0,
    }));
    if (page.continuationToken !== undefined) {
      jobs.push({ ...job, page: job.page + 1, continuationToken: page.continuationToken, expanded, attempt: 0, throttled: 0 });
    }
    await this.deps.queue.enqueue(jobs.map((j) => ({ job: j })));
    if (page.continuationToken === undefined) {
      // The fan-out entry is done: its recipients now stand in for it in counts and listings.
      await this.deps.deliveries.update(row, { expandedTo: expanded, status: 'delivered' });
    }
    return { kind: 'expanded', recipients: children.length, more: page.continuationToken !== undefined };
  }

  private async expansionPage(job: ExpandJob): Promise<
    | { kind: 'page'; recipients: TargetRecipient[]; continuationToken?: string }
    | { kind: 'failure'; failure: SendFailure; tenantId?: string }
  > {
    const { conversations, sender, budget, options } = this.deps;
    const { recipient, continuationToken } = job;
    if (recipient.type === 'allUsers') {
      const page = await conversations.listUsers(continuationToken, options.expandPageSize);
      const recipients = page.items
        .filter((u) => u.installed && u.hasPersonalApp === true && this.tenantAllowed(u.tenantId))
        .map((u): TargetRecipient => (u.aadObjectId !== undefined ? { type: 'user', aadObjectId: u.aadObjectId } : { type: 'user', userId: u.userId }));
      return { kind: 'page', recipients, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
    }
    if (recipient.type === 'allTeams') {
      const page = await conversations.listTeams(continuationToken, options.expandPageSize);
      const recipients = page.items
        .filter((t) => t.installed && this.tenantAllowed(t.tenantId))
        .map((t): TargetRecipient => ({ type: 'team', teamId: t.teamId }));
      return { kind: 'page', recipients, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
    }
    const team = await conversations.findTeam(recipient.teamId);
    if (team === undefined || !team.installed) {
      return { kind: 'failure', failure: { kind: 'not-installed', detail: 'the app is not installed in this team' } };
    }
    await budget.take(team.tenantId);
    const page = await sender.listTeamMembers(team, team.teamId, continuationToken);
    if (page.kind !== 'members') return { kind: 'failure', failure: page, tenantId: team.tenantId };
    const now = new Date().toISOString();
    const recipients: TargetRecipient[] = [];
    for (const member of page.members) {
      // Members of a team with the app can get a 1:1 chat: remember them, but never revive someone who left or blocked.
      const known = await conversations.findUser({ type: 'user', userId: member.userId });
      if (known === undefined) {
        await conversations.saveUser({
          serviceUrl: team.serviceUrl,
          tenantId: team.tenantId,
          botId: team.botId,
          userId: member.userId,
          installed: true,
          updatedAt: now,
          ...(member.aadObjectId !== undefined && { aadObjectId: member.aadObjectId }),
          ...(member.name !== undefined && { name: member.name }),
        });
      }
      recipients.push(member.aadObjectId !== undefined ? { type: 'user', aadObjectId: member.aadObjectId } : { type: 'user', userId: member.userId });
    }
    return { kind: 'page', recipients, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
  }

  private async retryLater(job: Job, row: DeliveryRecord, attempts: number, delayMs: number, why: string): Promise<JobResult> {
    // Enqueue the delayed copy before letting go of the recipient: if we die in between, the copy
    // waits out the lease instead of the recipient being lost.
    await this.deps.queue.enqueue([{ job, notBefore: new Date(Date.now() + delayMs) }]);
    await this.deps.deliveries.update(row, { attempts, leaseUntil: '', detail: why });
    return { kind: 'rescheduled', delayMs, why };
  }

  /** Puts the job back unchanged for later: a new hop, so the copy gets a message id of its own. */
  private async reschedule(job: Job, delayMs: number, why: string): Promise<JobResult> {
    await this.deps.queue.enqueue([{ job: { ...job, hop: (job.hop ?? 0) + 1 }, notBefore: new Date(Date.now() + delayMs) }]);
    return { kind: 'rescheduled', delayMs, why };
  }

  private async exhausted(job: Job, row: DeliveryRecord, attempts: number, detail: string, log: Logger): Promise<JobResult> {
    await this.deps.queue.deadLetter({ body: JSON.stringify(job), reason: 'retries-exhausted', description: detail });
    return this.finish(row, 'failed', 'retries-exhausted', detail, log, attempts);
  }

  private finish(
    row: DeliveryRecord,
    status: 'failed' | 'skipped',
    reason: FailureReason,
    detail: string,
    log: Logger,
    attempts = row.attempts,
  ): Promise<JobResult> {
    return this.settle(row, { status, reason, detail, attempts }, { kind: status, reason, detail }, log);
  }

  /** Writes a final status; the etag is ours while we hold the lease, so a conflict is worth a warning. */
  private async settle(row: DeliveryRecord, change: DeliveryChange, result: JobResult, log: Logger): Promise<JobResult> {
    const final = { ...change, leaseUntil: '' };
    const update = await this.deps.deliveries.update(row, final);
    if (update.kind === 'stale') {
      const fresh = await this.deps.deliveries.get(row.notificationId, row.recipientKey);
      log.warn(`delivery row ${row.recipientKey} changed while we held it (now ${fresh?.status ?? 'gone'})`);
      if (fresh !== undefined && fresh.status === 'pending') await this.deps.deliveries.update(fresh, final);
    }
    return result;
  }

  private tenantAllowed(tenantId: string): boolean {
    const allowed = this.deps.options.allowedTenants;
    return allowed.length === 0 || allowed.includes(tenantId.toLowerCase());
  }

  /** Notification records never change after acceptance (but for cancel), so a short cache saves a read per recipient. */
  private async notification(id: string): Promise<NotificationRecord | undefined> {
    const cached = this.records.get(id);
    if (cached !== undefined && Date.now() - cached.readAt < 30_000) return cached.record;
    const record = await this.deps.notifications.get(id);
    if (record !== undefined) {
      if (this.records.size >= 1000) this.records.delete(this.records.keys().next().value as string);
      this.records.set(id, { record, readAt: Date.now() });
    }
    return record;
  }
}

function withoutConversation(user: UserReference): UserReference {
  const { personalConversationId: _dropped, ...rest } = user;
  return rest;
}

function describe(result: JobResult): string {
  switch (result.kind) {
    case 'delivered':
      return `delivered as ${result.activityId}`;
    case 'failed':
    case 'skipped':
      return `${result.kind} (${result.reason}): ${result.detail}`;
    case 'rescheduled':
      return `retry in ${result.delayMs} ms (${result.why})`;
    case 'expanded':
      return `expanded into ${result.recipients} recipients${result.more ? ', more to come' : ''}`;
    case 'ignored':
      return `nothing to do: ${result.why}`;
    case 'dead-lettered':
      return `dead-lettered (${result.reason}): ${result.detail}`;
  }
}
