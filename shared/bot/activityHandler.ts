import { conversationSubject, userSubject } from '../domain/optOut';
import { channelOf, type ConversationKind, type UserReference } from '../domain/reference';
import { welcomeKeys, type WelcomeContent } from '../domain/welcomeJob';
import type { Logger } from '../logger';
import {
  helpMessage,
  mutedMessage,
  optedInMessage,
  optedOutMessage,
  unknownCommandMessage,
  unmutedMessage,
  type BotMessageSettings,
  type SharedConversationKind,
} from '../messages/botMessages';
import { OPT_OUT_SUBMIT } from '../messages/notificationCard';
import type { ConversationStore } from '../stores/conversationStore';
import type { OptOutStore } from '../stores/optOutStore';
import type { WelcomeStore } from '../stores/welcomeStore';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { ReadReceiptStore } from '../stores/readReceiptStore';

import type { OutgoingMessage } from '../teams/teamsSender';
import type { ServiceUrlTrust } from '../teams/trustedServiceUrl';
import { RefusedActivity } from './refusedActivity';
import type { ActivityHandler } from './botEndpoint';
import { tenantOf, type ChannelAccount, type IncomingActivity } from './incomingActivity';
import type { Welcomer } from './welcomes';

/** The event Teams sends a bot when the user reads its messages in their personal chat. */
export const READ_RECEIPT_EVENT = 'application/vnd.microsoft.readReceipt';

export interface ActivityHandlerDependencies {
  readonly conversations: ConversationStore;
  readonly optOuts: OptOutStore;
  /** Where a read receipt finds the messages it covers, and the rows that record them. */
  readonly receipts: ReadReceiptStore;
  readonly deliveries: Pick<DeliveryStore, 'markRead'>;
  /** Frees an installation's welcome when the app is removed. */
  readonly welcomes: WelcomeStore;
  /** Sends (or queues) an installation's one welcome, on the tenant's budget. */
  readonly welcomer: Welcomer;
  readonly settings: BotMessageSettings;
  /** Lower-case tenant ids; empty allows every tenant. */
  readonly allowedTenants: readonly string[];
  /** Which serviceUrls an activity may name (TEAMS_SERVICE_URL_HOSTS). Required: a handler that trusted every host would fail open. */
  readonly serviceUrls: ServiceUrlTrust;
  readonly log: Logger;
}

type Command = 'stop' | 'start' | 'help' | 'unknown';

/**
 * What the bot learns from Teams and what it answers. Every activity refreshes the references it
 * carries (serviceUrl can change); installs and member changes create or retire them; a personal
 * install or a team install gets one welcome; `stop`/`start`/`help` manage the user's opt-out in
 * a personal chat, and mute or unmute the conversation in a channel or group chat.
 */
export class TeamsActivityHandler implements ActivityHandler {
  constructor(private readonly deps: ActivityHandlerDependencies) {}

  async handle(activity: IncomingActivity): Promise<readonly OutgoingMessage[]> {
    // Before anything is stored or answered: a reply, and every later notification to what this
    // activity introduces, would go to its serviceUrl with the bot's token.
    const refusal = this.deps.serviceUrls.refusal(activity.serviceUrl);
    if (refusal !== undefined) {
      this.deps.log.warn(`activity ${activity.type} refused: ${refusal}`, { outcome: 'refused' });
      throw new RefusedActivity(refusal);
    }
    const tenantId = tenantOf(activity);
    if (tenantId === undefined) {
      this.deps.log.warn(`activity ${activity.type} without a tenant id ignored`, { outcome: 'ignored' });
      return [];
    }
    if (this.deps.allowedTenants.length > 0 && !this.deps.allowedTenants.includes(tenantId.toLowerCase())) {
      this.deps.log.warn(`activity ${activity.type} refused: its tenant is not in the allow-list`, { outcome: 'refused', reason: 'tenant-not-allowed', tenantId });
      return [];
    }
    const context = new ActivityContext(activity, tenantId);

    switch (activity.type) {
      case 'installationUpdate':
        return activity.action?.startsWith('remove') === true ? this.removed(context) : this.installed(context);
      case 'conversationUpdate':
        return this.conversationUpdate(context);
      case 'message':
        return this.message(context);
      case 'event':
        if (activity.name === READ_RECEIPT_EVENT) return this.readReceipt(context);
        await this.remember(context);
        return [];
      default:
        await this.remember(context);
        return [];
    }
  }

