import type { ExpandJob, Job } from '../domain/job';
import type { NotificationRecord } from '../domain/notification';
import type { FailureReason, SendFailure } from '../domain/outcome';
import { recipientKey, recipientTenant, type DirectoryRecipient, type TargetRecipient } from '../domain/recipient';
import type { TeamReference, TeamsUserReference } from '../domain/reference';
import type { Logger } from '../logger';
import { PLAN_AHEAD_MS } from './planRequest';
import { planTargets, type PlanTarget } from './planTargets';
import type { NewDelivery } from '../stores/deliveryStore';
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
    if (page.kind === 'ended') return this.settlement.finish(row, 'failed', page.reason, page.detail, log);
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
    const listed: PlanTarget[] = [
      ...new Map(
        page.targets.map(({ recipient, resolved }) => [
          recipientKey(recipient),
          { recipientKey: recipientKey(recipient), recipient, fromKey: job.recipientKey, ...(resolved !== undefined && { resolved }) },
        ]),
      ).values(),
    ];
    const cap = await this.withinAudience(notification, `${job.recipientKey}@${job.page}`, listed);
    const planned = await planTargets(notification, cap.within, `${job.recipientKey}@${job.page}`, this.deps);
    if (cap.beyond.length > 0) {
      const created = await this.deps.deliveries.createPending(notification.id, cap.beyond);
      this.deps.metrics.ended({ status: 'skipped', reason: 'audience-exceeded' }, recipientTenant(job.recipient), created.size);
    }
    const expanded = job.expanded + cap.within.length;
    const more = page.continuationToken !== undefined && cap.beyond.length === 0;
    const jobs: QueuedJob[] = [...planned.slices];
    if (more) {
      const next: Job = { ...job, page: job.page + 1, continuationToken: page.continuationToken, expanded, attempt: 0, throttled: 0 };
      // The next page waits while the tenants' sends planned so far are far ahead.
      const waitMs = planned.backlogMs - PLAN_AHEAD_MS;
      jobs.push({ job: next, ...(waitMs > 0 && { notBefore: new Date(Date.now() + waitMs) }) });
    }
    await this.deps.queue.enqueue(jobs);
    if (cap.beyond.length > 0) {
      // Stopped at the cap: the entry stays in the status, saying so.
      const rest = page.continuationToken !== undefined ? '; later pages were not listed' : '';
      // The entry's own row ends skipped too: counted like any row that ends.
      const ended = await this.deps.deliveries.update(row, {
        status: 'skipped',
        reason: 'audience-exceeded',
        detail: `reached maxAudience (${notification.maxAudience ?? 0}) after ${expanded} recipients from this entry; ${cap.beyond.length} more on its last page skipped${rest}`,
      });
      if (ended.kind === 'updated') this.deps.metrics.ended({ status: 'skipped', reason: 'audience-exceeded' }, recipientTenant(job.recipient));
    } else if (!more) {
      // The fan-out entry is done: its recipients now stand in for it in counts and listings.
      await this.deps.deliveries.update(row, { expandedTo: expanded, status: 'delivered' });
    } else {
      // Progress the sweeper can see: a long expansion is moving, not stuck.
      await this.deps.deliveries.update(row, { detail: `expanding: ${expanded} recipients so far` });
    }
    return { kind: 'expanded', recipients: cap.within.length, more };
  }

  /**
   * Splits a page's people at the request's `maxAudience`: the ones within it are planned, the rest
   * get rows that say `skipped` / `audience-exceeded`. Every fan-out entry of the notification
   * counts against the same cap, whichever instance expands it.
   */
  private async withinAudience(
    notification: NotificationRecord,
    pageKey: string,
    listed: readonly PlanTarget[],
  ): Promise<{ within: readonly PlanTarget[]; beyond: readonly NewDelivery[] }> {
    const max = notification.maxAudience;
    if (max === undefined || listed.length === 0) return { within: listed, beyond: [] };
    const granted = await this.deps.notifications.reserveAudience(notification.id, pageKey, listed.length, max);
    const detail = `the request's maxAudience (${max}) was reached before this recipient`;
    return {
      within: listed.slice(0, granted),
      beyond: listed.slice(granted).map(({ recipientKey, recipient, fromKey }) => ({
        recipientKey,
        recipient,
        ...(fromKey !== undefined && { fromKey }),
        settled: { status: 'skipped', reason: 'audience-exceeded', detail },
      })),
    };
  }

  private async expansionPage(job: ExpandJob): Promise<
    | { kind: 'page'; targets: ListedTarget[]; continuationToken?: string }
    | { kind: 'failure'; failure: SendFailure; tenantId?: string }
    | { kind: 'ended'; reason: FailureReason; detail: string }
  > {
    const { conversations, sender, budget, options } = this.deps;
    const { recipient, continuationToken } = job;
    if (recipient.type === 'group' || recipient.type === 'organization') return this.directoryPage(recipient, continuationToken);
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
   * A page of a group's users or of the organization's, from Graph. Each person is a user
   * recipient by Entra object id, the key a listing of all users gives them too, so someone both
   * reach gets one row and one message. Where each goes is worked out when planned: a stored
   * reference, a proactive install, or nowhere.
   */
  private async directoryPage(
    recipient: DirectoryRecipient,
    pageLink: string | undefined,
  ): Promise<{ kind: 'page'; targets: ListedTarget[]; continuationToken?: string } | { kind: 'failure'; failure: SendFailure } | { kind: 'ended'; reason: FailureReason; detail: string }> {
    const tenantId = recipient.tenantId;
    if (tenantId === undefined) return { kind: 'ended', reason: 'rejected', detail: 'no tenant to list: the entry needs a tenantId' };
    if (!this.settlement.tenantAllowed(tenantId)) return { kind: 'ended', reason: 'tenant-not-allowed', detail: `tenant ${tenantId} is not allowed` };
    const { graph } = this.deps;
    // Graph asked this tenant to wait: go back to the queue for then, rather than hold a worker.
    const paused = graph.pausedFor(tenantId);
    if (paused > 0) return { kind: 'failure', failure: { kind: 'throttled', retryAfterMs: paused, detail: 'Graph asked this tenant to wait' } };
    const page = recipient.type === 'group' ? await graph.groupUsers(tenantId, recipient.groupId, pageLink) : await graph.organizationUsers(tenantId, pageLink);
    switch (page.kind) {
      case 'ok':
        return {
          kind: 'page',
          targets: page.value.users.map((user): ListedTarget => ({ recipient: { type: 'user', aadObjectId: user.id, tenantId } })),
          ...(page.value.nextLink !== undefined && { continuationToken: page.value.nextLink }),
        };
      // Graph's own pause is already in place (PacedGraph): the connector's budget is not Graph's.
      case 'throttled':
      case 'transient':
        return { kind: 'failure', failure: { ...page, detail: `Graph: ${page.detail}` } };
      case 'forbidden':
        return { kind: 'ended', reason: 'graph-not-permitted', detail: `Graph refused to list ${describe(recipient)} (${page.code}): grant the app ${recipient.type === 'group' ? 'GroupMember.Read.All' : 'User.Read.All'} with admin consent. ${page.detail}` };
      case 'not-found':
        return { kind: 'ended', reason: 'group-not-found', detail: `Graph: ${page.detail}` };
      case 'rejected':
        return { kind: 'ended', reason: 'rejected', detail: `Graph: ${page.detail}` };
    }
  }

  /**
   * Members of a team with the app can be sent a 1:1 message: remember the ones the bot has not
   * seen yet, but never revive someone who removed the app or blocked the bot. Returns each
   * member's reference, as stored now.
   */
  private async rememberMembers(team: TeamReference, members: readonly TeamMember[]): Promise<TeamsUserReference[]> {
    const now = new Date().toISOString();
    const references: TeamsUserReference[] = [];
    for (const member of members) {
      const known = await this.deps.conversations.findUser({ type: 'user', userId: member.userId });
      if (known !== undefined) {
        references.push({ ...known, userId: member.userId });
        continue;
      }
      const user: TeamsUserReference = {
        serviceUrl: team.serviceUrl,
        tenantId: team.tenantId,
        botId: team.botId,
        userId: member.userId,
        installed: true,
        updatedAt: now,
        ...(member.aadObjectId !== undefined && { aadObjectId: member.aadObjectId }),
        ...(member.name !== undefined && { name: member.name }),
      };
      // Under ETags: a row the bot keeps by Entra id alone (a proactive install, a removal) is kept
      // as it is, with the Teams id added, never overwritten with `installed: true` from the roster.
      let stored: TeamsUserReference = user;
      await this.deps.conversations.updateUser(user, (current) => {
        stored = current === undefined ? user : { ...current, userId: member.userId };
        return stored;
      });
      references.push(stored);
    }
    return references;
  }
}

function describe(recipient: DirectoryRecipient): string {
  return recipient.type === 'group' ? `the members of group ${recipient.groupId}` : 'the organization\'s users';
}

/** A recipient a listing produced, with where it goes when the listing read that already. */
interface ListedTarget {
  readonly recipient: TargetRecipient;
  readonly resolved?: ResolvedTarget;
}

function listedUser(user: TeamsUserReference): ListedTarget {
  const recipient: TargetRecipient = user.aadObjectId !== undefined ? { type: 'user', aadObjectId: user.aadObjectId } : { type: 'user', userId: user.userId };
  return { recipient, resolved: resolveUser(user) };
}
