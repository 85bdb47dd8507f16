import { isTemplateMessage, type Message } from '../domain/message';
import type { ConversationKind } from '../domain/reference';
import type { OutgoingMessage } from '../teams/teamsSender';
import { summaryFromCard } from './cardSummary';
import { renderNotificationCard } from './notificationCard';

/** What rendering needs besides the message. */
export interface RenderContext {
  /** APP_NAME: the name people see in the card footer. */
  readonly appName: string;
  /** Where the message lands: a card's footer and opt-out button say what works there. */
  readonly landsIn: ConversationKind;
}

/**
 * Turns an accepted message into what goes on the wire: templates become Adaptive Cards, and a
 * card that came with neither summary nor text gets its preview from its own first text.
 */
export function renderMessage(message: Message, context: RenderContext): OutgoingMessage {
  if (isTemplateMessage(message)) {
    return {
      card: renderNotificationCard(message.data, context),
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
