import { MAX_SUMMARY_LENGTH, summaryFromCard } from '../../shared/messages/cardSummary';

const card = (body: unknown[]) => ({ type: 'AdaptiveCard' as const, version: '1.5', body });

describe('summaryFromCard', () => {
  it('goes depth first through containers, columns and tables, in reading order', () => {
    expect(
      summaryFromCard(
        card([
          { type: 'Container', items: [{ type: 'Image', url: 'https://x.example/a.png' }, { type: 'TextBlock', text: '' }] },
          {
            type: 'ColumnSet',
            columns: [
              { type: 'Column', items: [{ type: 'Image', url: 'https://x.example/b.png' }] },
              { type: 'Column', items: [{ type: 'Container', items: [{ type: 'TextBlock', text: 'Deep first' }] }] },
            ],
          },
          { type: 'TextBlock', text: 'Later at the top' },
        ]),
      ),
    ).toBe('Deep first');
    expect(
      summaryFromCard(card([{ type: 'Table', columns: [{ width: 1 }], rows: [{ type: 'TableRow', cells: [{ type: 'TableCell', items: [{ type: 'TextBlock', text: 'In a cell' }] }] }] }])),
    ).toBe('In a cell');
  });

  it('skips what the reader does not see first: invisible elements and the cards behind actions', () => {
    const shown = card([
      { type: 'TextBlock', text: 'hidden', isVisible: false },
      { type: 'Container', isVisible: false, items: [{ type: 'TextBlock', text: 'hidden too' }] },
      { type: 'ActionSet', actions: [{ type: 'Action.ShowCard', title: 'More', card: card([{ type: 'TextBlock', text: 'behind a button' }]) }] },
      { type: 'TextBlock', text: 'Seen' },
    ]);
    expect(summaryFromCard(shown)).toBe('Seen');
  });

  it('collapses whitespace, and ignores what is not an element', () => {
    expect(summaryFromCard(card([null, 'x', 42, { type: 'TextBlock', text: '  Build\n\n42\tpassed  ' }]))).toBe('Build 42 passed');
    expect(summaryFromCard({ type: 'AdaptiveCard', version: '1.5' })).toBeUndefined();
    expect(summaryFromCard({ type: 'AdaptiveCard', version: '1.5', body: 'nope' })).toBeUndefined();
  });

  it('caps a long text at the 300 characters the contract allows a summary, with an ellipsis', () => {
    const long = 'word '.repeat(200);
    const summary = summaryFromCard(card([{ type: 'TextBlock', text: long }])) as string;
    expect(summary.length).toBeLessThanOrEqual(MAX_SUMMARY_LENGTH);
    expect(MAX_SUMMARY_LENGTH).toBe(300);
    expect(summary.endsWith('…')).toBe(true);
    expect(long.startsWith(summary.slice(0, -1))).toBe(true);
    // Exactly 300 is kept whole.
    const exact = 'x'.repeat(300);
    expect(summaryFromCard(card([{ type: 'TextBlock', text: exact }]))).toBe(exact);
  });

  it('never cuts an emoji in half', () => {
    // 299 code units would end between the two halves of the first emoji: the cut moves before it.
    const text = `${'x'.repeat(298)}😀😀😀`;
    const summary = summaryFromCard(card([{ type: 'TextBlock', text }])) as string;
    expect(summary).toBe(`${'x'.repeat(298)}…`);
    // One earlier, the whole emoji fits.
    expect(summaryFromCard(card([{ type: 'TextBlock', text: text.slice(1) }]))).toBe(`${'x'.repeat(297)}😀…`);
    expect(summary).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
