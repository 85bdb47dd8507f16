/** Where the bot talks to Teams for one tenant: every connector call needs these. */
export interface BotEndpointAddress {
  readonly serviceUrl: string;
  readonly tenantId: string;
  readonly botId: string;
}

export type ConversationKind = 'personal' | 'groupChat' | 'channel';

/**
 * A Teams user the bot has seen: enough to create the 1:1 chat, and the chat once it exists. Or a
 * user the app was installed for through Graph: known by Entra object id and chat until Teams'
 * first activity from them names their Teams id.
 */
export interface UserReference extends BotEndpointAddress {
  /** The Teams user id (29:...); absent only for a user installed through Graph whom Teams has not introduced yet. */
  readonly userId?: string;
  readonly aadObjectId?: string;
  readonly name?: string;
  /** The bot's 1:1 chat with the user, once created or seen. */
  readonly personalConversationId?: string;
  /** False after the user removed the app (or blocked the bot): send nothing until they come back. */
  readonly installed: boolean;
  /**
   * The app is installed in the user's personal scope (seen as an install or a message in the 1:1
   * chat), as opposed to a member of a team where it is installed. `allUsers` reaches only these.
   */
  readonly hasPersonalApp?: boolean;
  /** `graph`: this service installed the app for the user (proactive install), rather than the user or an admin. */
  readonly installedVia?: 'graph';
  /** Installed through Graph and sent nothing yet: the first message says why it comes (see `firstContactIntro`). */
  readonly firstMessagePending?: boolean;
  readonly updatedAt: string;
}

/** A user Teams has introduced to the bot: their Teams id is known (every `id:` row, every listing of all users). */
export type TeamsUserReference = UserReference & { readonly userId: string };

/** A team where the bot is installed; `team` recipients post to its General channel. */
export interface TeamReference extends BotEndpointAddress {
  readonly teamId: string;
  /** The team's Entra group id, from `channelData.team.aadGroupId` or a Graph install: `team` recipients may name it. */
  readonly aadGroupId?: string;
  readonly name?: string;
  /** In Teams the General channel's id is the team id; kept explicitly for clarity. */
  readonly generalChannelId: string;
  readonly installed: boolean;
  /**
   * When the evidence behind `installed` was seen: an activity from the team (its receipt), or the
   * start of the send Teams refused. A change with older evidence is not written, so a 403 that
   * lands late does not undo a reinstall seen since. Absent on rows from before it was kept.
   */
  readonly installedAsOf?: string;
  readonly installedBy?: string;
  /** As for a user: installed through Graph, and its first post says why the app is there. */
  readonly firstMessagePending?: boolean;
  readonly updatedAt: string;
}

/** Any conversation the bot is in: a personal chat, a group chat, or a channel. */
export interface ConversationReference extends BotEndpointAddress {
  readonly conversationId: string;
  readonly kind: ConversationKind;
  readonly teamId?: string;
  readonly name?: string;
  /** For a personal chat: the user's Teams id. */
  readonly userId?: string;
  readonly active: boolean;
  /**
   * For a channel: false after Teams answered 403 to a post there (a private or shared channel the
   * app was not added to), so sends there stop; the team is not affected. An activity from the
   * channel sets it true again. Absent means reachable.
   */
  readonly reachable?: boolean;
  /** When the evidence behind `reachable` was seen; ordered like `TeamReference.installedAsOf`. */
  readonly reachableAsOf?: string;
  readonly updatedAt: string;
}

/** The channel a channel conversation is in: a thread's id is the channel's with `;messageid=<root post id>` after it. */
export function channelOf(conversationId: string): string {
  const thread = conversationId.indexOf(';messageid=');
  return thread === -1 ? conversationId : conversationId.slice(0, thread);
}
