import { CardFactory, type Activity } from 'botbuilder';
import type { OutgoingMessage } from '../teamsSender';

/** A rendered message as a Bot Framework message activity: markdown text, card attachment, preview summary. */
export function toActivity(message: OutgoingMessage): Partial<Activity> {
  return {
    type: 'message',
    ...(message.text !== undefined && { text: message.text, textFormat: 'markdown' }),
    ...(message.summary !== undefined && { summary: message.summary }),
    ...(message.card !== undefined && { attachments: [CardFactory.adaptiveCard(message.card)] }),
  };
}
