import { isTemplateMessage, type Message } from '../domain/message';
import type { OutgoingMessage } from '../teams/teamsSender';
import { summaryFromCard } from './cardSummary';
import { renderNotificationCard } from './notificationCard';

/**
 * Turns an accepted message into what goes on the wire: templates become Adaptive Cards, and a
 * card that came with neither summary nor text gets its preview from its own first text.
 */
export function renderMessage(message: Message, appName: string): OutgoingMessage {
  if (isTemplateMessage(message)) {
    return {
      card: renderNotificationCard(message.data, appName),
      summary: message.summary ?? message.data.title,
    };
  }
  // Teams previews a message by its text when it has one; only a bare card needs a summary.
  const summary = message.summary ?? (message.text === undefined && message.card !== undefined ? summaryFromCard(message.card) : undefined);
  return {
    ...(message.text !== undefined && { text: message.text }),
    ...(message.card !== undefined && { card: message.card }),
    ...(summary !== undefined && { summary }),
  };
}
