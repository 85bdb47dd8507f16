import type { FailureReason } from '../domain/outcome';
import type { BotEndpointAddress, UserReference } from '../domain/reference';
import type { Route } from '../domain/route';
import { welcomeKeys } from '../domain/welcomeJob';
import type { GraphFailure, GraphResult, InstallOutcome } from '../graph/graph';
import type { PacedGraph } from '../graph/pacedGraph';
import type { ConversationStore } from '../stores/conversationStore';
import type { WelcomeStore } from '../stores/welcomeStore';
import type { InstallTarget } from './resolveTarget';

export interface ProactiveInstallDependencies {
  readonly graph: PacedGraph;
  readonly conversations: ConversationStore;
  readonly welcomes: WelcomeStore;
  /** The app's id in the org catalog (TEAMS_APP_CATALOG_ID). */
  readonly catalogAppId: string;
}

/** What installing came to: where to send now, or what the caller does next. */
export type InstallResult =
  | { readonly kind: 'installed'; readonly route: Route }
  /** Graph asked to wait (429, 503): retry later; the tenant's Graph calls are paused already. */
  | { readonly kind: 'throttled'; readonly retryAfterMs?: number; readonly detail: string }
  | { readonly kind: 'transient'; readonly detail: string }
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly detail: string };

/** What the installation stands in for in the welcome store: the first notification says why it came. */
const COVERED_BY = 'the first notification after a proactive install (it says why it came)';

/**
 * Installs the app through Graph for a user or a team the bot has never seen, as Teams' guidance
 * says to, and stores where to send: the 1:1 chat Graph gives for the installation, or the team's
 * General channel. Teams then tells the bot of the install; that activity must not welcome on top
 * of the notification, so the welcome is marked covered *before* installing, and the mark is taken
 * back if the install fails. The reference is stored with `firstMessagePending`, so the first
 * message (this one, or a retry of it) says why it comes.
 */
export class ProactiveInstall {
  constructor(private readonly deps: ProactiveInstallDependencies) {}

  install(target: InstallTarget): Promise<InstallResult> {
    return target.kind === 'install-personal' ? this.forUser(target.at, target.aadObjectId) : this.inTeam(target.at, target.aadGroupId);
  }

  private async forUser(at: BotEndpointAddress, aadObjectId: string): Promise<InstallResult> {
    const { graph, conversations, catalogAppId } = this.deps;
    const installed = await this.installCovered(welcomeKeys.personal(aadObjectId), () => graph.installForUser(at.tenantId, aadObjectId, catalogAppId));
    if (installed.kind !== 'ok') return installResultOf(installed, 'user-not-found');
    // From here the app is installed: a failure retries, and finds it installed (409) next time.
    // Graph may not list a new installation, or its chat, for a moment: not found is worth a retry here.
    const chat = await graph.personalChatId(at.tenantId, aadObjectId, catalogAppId);
    if (chat.kind === 'not-found') return { kind: 'transient', detail: `Graph has no chat for the new installation yet: ${chat.detail}` };
    if (chat.kind !== 'ok') return installResultOf(chat, 'user-not-found');

    // Teams may have told the bot of the install already: its reference has the real address.
    // Written under the user's ETags, so what Teams stores meanwhile is kept, not overwritten.
    let user: UserReference | undefined;
    await conversations.updateUser({ aadObjectId }, (known) => {
      user =
        known !== undefined && known.installed && known.personalConversationId !== undefined
          ? { ...known, firstMessagePending: true, installedVia: 'graph' }
          : {
              ...known,
              ...at,
              aadObjectId,
              personalConversationId: chat.value,
              installed: true,
              hasPersonalApp: true,
              installedVia: 'graph',
              firstMessagePending: true,
              updatedAt: new Date().toISOString(),
            };
      return user;
    });
    if (user === undefined) throw new Error('the user update wrote nothing');
    const conversationId = user.personalConversationId ?? chat.value;
    const route: Route = {
      kind: 'conversation',
      at: { serviceUrl: user.serviceUrl, tenantId: user.tenantId, botId: user.botId },
      conversationId,
      conversationKind: 'personal',
      firstContact: true,
      ...(user.userId !== undefined && { userId: user.userId }),
    };
    return { kind: 'installed', route };
  }

