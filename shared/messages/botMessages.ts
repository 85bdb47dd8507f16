import type { OutgoingMessage } from '../teams/teamsSender';

export interface BotMessageSettings {
  readonly appName: string;
  /** Replaces the default "what this app does" paragraph of the personal welcome. */
  readonly welcomePersonalText?: string;
  /** Replaces the default paragraph of the team welcome. */
  readonly welcomeTeamText?: string;
}

const DEFAULT_WHAT = 'It sends you notifications from the systems your team connects to it: what happened, the result, who triggered it, and what you can do next.';

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

/** Team install: who added the app to which team, posted once to the General channel. */
export function teamWelcome(settings: BotMessageSettings, installer: string | undefined, teamName: string | undefined): OutgoingMessage {
  const who = installer !== undefined && installer !== '' ? installer : 'Someone';
  const where = teamName !== undefined && teamName !== '' ? `**${teamName}**` : 'this team';
  return {
    text: [
      `${who} added **${settings.appName}** to ${where}.`,
      settings.welcomeTeamText ??
        `${settings.appName} will post notifications here and can message team members one to one. Members can send it **stop** in a personal chat to opt out.`,
    ].join('\n\n'),
  };
}

export function groupChatWelcome(settings: BotMessageSettings, installer: string | undefined): OutgoingMessage {
  const who = installer !== undefined && installer !== '' ? installer : 'Someone';
  return { text: `${who} added **${settings.appName}** to this chat. It will post notifications here. Mention it with **help** to see what it understands.` };
}

export function helpMessage(settings: BotMessageSettings): OutgoingMessage {
  return {
    text: [
      `**${settings.appName}** sends you notifications. Commands:`,
      '- **stop** (or **unsubscribe**): stop notifications to you',
      '- **start**: get notifications again',
      '- **help**: this list',
    ].join('\n'),
  };
}

export function optedOutMessage(settings: BotMessageSettings): OutgoingMessage {
  return { text: `Done: ${settings.appName} won't send you notifications any more. Changed your mind? Send **start**.` };
}

export function optedInMessage(settings: BotMessageSettings): OutgoingMessage {
  return { text: `Welcome back: ${settings.appName} will send you notifications again. Send **stop** to opt out.` };
}

export function unknownCommandMessage(): OutgoingMessage {
  return { text: "I only send notifications and don't understand that. Send **help** to see the commands." };
}
