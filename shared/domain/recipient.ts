import { z } from 'zod';

const id = (what: string) => z.string().trim().min(1, `${what} must not be empty`).max(512, `${what} is too long`);

/** One user: by Entra object id (preferred, stable across apps) or by Teams user id (29:...). */
export const userRecipientSchema = z
  .object({
    type: z.literal('user'),
    aadObjectId: id('aadObjectId').optional(),
    userId: id('userId').optional(),
  })
  .strict()
  .refine((r) => (r.aadObjectId === undefined) !== (r.userId === undefined), {
    message: 'give exactly one of aadObjectId or userId',
    path: ['aadObjectId'],
  });

export const conversationRecipientSchema = z
  .object({ type: z.literal('conversation'), conversationId: id('conversationId') })
  .strict();

export const channelRecipientSchema = z
  .object({
    type: z.literal('channel'),
    teamId: id('teamId'),
    channelId: id('channelId'),
    replyToId: id('replyToId').optional(),
  })
  .strict();

export const teamRecipientSchema = z.object({ type: z.literal('team'), teamId: id('teamId') }).strict();
export const teamMembersRecipientSchema = z.object({ type: z.literal('teamMembers'), teamId: id('teamId') }).strict();
export const allUsersRecipientSchema = z.object({ type: z.literal('allUsers') }).strict();
export const allTeamsRecipientSchema = z.object({ type: z.literal('allTeams') }).strict();

export const recipientSchema = z.discriminatedUnion('type', [
  userRecipientSchema,
  conversationRecipientSchema,
  channelRecipientSchema,
  teamRecipientSchema,
  teamMembersRecipientSchema,
  allUsersRecipientSchema,
  allTeamsRecipientSchema,
]);

export type UserRecipient =
  | { type: 'user'; aadObjectId: string; userId?: undefined }
  | { type: 'user'; userId: string; aadObjectId?: undefined };
export type ConversationRecipient = z.infer<typeof conversationRecipientSchema>;
export type ChannelRecipient = z.infer<typeof channelRecipientSchema>;
export type TeamRecipient = z.infer<typeof teamRecipientSchema>;
export type TeamMembersRecipient = z.infer<typeof teamMembersRecipientSchema>;
export type AllUsersRecipient = z.infer<typeof allUsersRecipientSchema>;
export type AllTeamsRecipient = z.infer<typeof allTeamsRecipientSchema>;

/** A recipient that names exactly one conversation to send to. */
export type TargetRecipient = UserRecipient | ConversationRecipient | ChannelRecipient | TeamRecipient;
/** A recipient that stands for many targets, expanded by the delivery worker. */
export type FanOutRecipient = TeamMembersRecipient | AllUsersRecipient | AllTeamsRecipient;
export type Recipient = TargetRecipient | FanOutRecipient;

export function isFanOut(recipient: Recipient): recipient is FanOutRecipient {
  return recipient.type === 'teamMembers' || recipient.type === 'allUsers' || recipient.type === 'allTeams';
}

/**
 * A stable key for a recipient inside one notification: the status row key, the idempotency unit
 * and part of the queue message id. Two spellings of the same target give the same key.
 */
export function recipientKey(recipient: Recipient): string {
  switch (recipient.type) {
    case 'user':
      return recipient.aadObjectId !== undefined ? `user:aad:${recipient.aadObjectId.toLowerCase()}` : `user:id:${recipient.userId}`;
    case 'conversation':
      return `conversation:${recipient.conversationId}`;
    case 'channel':
      return recipient.replyToId !== undefined
        ? `channel:${recipient.teamId}:${recipient.channelId}:reply:${recipient.replyToId}`
        : `channel:${recipient.teamId}:${recipient.channelId}`;
    case 'team':
      return `team:${recipient.teamId}`;
    case 'teamMembers':
      return `teamMembers:${recipient.teamId}`;
    case 'allUsers':
      return 'allUsers';
    case 'allTeams':
      return 'allTeams';
  }
}
