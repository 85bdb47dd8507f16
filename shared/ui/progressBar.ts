import type { StatusCounts } from '../domain/notification';

const WIDTH = 240;
const HEIGHT = 14;
/** Segment order and colour: what reached people first, what is still to come last. */
const SEGMENTS = [
  { key: 'delivered', fill: '#2e7d32' },
  { key: 'failed', fill: '#c62828' },
  { key: 'skipped', fill: '#9e9e9e' },
  { key: 'recalled', fill: '#6a1b9a' },
  { key: 'pending', fill: '#e0e0e0' },
] as const;

/**
 * The counts as a stacked bar: SVG with width attributes, so the page's CSP needs no inline
 * styles. Its label says the numbers for screen readers.
 */
export function progressBar(counts: StatusCounts): string {
  const total = SEGMENTS.reduce((sum, s) => sum + counts[s.key], 0);
  const label = SEGMENTS.map((s) => `${counts[s.key]} ${s.key}`).join(', ');
  let x = 0;
  const rects = SEGMENTS.map((s) => {
    const width = total === 0 ? 0 : (counts[s.key] / total) * WIDTH;
    const rect = `<rect class="bar-${s.key}" x="${x.toFixed(2)}" y="0" width="${width.toFixed(2)}" height="${HEIGHT}" fill="${s.fill}"/>`;
    x += width;
    return rect;
  }).join('');
  const empty = total === 0 ? `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#f5f5f5"/>` : '';
  return `<svg class="bar" role="img" aria-label="${label}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${empty}${rects}</svg>`;
}
