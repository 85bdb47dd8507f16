import { z } from 'zod';
import type { BotEndpointAddress, ConversationKind } from './reference';

/**
 * Where a message goes once the stored references have been read: an existing conversation, or a
 * new thread in a channel. Planning works it out and the slice carries it to the send, so a
 * recipient's references are read once, not once more per send.
 */
export type Route =
  | {
      readonly kind: 'conversation';
      readonly at: BotEndpointAddress;
      readonly conversationId: string;
      /** What kind of conversation it is: the card's footer and the mute check depend on it. */
      readonly conversationKind: ConversationKind;
      /** Whose 1:1 chat it is, for a personal conversation: their opt-out and block apply. */
      readonly userId?: string;
      /** The app was installed here through Graph and this is its first message: it says why it came. */
      readonly firstContact?: boolean;
    }
  | { readonly kind: 'new-thread'; readonly at: BotEndpointAddress; readonly channelId: string; readonly firstContact?: boolean };

const addressSchema = z.object({ serviceUrl: z.string().min(1), tenantId: z.string().min(1), botId: z.string().min(1) });

export const routeSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('conversation'),
    at: addressSchema,
    conversationId: z.string().min(1),
    conversationKind: z.enum(['personal', 'groupChat', 'channel']),
    userId: z.string().min(1).optional(),
    firstContact: z.boolean().optional(),
  }),
  z.object({ kind: z.literal('new-thread'), at: addressSchema, channelId: z.string().min(1), firstContact: z.boolean().optional() }),
]);
