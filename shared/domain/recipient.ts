import { z } from 'zod';

const id = (what: string) => z.string().trim().min(1, `${what} must not be empty`).max(512, `${what} is too long`);

/** An Entra tenant id: the tenant whose directory Graph reads, or where the app is installed. */
const tenantId = z.guid('tenantId must be an Entra tenant id (a GUID)');
/** An Entra group's object id: Graph paths are built from it, so nothing but a GUID. */
const groupId = (what: string) => z.guid(`${what} must be an Entra group id (a GUID)`);

/**
 * One user: by Entra object id (preferred, stable across apps) or by Teams user id (29:...).
 * `tenantId` (an extension) names the tenant to install the app in when the bot has never seen the
 * user and several tenants are allowed.
 */
export const userRecipientSchema = z
  .object({
    type: z.literal('user'),
    aadObjectId: id('aadObjectId').optional(),
    userId: id('userId').optional(),
    tenantId: tenantId.optional(),
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

/** A team's General channel: by the team id Teams gives bots, or by the team's Entra group id (Graph can install the app there). */
export const teamRecipientSchema = z
  .object({ type: z.literal('team'), teamId: id('teamId').optional(), aadGroupId: groupId('aadGroupId').optional(), tenantId: tenantId.optional() })
  .strict()
  .refine((r) => (r.teamId === undefined) !== (r.aadGroupId === undefined), { message: 'give exactly one of teamId or aadGroupId', path: ['teamId'] })
  .refine((r) => r.tenantId === undefined || r.aadGroupId !== undefined, { message: 'tenantId goes with aadGroupId', path: ['tenantId'] });
export const teamMembersRecipientSchema = z.object({ type: z.literal('teamMembers'), teamId: id('teamId') }).strict();
export const allUsersRecipientSchema = z.object({ type: z.literal('allUsers') }).strict();
export const allTeamsRecipientSchema = z.object({ type: z.literal('allTeams') }).strict();
/** Every transitive user member of an Entra group, each sent a 1:1 message (listed through Graph). */
export const groupRecipientSchema = z.object({ type: z.literal('group'), groupId: groupId('groupId'), tenantId: tenantId.optional() }).strict();
/** Every enabled member user of the tenant (listed through Graph), each sent a 1:1 message. */
export const organizationRecipientSchema = z.object({ type: z.literal('organization'), tenantId: tenantId.optional() }).strict();

export const recipientSchema = z.discriminatedUnion('type', [
  userRecipientSchema,
  conversationRecipientSchema,
  channelRecipientSchema,
  teamRecipientSchema,
  teamMembersRecipientSchema,
  allUsersRecipientSchema,
  allTeamsRecipientSchema,
  groupRecipientSchema,
  organizationRecipientSchema,
]);

export type UserRecipient =
  | { type: 'user'; aadObjectId: string; userId?: undefined; tenantId?: string }
  | { type: 'user'; userId: string; aadObjectId?: undefined; tenantId?: string };
export type ConversationRecipient = z.infer<typeof conversationRecipientSchema>;
export type ChannelRecipient = z.infer<typeof channelRecipientSchema>;
export type TeamRecipient =
  | { type: 'team'; teamId: string; aadGroupId?: undefined; tenantId?: undefined }
  | { type: 'team'; aadGroupId: string; teamId?: undefined; tenantId?: string };
export type TeamMembersRecipient = z.infer<typeof teamMembersRecipientSchema>;
export type AllUsersRecipient = z.infer<typeof allUsersRecipientSchema>;
export type AllTeamsRecipient = z.infer<typeof allTeamsRecipientSchema>;
export type GroupRecipient = z.infer<typeof groupRecipientSchema>;
export type OrganizationRecipient = z.infer<typeof organizationRecipientSchema>;

/** A recipient that names exactly one conversation to send to. */
export type TargetRecipient = UserRecipient | ConversationRecipient | ChannelRecipient | TeamRecipient;
/** A fan-out entry whose people Microsoft Graph lists: the directory, not the bot's references. */
export type DirectoryRecipient = GroupRecipient | OrganizationRecipient;
/** A recipient that stands for many targets, expanded by the delivery worker. */
export type FanOutRecipient = TeamMembersRecipient | AllUsersRecipient | AllTeamsRecipient | DirectoryRecipient;
export type Recipient = TargetRecipient | FanOutRecipient;

export function isFanOut(recipient: Recipient): recipient is FanOutRecipient {
  switch (recipient.type) {
    case 'teamMembers':
    case 'allUsers':
    case 'allTeams':
    case 'group':
    case 'organization':
      return true;
    default:
      return false;
  }
}

export function isDirectory(recipient: Recipient): recipient is DirectoryRecipient {
  return recipient.type === 'group' || recipient.type === 'organization';
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
      return recipient.teamId !== undefined ? `team:${recipient.teamId}` : `team:aad:${recipient.aadGroupId.toLowerCase()}`;
    case 'teamMembers':
      return `teamMembers:${recipient.teamId}`;
    case 'allUsers':
      return 'allUsers';
    case 'allTeams':
      return 'allTeams';
    case 'group':
      return `group:${recipient.groupId.toLowerCase()}`;
    case 'organization':
      return `organization:${(recipient.tenantId ?? '').toLowerCase()}`;
  }
}

/** The tenant a recipient names, if it names one (the request's `tenantId`, or a fan-out entry's). */
export function recipientTenant(recipient: Recipient): string | undefined {
  return 'tenantId' in recipient && typeof recipient.tenantId === 'string' ? recipient.tenantId : undefined;
}
