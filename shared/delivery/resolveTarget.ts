import type { FailureReason } from '../domain/outcome';
import type { TargetRecipient } from '../domain/recipient';
import { channelOf, type TeamReference, type UserReference } from '../domain/reference';
import type { Route } from '../domain/route';
import type { ConversationStore } from '../stores/conversationStore';
import type { BotEndpointAddress } from '../teams/teamsSender';

/**
 * Where a recipient's message goes, as far as the stored references know, before any connector
 * call: an existing conversation, a 1:1 chat still to create, a new channel thread, or (with
 * proactive install on) a user or team the app must first be installed for through Graph.
 */
export type ResolvedTarget =
  | Route
  | { readonly kind: 'create-personal'; readonly at: BotEndpointAddress; readonly user: UserReference & { readonly userId: string } }
  | { readonly kind: 'install-personal'; readonly at: BotEndpointAddress; readonly aadObjectId: string }
  | { readonly kind: 'install-team'; readonly at: BotEndpointAddress; readonly aadGroupId: string }
  | { readonly kind: 'unreachable'; readonly reason: FailureReason; readonly detail: string; readonly tenantId?: string };

/** A target the app must be installed for (through Graph) before its message can go. */
export type InstallTarget = Extract<ResolvedTarget, { kind: 'install-personal' | 'install-team' }>;

/**
 * How to reach people and teams the bot has never seen, when proactive install is on: which tenant
 * to install in when the recipient does not say, and the address to send through until Teams'
 * first activity from there brings the real one.
 */
export interface Reach {
  /** The tenant for a recipient that names none: the only allowed tenant, or the bot's own. */
  readonly defaultTenantId?: string;
  /** Where to send in a tenant the bot knows nothing of yet: Teams' global service URL, and the bot's id. */
  readonly fallback: { readonly serviceUrl: string; readonly botId: string };
}

/** Teams' global Bot Connector endpoint: used for a tenant until an activity from it gives its own. */
export const TEAMS_GLOBAL_SERVICE_URL = 'https://smba.trafficmanager.net/teams/';

export type ReachableTarget = Exclude<ResolvedTarget, { kind: 'unreachable' }>;

/** A route the connector can take: an install target has become one by the time anything is sent. */
export type SendableTarget = Exclude<ReachableTarget, InstallTarget>;

/**
 * Where a message lands, as the people there see it: someone's personal chat, or a conversation
 * many share (a channel, new thread or reply, or a group chat), which can be muted as a whole.
 */
export type Landing =
  | { readonly kind: 'personal' }
  | { readonly kind: 'channel' | 'groupChat'; readonly conversationId: string };

export function landingOf(target: SendableTarget): Landing {
  switch (target.kind) {
    case 'create-personal':
      return { kind: 'personal' };
    case 'new-thread':
      return { kind: 'channel', conversationId: target.channelId };
    case 'conversation':
      return target.conversationKind === 'personal' ? { kind: 'personal' } : { kind: target.conversationKind, conversationId: target.conversationId };
  }
}

/** Why a channel a 403 closed gets nothing (see `ConversationReference.reachable`). */
const CHANNEL_CLOSED =
  'the bot cannot post in this channel: Teams answered 403 there (a private or shared channel the app was not added to). Add the app to the channel; its next activity there reopens it';

