import * as ACData from 'adaptivecards-templating';
import type { NotificationTemplateData } from '../domain/message';
import type { ConversationKind } from '../domain/reference';

/**
 * What the opt-out button submits, wherever the card lands. The bot treats it exactly like `stop`
 * typed in the same place: in a personal chat it opts the user out, in a channel or group chat it
 * mutes that conversation. So the button needs no data saying where it is.
 */
export const OPT_OUT_SUBMIT = { teamsNotify: 'optOut' } as const;

/** The card's last words, which differ by where it lands: why the reader sees it, and how to stop it there. */
export interface OptOutFooter {
  readonly text: string;
  readonly button: string;
}

export function optOutFooter(landsIn: ConversationKind, appName: string): OptOutFooter {
  switch (landsIn) {
    case 'personal':
      return {
        text: `You get this because ${appName} sends you notifications. Don't want them? Select **Stop these notifications** or reply **stop**.`,
        button: 'Stop these notifications',
      };
    case 'channel':
      return {
        text: `${appName} posts notifications to this channel. To stop them here, @mention ${appName} with **stop**, or select **Mute this channel for everyone**. Either mutes the channel for everyone in it.`,
        button: 'Mute this channel for everyone',
      };
    case 'groupChat':
      return {
        text: `${appName} posts notifications to this chat. To stop them here, @mention ${appName} with **stop**, or select **Mute this chat for everyone**. Either mutes the chat for everyone in it.`,
        button: 'Mute this chat for everyone',
      };
  }
}

/**
 * The notification card the Teams guidance asks for: what happened, the result, who or what
 * triggered it, what the reader can do, and how to stop getting these where it landed.
 */
const NOTIFICATION_CARD_TEMPLATE = {
  type: 'AdaptiveCard',
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
  version: '1.5',
  body: [
    { type: 'TextBlock', text: '${title}', weight: 'Bolder', size: 'Medium', wrap: true, style: 'heading' },
    { type: 'TextBlock', text: '${whatHappened}', wrap: true },
    {
      type: 'FactSet',
      facts: [
        { $when: '${result != null}', title: 'Result', value: '${result}' },
        { $when: '${triggeredBy != null}', title: 'Triggered by', value: '${triggeredBy}' },
      ],
    },
    { type: 'TextBlock', text: '${footer.text}', wrap: true, isSubtle: true, size: 'Small', spacing: 'Medium' },
  ],
  actions: [
    { $data: '${actions}', type: 'Action.OpenUrl', title: '${title}', url: '${url}' },
    { type: 'Action.Submit', title: '${footer.button}', data: OPT_OUT_SUBMIT },
  ],
};

export function renderNotificationCard(
  data: NotificationTemplateData,
  context: { readonly appName: string; readonly landsIn: ConversationKind },
): Record<string, unknown> {
  const template = new ACData.Template(NOTIFICATION_CARD_TEMPLATE);
  const footer = optOutFooter(context.landsIn, context.appName);
  const card = template.expand({ $root: { actions: [], ...data, footer } }) as Record<string, unknown>;
  // The templating engine leaves an empty FactSet behind when no fact applies; Teams renders it as a gap.
  const body = (card.body as Record<string, unknown>[]).filter(
    (element) => element.type !== 'FactSet' || ((element.facts as unknown[] | undefined)?.length ?? 0) > 0,
  );
  return { ...card, body };
}
