import { isTemplateMessage, type Message } from '../domain/message';
import type { ConversationKind } from '../domain/reference';
import type { OutgoingMessage } from '../teams/teamsSender';
import { firstContactIntro } from './botMessages';
import { summaryFromCard } from './cardSummary';
import { renderNotificationCard } from './notificationCard';

/** What rendering needs besides the message. */
export interface RenderContext {
  /** APP_NAME: the name people see in the card footer. */
  readonly appName: string;
  /** Where the message lands: a card's footer and opt-out button say what works there. */
  readonly landsIn: ConversationKind;
  /** The first message after a proactive install: it opens with why it comes (`firstContactIntro`). */
  readonly firstContact?: boolean;
}

/**
 * Turns an accepted message into what goes on the wire: templates become Adaptive Cards, and a
 * card that came with neither summary nor text gets its preview from its own first text.
 */
export function renderMessage(message: Message, context: RenderContext): OutgoingMessage {
  const rendered = renderBody(message, context);
  return context.firstContact === true ? withIntro(rendered, firstContactIntro(context.appName, context.landsIn)) : rendered;
}

function renderBody(message: Message, context: RenderContext): OutgoingMessage {
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

/** The intro goes first: above the text, or as the card's first block when the message is a card alone. */
function withIntro(message: OutgoingMessage, intro: string): OutgoingMessage {
  if (message.text !== undefined) return { ...message, text: `${intro}\n\n${message.text}` };
  const card = message.card;
  if (card !== undefined && Array.isArray(card.body)) {
    return { ...message, card: { ...card, body: [{ type: 'TextBlock', text: intro, wrap: true, isSubtle: true }, ...(card.body as unknown[])] } };
  }
  return { ...message, text: intro };
}