/** `reach`: set when proactive install is on; without it, only what the bot has seen is reachable. */
export async function resolveTarget(recipient: TargetRecipient, store: ConversationStore, reach?: Reach): Promise<ResolvedTarget> {
  switch (recipient.type) {
    case 'user': {
      const user = await store.findUser(recipient);
      if (user !== undefined) return resolveUser(user, reach);
      if (reach !== undefined && recipient.aadObjectId !== undefined) {
        const tenantId = recipient.tenantId ?? reach.defaultTenantId;
        if (tenantId !== undefined) return { kind: 'install-personal', at: await tenantAddress(store, tenantId, reach), aadObjectId: recipient.aadObjectId };
        return unreachable('not-installed', 'the bot has not seen this user, and no tenant to install the app in: name the recipient\'s tenantId');
      }
      return unreachable('not-installed', 'no conversation reference for this user: the app is not installed for them, nor in a team they are in');
    }
    case 'conversation': {
      const conversation = await store.findConversation(recipient.conversationId);
      if (conversation === undefined) return unreachable('not-installed', 'the bot has never been in this conversation');
      if (!conversation.active) return unreachable('not-installed', 'the bot was removed from this conversation', conversation.tenantId);
      if (conversation.reachable === false) return unreachable('not-installed', CHANNEL_CLOSED, conversation.tenantId);
      if (conversation.kind === 'channel' && conversation.teamId !== undefined) {
        // A channel (or a thread in one) named by its id: the team and the channel rule it as for a `channel` recipient.
        const team = await store.findTeam(conversation.teamId);
        if (team !== undefined && !team.installed) return unreachable('not-installed', 'the app was removed from this team', conversation.tenantId);
        const channelId = channelOf(conversation.conversationId);
        if (channelId !== conversation.conversationId && (await store.findConversation(channelId))?.reachable === false) {
          return unreachable('not-installed', CHANNEL_CLOSED, conversation.tenantId);
        }
      }
      // A personal chat named by its id is still that user's: their opt-out and block apply.
      const user =
        conversation.kind === 'personal' && conversation.userId !== undefined
          ? await store.findUser({ type: 'user', userId: conversation.userId })
          : undefined;
      if (user !== undefined && !user.installed) return unreachable('not-installed', 'the user removed the app or the bot was blocked', user.tenantId);
      return {
        kind: 'conversation',
        at: address(conversation),
        conversationId: conversation.conversationId,
        conversationKind: conversation.kind,
        ...(user !== undefined && { userId: user.userId }),
      };
    }
    case 'team':
      if (recipient.aadGroupId !== undefined) {
        const team = await store.findTeamByGroup(recipient.aadGroupId);
        if (team !== undefined) return resolveTeam(team);
        const tenantId = recipient.tenantId ?? reach?.defaultTenantId;
        if (reach !== undefined && tenantId !== undefined) return { kind: 'install-team', at: await tenantAddress(store, tenantId, reach), aadGroupId: recipient.aadGroupId };
        return unreachable('not-installed', reach === undefined ? 'the app is not installed in this team (proactive install is off)' : 'the app is not installed in this team, and no tenant to install it in: name the tenantId');
      }
      return resolveTeam(await store.findTeam(recipient.teamId));
    case 'channel': {
      const team = await store.findTeam(recipient.teamId);
      if (team === undefined) return unreachable('not-installed', 'the app is not installed in this team');
      if (!team.installed) return unreachable('not-installed', 'the app was removed from this team', team.tenantId);
      const at = address(team);
      const channel = await store.findConversation(recipient.channelId);
      if (channel?.active === false) return unreachable('conversation-not-found', 'the channel was deleted', team.tenantId);
      if (channel?.reachable === false) return unreachable('not-installed', CHANNEL_CLOSED, team.tenantId);
      return recipient.replyToId !== undefined
        ? { kind: 'conversation', at, conversationId: `${recipient.channelId};messageid=${recipient.replyToId}`, conversationKind: 'channel' }
        : { kind: 'new-thread', at, channelId: recipient.channelId };
    }
  }
}

/**
 * Where a user's message goes, from their stored reference (as a listing of all users reads it
 * too). Someone who removed the app or blocked the bot is never installed for again.
 */
export function resolveUser(user: UserReference, reach?: Reach): ResolvedTarget {
  if (!user.installed) return unreachable('not-installed', 'the user removed the app or the bot was blocked', user.tenantId);
  const at = address(user);
  if (user.personalConversationId !== undefined) {
    return {
      kind: 'conversation',
      at,
      conversationId: user.personalConversationId,
      conversationKind: 'personal',
      ...(user.userId !== undefined && { userId: user.userId }),
      ...(user.firstMessagePending === true && { firstContact: true }),
    };
  }
  if (user.userId !== undefined) return { kind: 'create-personal', at, user: { ...user, userId: user.userId } };
  // Installed through Graph, and the chat Graph gave was lost since: Graph finds it again.
  if (reach !== undefined && user.aadObjectId !== undefined) return { kind: 'install-personal', at, aadObjectId: user.aadObjectId };
  return unreachable('not-installed', 'the chat with this user was lost and proactive install is off', user.tenantId);
}

function resolveTeam(team: TeamReference | undefined): ResolvedTarget {
  if (team === undefined) return unreachable('not-installed', 'the app is not installed in this team');
  if (!team.installed) return unreachable('not-installed', 'the app was removed from this team', team.tenantId);
  return { kind: 'new-thread', at: address(team), channelId: team.generalChannelId, ...(team.firstMessagePending === true && { firstContact: true }) };
}

async function tenantAddress(store: ConversationStore, tenantId: string, reach: Reach): Promise<BotEndpointAddress> {
  return (await store.findTenantAddress(tenantId)) ?? { ...reach.fallback, tenantId };
}

/** The route to carry in a slice; a 1:1 chat still to create is looked up at send time, since creating it stores the whole reference. */
export function routeOf(target: ResolvedTarget): Route | undefined {
  return target.kind === 'conversation' || target.kind === 'new-thread' ? target : undefined;
}

function address(ref: BotEndpointAddress): BotEndpointAddress {
  return { serviceUrl: ref.serviceUrl, tenantId: ref.tenantId, botId: ref.botId };
}

function unreachable(reason: FailureReason, detail: string, tenantId?: string): ResolvedTarget {
  return { kind: 'unreachable', reason, detail, ...(tenantId !== undefined && { tenantId }) };
}