  /**
   * Teams' read receipt (personal chats only, with the RSC permission ChatMessageReadReceipt.Read.Chat):
   * the user read up to `lastReadMessageId`, so every message the bot sent them before it is read.
   * A receipt for messages this service did not send marks nothing.
   */
  private async readReceipt(context: ActivityContext): Promise<readonly OutgoingMessage[]> {
    const value = context.activity.value as { lastReadMessageId?: unknown } | undefined;
    const lastRead = value?.lastReadMessageId;
    if (context.kind !== 'personal' || typeof lastRead !== 'string') return [];
    const at = new Date().toISOString();
    const read = await this.deps.receipts.takeReadUpTo(context.address.tenantId, context.activity.conversation.id, lastRead);
    for (const message of read) {
      // A message being edited or recalled right now is kept for the next receipt.
      if ((await this.deps.deliveries.markRead(message.notificationId, message.recipientKey, at)) === 'busy') await this.deps.receipts.recordSent([message]);
    }
    return [];
  }

  private async conversationUpdate(context: ActivityContext): Promise<readonly OutgoingMessage[]> {
    const { activity } = context;
    const botId = activity.recipient.id;
    const eventType = activity.channelData?.eventType;
    if (activity.membersRemoved?.some((m) => m.id === botId) === true || eventType === 'teamDeleted') return this.removed(context);
    const replies = activity.membersAdded?.some((m) => m.id === botId) === true ? await this.installed(context) : await this.remember(context);
    await this.channelEvent(context, eventType);
    // People added to a team or chat: remember them so a 1:1 chat can be created later.
    for (const member of activity.membersAdded ?? []) {
      if (member.id !== botId) await this.rememberUser(context, member, false);
    }
    for (const member of activity.membersRemoved ?? []) {
      if (member.id !== botId) this.deps.log.log('a member left a conversation', { tenantId: context.tenantId, recipient: member.aadObjectId ?? member.id, conversation: activity.conversation.id });
    }
    return replies;
  }

  /** Channels created, renamed, restored or deleted in a team the bot is in: keep their references true. */
  private async channelEvent(context: ActivityContext, eventType: string | undefined): Promise<void> {
    const channel = context.activity.channelData?.channel;
    if (channel?.id === undefined || context.teamId === undefined) return;
    if (eventType !== 'channelCreated' && eventType !== 'channelRenamed' && eventType !== 'channelRestored' && eventType !== 'channelDeleted') return;
    const now = new Date().toISOString();
    await this.deps.conversations.saveConversation({
      ...context.address,
      conversationId: channel.id,
      kind: 'channel',
      teamId: context.teamId,
      active: eventType !== 'channelDeleted',
      updatedAt: now,
      ...(channel.name !== undefined && { name: channel.name }),
    });
    // Teams tells the bot of a channel it can post in; a deleted one is closed by `active`.
    if (eventType !== 'channelDeleted') await this.deps.conversations.setChannelReachable({ ...context.address, channelId: channel.id, teamId: context.teamId }, true, now);
  }

  /**
   * The welcome is not a reply in the turn: it spends the tenant's budget, and during an org-wide
   * install it may have to wait its turn in the queue (see `Welcomes`).
   */
  private async installed(context: ActivityContext): Promise<readonly OutgoingMessage[]> {
    await this.remember(context, true);
    await this.deps.welcomer.welcome({ key: context.welcomeKey, to: { ...context.address, conversationId: context.activity.conversation.id, conversationType: context.kind }, welcome: await this.welcomeOf(context) }, this.deps.log);
    return [];
  }

  private async welcomeOf(context: ActivityContext): Promise<WelcomeContent> {
    const { activity } = context;
    if (context.kind === 'personal') return { kind: 'personal' };
    const addedBy = await this.nameOf(activity.from);
    const teamName = activity.channelData?.team?.name;
    switch (context.kind) {
      case 'channel':
        return { kind: 'team', ...(addedBy !== undefined && { addedBy }), ...(teamName !== undefined && teamName !== '' && { teamName }) };
      case 'groupChat':
        return { kind: 'groupChat', ...(addedBy !== undefined && { addedBy }) };
    }
  }

  private async removed(context: ActivityContext): Promise<readonly OutgoingMessage[]> {
    const { activity, tenantId } = context;
    const now = new Date().toISOString();
    const { conversations } = this.deps;
    await conversations.saveConversation({ ...context.address, conversationId: activity.conversation.id, kind: context.kind, active: false, updatedAt: now });
    if (context.kind === 'personal') {
      await conversations.updateUser({ userId: activity.from.id }, (user) => ({ ...(user ?? this.userFrom(context, activity.from)), installed: false, hasPersonalApp: false, updatedAt: now }));
    }
    if (context.teamId !== undefined) await conversations.patchTeam(context.teamId, { installed: false, installedAsOf: now });
    await this.deps.welcomes.release(context.welcomeKey);
    this.deps.log.log(`app removed (${context.kind})`, { outcome: 'removed', tenantId, recipient: activity.conversation.id });
    return [];
  }