  /**
   * Installs with the installation's welcome marked covered first. The mark is taken back when
   * Graph said no: not when the answer never came (a timeout may hide an install that happened,
   * and its welcome would then come on top of the retried notification).
   */
  private async installCovered(welcomeKey: string, install: () => Promise<GraphResult<InstallOutcome>>): Promise<GraphResult<InstallOutcome>> {
    const { welcomes } = this.deps;
    const covered = await welcomes.cover(welcomeKey, COVERED_BY);
    const installed = await install();
    const refused = installed.kind === 'forbidden' || installed.kind === 'not-found' || installed.kind === 'rejected';
    if (refused && covered) await welcomes.release(welcomeKey);
    return installed;
  }

  private async inTeam(at: BotEndpointAddress, aadGroupId: string): Promise<InstallResult> {
    const { graph, conversations, catalogAppId } = this.deps;
    // The General channel's id is the team's id for the Bot Framework: the welcome key needs it before the install.
    const channel = await graph.primaryChannel(at.tenantId, aadGroupId);
    if (channel.kind !== 'ok') return installResultOf(channel, 'team-not-found');
    const teamId = channel.value.id;
    const known = await conversations.findTeam(teamId);
    if (known !== undefined) {
      // The bot knew the team before it knew its group id (a team installed before the bot kept
      // them): remember the group id, so both spellings meet, and post as for any team. A team
      // that removed the app (the bot saw it go) is not installed again.
      if (!known.installed) return { kind: 'failed', reason: 'not-installed', detail: 'the app was removed from this team' };
      await conversations.patchTeam(teamId, { aadGroupId });
      return { kind: 'installed', route: { kind: 'new-thread', at: { serviceUrl: known.serviceUrl, tenantId: known.tenantId, botId: known.botId }, channelId: known.generalChannelId } };
    }
    const installed = await this.installCovered(welcomeKeys.team(teamId), () => graph.installInTeam(at.tenantId, aadGroupId, catalogAppId));
    if (installed.kind !== 'ok') return installResultOf(installed, 'team-not-found');
    const now = new Date().toISOString();
    const added = await conversations.addTeam({ ...at, generalChannelId: teamId, teamId, aadGroupId, installed: true, installedAsOf: now, firstMessagePending: true, updatedAt: now });
    // Teams' install activity got there first (with the team's own address and name): only what
    // this install adds goes in, and a removal seen meanwhile stays.
    if (!added) await conversations.patchTeam(teamId, { aadGroupId, firstMessagePending: true });
    const route: Route = { kind: 'new-thread', at: { serviceUrl: at.serviceUrl, tenantId: at.tenantId, botId: at.botId }, channelId: teamId, firstContact: true };
    return { kind: 'installed', route };
  }
}

/** What a failed Graph call means for the recipient: 403 is a missing permission or consent, 404 no such user or team. */
function installResultOf(failure: GraphFailure, notFound: FailureReason): InstallResult {
  switch (failure.kind) {
    case 'throttled':
      return { kind: 'throttled', detail: `Graph: ${failure.detail}`, ...(failure.retryAfterMs !== undefined && { retryAfterMs: failure.retryAfterMs }) };
    case 'transient':
      return { kind: 'transient', detail: `Graph: ${failure.detail}` };
    case 'forbidden':
      return { kind: 'failed', reason: 'install-not-permitted', detail: `Graph refused to install the app (${failure.code}): grant the app its Graph permission and admin consent. ${failure.detail}` };
    case 'not-found':
      return { kind: 'failed', reason: notFound, detail: `Graph: ${failure.detail}` };
    case 'rejected':
      return { kind: 'failed', reason: 'rejected', detail: `Graph: ${failure.detail}` };
  }
}
