import { channelOf } from './reference';
/**
 * Who or what said `stop`. A user opts out of what is sent to them one to one; a channel or group
 * chat is muted for everyone in it, whoever said it. A union, not a flag, so a store or a check
 * can never mistake one for the other.
 */
export type OptOutSubject =
  | { readonly kind: 'user'; readonly tenantId: string; readonly userId: string }
  | { readonly kind: 'conversation'; readonly tenantId: string; readonly conversationId: string };

/** The person who said `stop` (or pressed the button), kept with the row for whoever asks later. */
export interface OptOutActor {
  readonly userId: string;
  readonly name?: string;
  readonly aadObjectId?: string;
}

export function userSubject(tenantId: string, userId: string): Extract<OptOutSubject, { kind: 'user' }> {
  return { kind: 'user', tenantId, userId };
}

/**
 * A channel thread's conversation id is `<channel id>;messageid=<root post id>`: what is muted is
 * the channel, so a `stop` in one thread covers every thread and every new post there.
 */
export function conversationSubject(tenantId: string, conversationId: string): Extract<OptOutSubject, { kind: 'conversation' }> {
  return { kind: 'conversation', tenantId, conversationId: channelOf(conversationId) };
}
