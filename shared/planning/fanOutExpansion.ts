import type { ExpandJob, Job } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import type { SendFailure } from '../domain/outcome';
import { recipientKey, type TargetRecipient } from '../domain/recipient';
import type { TeamReference } from '../domain/reference';
import type { Logger } from '../logger';
import { PLAN_AHEAD_MS } from './planRequest';
import { planTargets } from './planTargets';
import type { QueuedJob } from '../queue/jobQueue';
import type { NewDelivery } from '../stores/deliveryStore';
import type { TeamMember } from '../teams/teamsSender';
import { throttleDelayMs, transientDelayMs } from '../delivery/backoff';
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
    const children: NewDelivery[] = [
      ...new Map(page.recipients.map((recipient) => [recipientKey(recipient), { recipientKey: recipientKey(recipient), recipient, fromKey: job.recipientKey }])).values(),
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
    | { kind: 'page'; recipients: TargetRecipient[]; continuationToken?: string }
    | { kind: 'failure'; failure: SendFailure; tenantId?: string }
  > {
    const { conversations, sender, budget, options } = this.deps;
    const { recipient, continuationToken } = job;
    if (recipient.type === 'allUsers') {
      const page = await conversations.listUsers(continuationToken, options.expandPageSize);
      const recipients = page.items
        .filter((u) => u.installed && u.hasPersonalApp === true && this.settlement.tenantAllowed(u.tenantId))
        .map((u): TargetRecipient => (u.aadObjectId !== undefined ? { type: 'user', aadObjectId: u.aadObjectId } : { type: 'user', userId: u.userId }));
      return { kind: 'page', recipients, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
    }
    if (recipient.type === 'allTeams') {
      const page = await conversations.listTeams(continuationToken, options.expandPageSize);
      const recipients = page.items
        .filter((t) => t.installed && this.settlement.tenantAllowed(t.tenantId))
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
    await this.rememberMembers(team, page.members);
    const recipients = page.members.map(
      (m): TargetRecipient => (m.aadObjectId !== undefined ? { type: 'user', aadObjectId: m.aadObjectId } : { type: 'user', userId: m.userId }),
    );
    return { kind: 'page', recipients, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }) };
  }

  /**
   * Members of a team with the app can be sent a 1:1 message: remember the ones the bot has not
   * seen yet, but never revive someone who removed the app or blocked the bot.
   */
  private async rememberMembers(team: TeamReference, members: readonly TeamMember[]): Promise<void> {
    const now = new Date().toISOString();
    for (const member of members) {
      if ((await this.deps.conversations.findUser({ type: 'user', userId: member.userId })) !== undefined) continue;
      await this.deps.conversations.saveUser({
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
  }
}
