import type { FailureReason } from '../domain/outcome';
import type { TargetRecipient } from '../domain/recipient';
import type { UserReference } from '../domain/reference';
import type { Route } from '../domain/route';
import type { ConversationStore } from '../stores/conversationStore';
import type { BotEndpointAddress } from '../teams/teamsSender';

/**
 * Where a recipient's message goes, as far as the stored references know, before any connector
 * call: an existing conversation, a 1:1 chat still to create, or a new channel thread.
 */
export type ResolvedTarget =
  | Route
  | { readonly kind: 'create-personal'; readonly at: BotEndpointAddress; readonly user: UserReference }
  | { readonly kind: 'unreachable'; readonly reason: FailureReason; readonly detail: string; readonly tenantId?: string };

export type ReachableTarget = Exclude<ResolvedTarget, { kind: 'unreachable' }>;

/**
 * Where a message lands, as the people there see it: someone's personal chat, or a conversation
 * many share (a channel, new thread or reply, or a group chat), which can be muted as a whole.
 */
export type Landing =
  | { readonly kind: 'personal' }
  | { readonly kind: 'channel' | 'groupChat'; readonly conversationId: string };

export function landingOf(target: ReachableTarget): Landing {
  switch (target.kind) {
    case 'create-personal':
      return { kind: 'personal' };
    case 'new-thread':
      return { kind: 'channel', conversationId: target.channelId };
    case 'conversation':
      return target.conversationKind === 'personal' ? { kind: 'personal' } : { kind: target.conversationKind, conversationId: target.conversationId };
  }
}

export async function resolveTarget(recipient: TargetRecipient, store: ConversationStore): Promise<ResolvedTarget> {
  switch (recipient.type) {
    case 'user': {
      const user = await store.findUser(recipient);
      if (user === undefined) {
        return unreachable('not-installed', 'no conversation reference for this user: the app is not installed for them, nor in a team they are in');
      }
      return resolveUser(user);
    }
    case 'conversation': {
      const conversation = await store.findConversation(recipient.conversationId);
      if (conversation === undefined) return unreachable('not-installed', 'the bot has never been in this conversation');
      if (!conversation.active) return unreachable('not-installed', 'the bot was removed from this conversation', conversation.tenantId);
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
    case 'channel':
    case 'team': {
      const team = await store.findTeam(recipient.teamId);
      if (team === undefined) return unreachable('not-installed', 'the app is not installed in this team');
      if (!team.installed) return unreachable('not-installed', 'the app was removed from this team', team.tenantId);
      const at = address(team);
      if (recipient.type === 'team') return { kind: 'new-thread', at, channelId: team.generalChannelId };
      const channel = await store.findConversation(recipient.channelId);
      if (channel?.active === false) return unreachable('conversation-not-found', 'the channel was deleted', team.tenantId);
      return recipient.replyToId !== undefined
        ? { kind: 'conversation', at, conversationId: `${recipient.channelId};messageid=${recipient.replyToId}`, conversationKind: 'channel' }
        : { kind: 'new-thread', at, channelId: recipient.channelId };
    }
  }
}

/** Where a user's message goes, from their stored reference (as a listing of all users reads it too). */
export function resolveUser(user: UserReference): ResolvedTarget {
  if (!user.installed) return unreachable('not-installed', 'the user removed the app or the bot was blocked', user.tenantId);
  const at = address(user);
  return user.personalConversationId !== undefined
    ? { kind: 'conversation', at, conversationId: user.personalConversationId, conversationKind: 'personal', userId: user.userId }
    : { kind: 'create-personal', at, user };
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
