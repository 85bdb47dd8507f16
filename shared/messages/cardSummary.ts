/** The longest summary the contract accepts (`message.summary`), so a derived one is never longer than a given one may be. */
export const MAX_SUMMARY_LENGTH = 300;

/**
 * The preview Teams shows in the chat list and the notification for a card that came without a
 * summary: the text of the card's first TextBlock that has any, read in the order a person reads
 * the card. Without it Teams shows a generic "sent a card". Undefined when the card has no text.
 */
export function summaryFromCard(card: Record<string, unknown>): string | undefined {
  const text = firstText(card.body);
  return text === undefined ? undefined : cap(text);
}

/**
 * Depth first through the elements and the containers that hold them: Container and Column
 * (`items`), ColumnSet (`columns`), Table (`rows`, then `cells`, then `items`). Actions are not
 * walked: a ShowCard's card is hidden until someone opens it, so it is not what the card says
 * first. Neither are elements marked invisible.
 */
function firstText(elements: unknown): string | undefined {
  if (!Array.isArray(elements)) return undefined;
  for (const element of elements) {
    if (typeof element !== 'object' || element === null) continue;
    const e = element as Record<string, unknown>;
    if (e.isVisible === false) continue;
    if (e.type === 'TextBlock' && typeof e.text === 'string') {
      const text = e.text.replace(/\s+/g, ' ').trim();
      if (text !== '') return text;
      continue;
    }
    for (const children of [e.items, e.columns, e.rows, e.cells]) {
      const found = firstText(children);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Cuts at the limit with an ellipsis, never between the two halves of a surrogate pair. */
function cap(text: string): string {
  if (text.length <= MAX_SUMMARY_LENGTH) return text;
  let end = MAX_SUMMARY_LENGTH - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end).trimEnd()}…`;
}
