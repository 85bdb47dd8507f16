import * as ACData from 'adaptivecards-templating';
import type { NotificationTemplateData } from '../domain/message';

/** What the opt-out button submits; the bot endpoint treats it exactly like the user typing `stop`. */
export const OPT_OUT_SUBMIT = { teamsNotify: 'optOut' } as const;

/**
 * The notification card the Teams guidance asks for: what happened, the result, who or what
 * triggered it, what the reader can do, and how to stop getting these.
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
    {
      type: 'TextBlock',
      text: "You get this because ${appName} sends you notifications. Don't want them? Select **Stop these notifications** or reply **stop**.",
      wrap: true,
      isSubtle: true,
      size: 'Small',
      spacing: 'Medium',
    },
  ],
  actions: [
    { $data: '${actions}', type: 'Action.OpenUrl', title: '${title}', url: '${url}' },
    { type: 'Action.Submit', title: 'Stop these notifications', data: OPT_OUT_SUBMIT },
  ],
};

export function renderNotificationCard(data: NotificationTemplateData, appName: string): Record<string, unknown> {
  const template = new ACData.Template(NOTIFICATION_CARD_TEMPLATE);
  const card = template.expand({ $root: { actions: [], ...data, appName } }) as Record<string, unknown>;
  // The templating engine leaves an empty FactSet behind when no fact applies; Teams renders it as a gap.
  const body = (card.body as Record<string, unknown>[]).filter(
    (element) => element.type !== 'FactSet' || ((element.facts as unknown[] | undefined)?.length ?? 0) > 0,
  );
  return { ...card, body };
}
