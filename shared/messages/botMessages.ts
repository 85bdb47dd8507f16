import type { ConversationKind } from '../domain/reference';
import type { OutgoingMessage } from '../teams/teamsSender';

export interface BotMessageSettings {
  /** APP_NAME: the one name people see. */
  readonly appName: string;
  /** Replaces the default "what this app does" paragraph of the personal welcome. */
  readonly welcomePersonalText?: string;
  /** Replaces the default "what this app does" paragraph of the team welcome; how to stop it stays. */
  readonly welcomeTeamText?: string;
}

/** A conversation many people share, which `stop` mutes for all of them. */
export type SharedConversationKind = Exclude<ConversationKind, 'personal'>;

const place = (kind: SharedConversationKind): string => (kind === 'channel' ? 'channel' : 'chat');
const someone = (name: string | undefined): string => (name !== undefined && name !== '' ? name : 'Someone');

const DEFAULT_WHAT = 'It sends you notifications from the systems your team connects to it: what happened, the result, who triggered it, and what you can do next.';

/**
 * The opening of the first message after the organization installed the app for someone (or in a
 * team) through Graph: it stands in for the welcome, so it says why it comes and what to do, in
 * one line above the notification itself.
 */
export function firstContactIntro(appName: string, landsIn: ConversationKind): string {
  return landsIn === 'personal'
    ? `Your organization added **${appName}** to your Teams to send you notifications like the one below. Reply **help** to see what it does, or **stop** to turn them off.`
    : `Your organization added **${appName}** to this team to post notifications like the one below. @mention it with **help** to see what it does, or with **stop** to mute this channel.`;
}

/** Personal install: why the user sees this, what the app does, and one thing to try. */
export function personalWelcome(settings: BotMessageSettings): OutgoingMessage {
  return {
    summary: `Welcome to ${settings.appName}`,
    card: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: '1.5',
      body: [
        { type: 'TextBlock', text: `Welcome to ${settings.appName}`, weight: 'Bolder', size: 'Medium', style: 'heading', wrap: true },
        { type: 'TextBlock', text: `You're seeing this because ${settings.appName} was installed for you in Teams.`, wrap: true },
        { type: 'TextBlock', text: settings.welcomePersonalText ?? DEFAULT_WHAT, wrap: true },
        {
          type: 'TextBlock',
          text: 'Try it: send **help** to see what I understand. Send **stop** any time to stop notifications, and **start** to get them again.',
          wrap: true,
        },
      ],
    },
  };
}

/**
 * Team install: who added the app to which team, posted once to the General channel. It says both
 * ways to stop: one person for themselves, or anyone for the whole channel.
 */
export function teamWelcome(settings: BotMessageSettings, installer: string | undefined, teamName: string | undefined): OutgoingMessage {
  const app = settings.appName;
  const where = teamName !== undefined && teamName !== '' ? `**${teamName}**` : 'this team';
  return {
    text: [
      `${someone(installer)} added **${app}** to ${where}.`,
      settings.welcomeTeamText ?? `${app} will post notifications here and can message team members one to one.`,
      `To stop the notifications it sends you, send **stop** to ${app} in a personal chat. To mute this channel for everyone, @mention ${app} here with **stop**; **start** turns it back on.`,
    ].join('\n\n'),
  };
}

export function groupChatWelcome(settings: BotMessageSettings, installer: string | undefined): OutgoingMessage {
  const app = settings.appName;
  return {
    text: [
      `${someone(installer)} added **${app}** to this chat. It will post notifications here.`,
      `To stop the notifications it sends you, send **stop** to ${app} in a personal chat. To mute this chat for everyone, @mention ${app} here with **stop**; **start** turns it back on. Mention it with **help** to see what it understands.`,
    ].join('\n\n'),
  };
}

/** The commands that work where `help` was asked: the personal ones, or the channel and group chat ones. */
export function helpMessage(settings: BotMessageSettings, kind: ConversationKind): OutgoingMessage {
  const app = settings.appName;
  if (kind === 'personal') {
    return {
      text: [
        `**${app}** sends you notifications. Commands:`,
        '- **stop** (or **unsubscribe**): stop notifications to you',
        '- **start**: get notifications again',
        '- **help**: this list',
      ].join('\n'),
    };
  }
  const here = place(kind);
  return {
    text: [
      `**${app}** posts notifications to this ${here}. Commands (@mention ${app} first):`,
      `- **stop** (or **unsubscribe**): mute notifications to this ${here}, for everyone in it`,
      '- **start**: turn them back on',
      '- **help**: this list',
      '',
      `To stop only the notifications ${app} sends you, send it **stop** in a personal chat.`,
    ].join('\n'),
  };
}

export function optedOutMessage(settings: BotMessageSettings): OutgoingMessage {
  return { text: `Done: ${settings.appName} won't send you notifications any more. Changed your mind? Send **start**.` };
}

export function optedInMessage(settings: BotMessageSettings): OutgoingMessage {
  return { text: `Welcome back: ${settings.appName} will send you notifications again. Send **stop** to opt out.` };
}

/** Said in the thread where someone muted a channel or chat: it names them, because it affects everyone there. */
export function mutedMessage(settings: BotMessageSettings, kind: SharedConversationKind, who: string | undefined): OutgoingMessage {
  const app = settings.appName;
  return { text: `${someone(who)} muted notifications from ${app} in this ${place(kind)}. @mention ${app} with **start** to turn them back on.` };
}

export function unmutedMessage(settings: BotMessageSettings, kind: SharedConversationKind, who: string | undefined): OutgoingMessage {
  const app = settings.appName;
  return { text: `${someone(who)} turned notifications from ${app} back on in this ${place(kind)}. @mention ${app} with **stop** to mute them again.` };
}

export function unknownCommandMessage(): OutgoingMessage {
  return { text: "I only send notifications and don't understand that. Send **help** to see the commands." };
}
