import { isTemplateMessage, type Message } from '../domain/message';
import type { OutgoingMessage } from '../teams/teamsSender';
import { renderNotificationCard } from './notificationCard';

/** Turns an accepted message into what goes on the wire: templates become Adaptive Cards. */
export function renderMessage(message: Message, appName: string): OutgoingMessage {
  if (isTemplateMessage(message)) {
    return {
      card: renderNotificationCard(message.data, appName),
      summary: message.summary ?? message.data.title,
    };
  }
  return {
    ...(message.text !== undefined && { text: message.text }),
    ...(message.card !== undefined && { card: message.card }),
    ...(message.summary !== undefined && { summary: message.summary }),
  };
}
