import type { SendFailure, SendOutcome } from '../domain/outcome';
import type { BotEndpointAddress } from '../domain/reference';

export type { BotEndpointAddress } from '../domain/reference';

/** A rendered message, ready for the wire. */
export interface OutgoingMessage {
  readonly text?: string;
  /** Adaptive Card content (already templated). */
  readonly card?: Record<string, unknown>;
  readonly summary?: string;
}


export interface ConversationAddress extends BotEndpointAddress {
  readonly conversationId: string;
  readonly conversationType?: 'personal' | 'groupChat' | 'channel';
}

export interface TeamMember {
  readonly userId: string;
  readonly aadObjectId?: string;
  readonly name?: string;
}

/** What changing a sent message came to: done, or why not (classified like a send). */
export type ChangeOutcome = { readonly kind: 'changed' } | SendFailure;

export type CreateConversationResult = { readonly kind: 'created'; readonly conversationId: string } | SendFailure;
export type TeamMembersPage =
  | { readonly kind: 'members'; readonly members: readonly TeamMember[]; readonly continuationToken?: string }
  | SendFailure;

/**
 * The port to Teams' Bot Connector. The production adapter is botbuilder's CloudAdapter; the
 * Microsoft 365 Agents SDK can replace it here without the core knowing. Adapters never throw for a
 * connector answer: they classify it into a `SendOutcome`.
 */
export interface TeamsSender {
  send(to: ConversationAddress, message: OutgoingMessage): Promise<SendOutcome>;
  /** Creates (or gets back: Teams returns the existing one) the 1:1 chat between the bot and a user. */
  createPersonalConversation(at: BotEndpointAddress, userId: string): Promise<CreateConversationResult>;
  /** Starts a new thread in a channel with this message as its root post. */
  createChannelThread(at: BotEndpointAddress, channelId: string, message: OutgoingMessage): Promise<SendOutcome>;
  /** One page of a team's roster (paged: the unpaged call is throttled to 5 a minute). */
  listTeamMembers(at: BotEndpointAddress, teamId: string, continuationToken?: string): Promise<TeamMembersPage>;
  /** Replaces a message the bot sent, in place (`PUT /v3/conversations/{id}/activities/{activityId}`). */
  updateMessage(to: ConversationAddress, activityId: string, message: OutgoingMessage): Promise<ChangeOutcome>;
  /** Deletes a message the bot sent (`DELETE` on the same path): Teams shows it as deleted. */
  deleteMessage(to: ConversationAddress, activityId: string): Promise<ChangeOutcome>;
}
