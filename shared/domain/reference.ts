/** Where the bot talks to Teams for one tenant: every connector call needs these. */
export interface BotEndpointAddress {
  readonly serviceUrl: string;
  readonly tenantId: string;
  readonly botId: string;
}

export type ConversationKind = 'personal' | 'groupChat' | 'channel';

/** A Teams user the bot has seen: enough to create the 1:1 chat, and the chat once it exists. */
export interface UserReference extends BotEndpointAddress {
  readonly userId: string;
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
  readonly updatedAt: string;
}

/** A team where the bot is installed; `team` recipients post to its General channel. */
export interface TeamReference extends BotEndpointAddress {
  readonly teamId: string;
  readonly name?: string;
  /** In Teams the General channel's id is the team id; kept explicitly for clarity. */
  readonly generalChannelId: string;
  readonly installed: boolean;
  readonly installedBy?: string;
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
  readonly updatedAt: string;
}