  private async message(context: ActivityContext): Promise<readonly OutgoingMessage[]> {
    await this.remember(context);
    const command = commandOf(context.activity);
    if (command === undefined) return [];
    if (command === 'help') return [helpMessage(this.deps.settings, context.kind)];
    return context.kind === 'personal' ? this.personalCommand(context, command) : this.sharedConversationCommand(context, context.kind, command);
  }

  /** In the personal chat `stop` and `start` are about the user: what is sent to them, and nothing else. */
  private async personalCommand(context: ActivityContext, command: Exclude<Command, 'help'>): Promise<readonly OutgoingMessage[]> {
    const { activity, tenantId } = context;
    const { optOuts, settings } = this.deps;
    const user = userSubject(tenantId, activity.from.id);
    switch (command) {
      case 'stop':
        await optOuts.optOut(user, { userId: activity.from.id, ...(activity.from.aadObjectId !== undefined && { aadObjectId: activity.from.aadObjectId }) });
        return [optedOutMessage(settings)];
      case 'start':
        await optOuts.optIn(user);
        return [optedInMessage(settings)];
      case 'unknown':
        return [unknownCommandMessage()];
    }
  }

  /**
   * `stop` (typed with an @mention, or the card's button) in a channel or group chat mutes it for
   * everyone there, whoever says it: the conversation is what stops getting notifications, so the
   * reply names who did it. Anything else the bot does not know, it leaves unanswered there.
   */
  private async sharedConversationCommand(
    context: ActivityContext,
    kind: SharedConversationKind,
    command: Exclude<Command, 'help'>,
  ): Promise<readonly OutgoingMessage[]> {
    const { activity, tenantId } = context;
    const { optOuts, settings } = this.deps;
    const conversation = conversationSubject(tenantId, activity.conversation.id);
    switch (command) {
      case 'stop': {
        const name = await this.nameOf(activity.from);
        await optOuts.optOut(conversation, {
          userId: activity.from.id,
          ...(name !== undefined && { name }),
          ...(activity.from.aadObjectId !== undefined && { aadObjectId: activity.from.aadObjectId }),
        });
        this.deps.log.log(`${kind} muted`, { outcome: 'muted', tenantId, recipient: activity.from.aadObjectId ?? activity.from.id, conversation: conversation.conversationId });
        return [mutedMessage(settings, kind, name)];
      }
      case 'start':
        await optOuts.optIn(conversation);
        return [unmutedMessage(settings, kind, await this.nameOf(activity.from))];
      case 'unknown':
        return [];
    }
  }

  /** Stores the references this activity carries; `installing` revives ones an uninstall retired. */
  private async remember(context: ActivityContext, installing = false): Promise<readonly OutgoingMessage[]> {
    const { activity } = context;
    const now = new Date().toISOString();
    const { conversations } = this.deps;
    const existing = await conversations.findConversation(activity.conversation.id);
    await conversations.saveConversation({
      ...context.address,
      conversationId: activity.conversation.id,
      kind: context.kind,
      // Teams only delivers a message from a conversation the bot is in: that revives it too.
      active: installing || activity.type === 'message' || (existing?.active ?? true),
      updatedAt: now,
      ...(activity.conversation.name !== undefined && { name: activity.conversation.name }),
      ...(context.teamId !== undefined && { teamId: context.teamId }),
      ...(context.kind === 'personal' && { userId: activity.from.id }),
    });
    const teamId = context.teamId;
    if (teamId !== undefined && context.channelId !== undefined) {
      // An activity from a channel (or a thread in it) proves the bot is in it: a 403 there before
      // this activity no longer holds; one whose send started after it still does.
      await conversations.setChannelReachable({ ...context.address, channelId: context.channelId, teamId }, true, now);
    }
    if (teamId !== undefined) {
      const team = await conversations.findTeam(teamId);
      if (installing || team !== undefined) {
        await conversations.saveTeam({
          ...context.address,
          teamId,
          generalChannelId: team?.generalChannelId ?? teamId,
          // Teams sends nothing from a team the app left: any activity with the team's context
          // proves the app is there, and revives a team a 403 (or a missed reinstall) closed.
          installed: true,
          installedAsOf: now,
          updatedAt: now,
          ...((activity.channelData?.team?.name ?? team?.name) !== undefined && { name: activity.channelData?.team?.name ?? team?.name }),
          ...(installing && activity.from.name !== undefined && { installedBy: activity.from.name }),
          // So that a `team` recipient named by its Entra group id finds the team the bot knows.
          ...(activity.channelData?.team?.aadGroupId !== undefined && activity.channelData.team.aadGroupId !== '' && { aadGroupId: activity.channelData.team.aadGroupId }),
        });
      }
    }
    // A proactive install in this tenant sends through this address until Teams' own activity comes.
    await conversations.saveTenantAddress(context.address);
    if (isUser(activity.from)) await this.rememberUser(context, activity.from, context.kind === 'personal' && (installing || activity.type === 'message'));
    return [];
  }

