import type { ExpandJob, Job } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import type { SendFailure } from '../domain/outcome';
import { recipientKey, type TargetRecipient } from '../domain/recipient';
import type { TeamReference, UserReference } from '../domain/reference';
import type { Logger } from '../logger';
import { PLAN_AHEAD_MS } from './planRequest';
import { planTargets, type PlanTarget } from './planTargets';
import type { QueuedJob } from '../queue/jobQueue';
import type { TeamMember } from '../teams/teamsSender';
import { throttleDelayMs, transientDelayMs } from '../delivery/backoff';
import { resolveUser, type ResolvedTarget } from '../delivery/resolveTarget';
import { Settlement, type DeliveryDependencies, type JobResult } from '../delivery/settlement';

/**
 * A fan-out entry (allUsers, allTeams, teamMembers), one page per job: each page becomes pending
 * rows and slices on its tenants' timelines, plus the job for the next page; the last page
 * retires the entry.
 */
export class FanOutExpansion {
  private readonly settlement: Settlement;

  constructor(private readonly deps: DeliveryDependencies) {
    this.settlement = new Settlement(deps);
  }

  async expand(job: ExpandJob, notification: NotificationRecord, log: Logger): Promise<JobResult> {
    const row = await this.deps.deliveries.get(job.notificationId, job.recipientKey);
    if (row === undefined) return { kind: 'ignored', why: 'no delivery row' };
    if (row.status !== 'pending' || row.expandedTo !== undefined) return { kind: 'ignored', why: 'already expanded' };
    if (notification.cancelled === true) return this.settlement.finish(row, 'skipped', 'cancelled', 'the notification was cancelled', log);
    if (notification.expiresAt !== undefined && Date.parse(notification.expiresAt) <= Date.now()) {
      return this.settlement.finish(row, 'failed', 'expired', `expired at ${notification.expiresAt} before it could be sent`, log);
    }

    const page = await this.expansionPage(job);
    if (page.kind === 'failure') {
      const failure = page.failure;
      if (failure.kind === 'throttled' || failure.kind === 'transient') {
        const throttled = failure.kind === 'throttled';
        if (throttled && page.tenantId !== undefined) this.deps.budget.pause(page.tenantId, failure.retryAfterMs ?? 1000);
        const next = throttled ? { ...job, throttled: job.throttled + 1 } : { ...job, attempt: job.attempt + 1 };
        if (next.attempt >= this.deps.options.maxAttempts || next.throttled > this.deps.options.maxThrottles) {
          return this.settlement.exhausted(job, row, row.attempts, failure.detail, log);
        }
        const delayMs = throttled
          ? throttleDelayMs(failure.retryAfterMs, job.throttled, this.deps.options.backoff, this.deps.options.random)
          : transientDelayMs(job.attempt, this.deps.options.backoff, this.deps.options.random);
        return this.settlement.reschedule(next, delayMs, `listing recipients: ${failure.detail}`);
      }
      return this.settlement.finish(row, 'failed', failure.kind, failure.detail, log);
    }

    // One page can name a target twice (a roster listing a member twice): one row, one send.
    const children: PlanTarget[] = [
      ...new Map(
        page.targets.map(({ recipient, resolved }) => [recipientKey(recipient), { recipientKey: recipientKey(recipient), recipient, fromKey: job.recipientKey, resolved }]),
      ).values(),
    ];
    const planned = await planTargets(notification, children, `${job.recipientKey}@${job.page}`, this.deps);
    const expanded = job.expanded + children.length;
    const jobs: QueuedJob[] = [...planned.slices];
    if (page.continuationToken !== undefined) {
      const next: Job = { ...job, page: job.page + 1, continuationToken: page.continuationToken, expanded, attempt: 0, throttled: 0 };
      // The next page waits while the tenants' sends planned so far are far ahead.
      const waitMs = planned.backlogMs - PLAN_AHEAD_MS;
      jobs.push({ job: next, ...(waitMs > 0 && { notBefore: new Date(Date.now() + waitMs) }) });
    }
    await this.deps.queue.enqueue(jobs);
    if (page.continuationToken === undefined) {
      // The fan-out entry is done: its recipients now stand in for it in counts and listings.
      await this.deps.deliveries.update(row, { expandedTo: expanded, status: 'delivered' });
    } else {
      // Progress the sweeper can see: a long expansion is moving, not stuck.
      await this.deps.deliveries.update(row, { detail: `expanding: ${expanded} recipients so far` });
    }
    return { kind: 'expanded', recipients: children.length, more: page.continuationToken !== undefined };
  }

  private async expansionPage(job: ExpandJob): Promise<
    | { kind: 'page'; targets: ListedTarget[]; continuationToken?: string }
    | { kind: 'failure'; failure: SendFailure; tenantId?: string }
  > {
    const { conversations, sender, budget, options } = this.deps;
    const { recipient, continuationToken } = job;
    if (recipient.type === 'allUsers') {
      const page = await conversations.listUsers(continuationToken, options.expandPageSize);
      const targets = page.items
        .filter((u) => u.installed && u.hasPersonalApp === true && this.settlement.tenantAllowed(u.tenantId))
        .map(listedUser);
      return { kind: 'page', targets, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
    }
    if (recipient.type === 'allTeams') {
      const page = await conversations.listTeams(continuationToken, options.expandPageSize);
      const targets = page.items
        .filter((t) => t.installed && this.settlement.tenantAllowed(t.tenantId))
        .map((t): ListedTarget => ({ recipient: { type: 'team', teamId: t.teamId } }));
      return { kind: 'page', targets, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
    }
    const team = await conversations.findTeam(recipient.teamId);
    if (team === undefined || !team.installed) {
      return { kind: 'failure', failure: { kind: 'not-installed', detail: 'the app is not installed in this team' } };
    }
    await budget.take(team.tenantId);
    const page = await sender.listTeamMembers(team, team.teamId, continuationToken);
    if (page.kind !== 'members') return { kind: 'failure', failure: page, tenantId: team.tenantId };
    const targets = (await this.rememberMembers(team, page.members)).map(listedUser);
    return { kind: 'page', targets, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
  }

  /**
   * Members of a team with the app can be sent a 1:1 message: remember the ones the bot has not
   * seen yet, but never revive someone who removed the app or blocked the bot. Returns each
   * member's reference, as stored now.
   */
  private async rememberMembers(team: TeamReference, members: readonly TeamMember[]): Promise<UserReference[]> {
    const now = new Date().toISOString();
    const references: UserReference[] = [];
    for (const member of members) {
      const known = await this.deps.conversations.findUser({ type: 'user', userId: member.userId });
      if (known !== undefined) {
        references.push(known);
        continue;
      }
      const user: UserReference = {
        serviceUrl: team.serviceUrl,
        tenantId: team.tenantId,
        botId: team.botId,
        userId: member.userId,
        installed: true,
        updatedAt: now,
        ...(member.aadObjectId !== undefined && { aadObjectId: member.aadObjectId }),
        ...(member.name !== undefined && { name: member.name }),
      };
      await this.deps.conversations.saveUser(user);
      references.push(user);
    }
    return references;
  }
}

/** A recipient a listing produced, with where it goes when the listing read that already. */
interface ListedTarget {
  readonly recipient: TargetRecipient;
  readonly resolved?: ResolvedTarget;
}

function listedUser(user: UserReference): ListedTarget {
  const recipient: TargetRecipient = user.aadObjectId !== undefined ? { type: 'user', aadObjectId: user.aadObjectId } : { type: 'user', userId: user.userId };
  return { recipient, resolved: resolveUser(user) };
}