  /**
   * Remembers a user. Only an activity in the personal chat proves the bot may write there, so only
   * that sets the chat id and revives a user who had removed the app.
   */
  private async rememberUser(context: ActivityContext, account: ChannelAccount, personalChat: boolean): Promise<void> {
    const fresh = this.userFrom(context, account);
    // Read and written under the user's ETags: an uninstall landing in between is seen, not undone.
    await this.deps.conversations.updateUser({ userId: account.id }, (known) => ({
      ...known,
      ...fresh,
      installed: personalChat ? true : (known?.installed ?? true),
      ...(personalChat && { personalConversationId: context.activity.conversation.id, hasPersonalApp: true }),
      ...(!personalChat && known?.personalConversationId !== undefined && { personalConversationId: known.personalConversationId }),
    }));
  }

  /** Install activities often carry no display name; the name seen on an earlier activity will do. */
  private async nameOf(account: ChannelAccount): Promise<string | undefined> {
    if (account.name !== undefined && account.name !== '') return account.name;
    return (await this.deps.conversations.findUser({ type: 'user', userId: account.id }))?.name;
  }

  private userFrom(context: ActivityContext, account: ChannelAccount): UserReference {
    return {
      ...context.address,
      userId: account.id,
      installed: true,
      updatedAt: new Date().toISOString(),
      ...(account.aadObjectId !== undefined && { aadObjectId: account.aadObjectId }),
      ...(account.name !== undefined && account.name !== '' && { name: account.name }),
    };
  }
}

/** What every step needs to know about the activity, worked out once. */
class ActivityContext {
  readonly kind: ConversationKind;
  readonly teamId: string | undefined;
  /** The team channel the activity came from (a thread's conversation id less its ";messageid=" part), if it came from one. */
  readonly channelId: string | undefined;
  readonly address: { serviceUrl: string; tenantId: string; botId: string };

  constructor(
    readonly activity: IncomingActivity,
    readonly tenantId: string,
  ) {
    const type = activity.conversation.conversationType;
    this.kind = type === 'channel' || type === 'groupChat' ? type : activity.channelData?.team?.id !== undefined ? 'channel' : 'personal';
    this.teamId = activity.channelData?.team?.id;
    this.channelId = this.kind === 'channel' && this.teamId !== undefined ? channelOf(activity.conversation.id) : undefined;
    this.address = { serviceUrl: activity.serviceUrl, tenantId, botId: activity.recipient.id };
  }

  /** One welcome per installation: per team, per user for a personal install, else per conversation (see `welcomeKeys`). */
  get welcomeKey(): string {
    if (this.teamId !== undefined) return welcomeKeys.team(this.teamId);
    const aadObjectId = this.activity.from.aadObjectId;
    if (this.kind === 'personal' && aadObjectId !== undefined && aadObjectId !== '') return welcomeKeys.personal(aadObjectId);
    return welcomeKeys.conversation(this.activity.conversation.id);
  }
}

function isUser(account: ChannelAccount): boolean {
  // Bots have ids like 28:<app id>; users 29:... (or aadObjectIds); the Playground uses plain ids.
  return !account.id.startsWith('28:');
}

/** Reads a command from typed text (mentions stripped) or from the card's opt-out button. */
export function commandOf(activity: Pick<IncomingActivity, 'text' | 'value'>): Command | undefined {
  const value = activity.value as Record<string, unknown> | undefined;
  if (value !== undefined && value !== null && value.teamsNotify === OPT_OUT_SUBMIT.teamsNotify) return 'stop';
  const text = (activity.text ?? '')
    .replace(/<at>.*?<\/at>/gi, ' ')
    .trim()
    .toLowerCase()
    .replace(/[.!]+$/, '');
  if (text === '') return undefined;
  if (text === 'stop' || text === 'unsubscribe') return 'stop';
  if (text === 'start' || text === 'subscribe') return 'start';
  if (text === 'help' || text === '?') return 'help';
  return 'unknown';
}
