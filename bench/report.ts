/**
 * The bench's outputs: the Markdown table and a hand-written SVG chart (deliveries per second
 * over time, one line per tenant). Pure functions of the results `run.ts` collects.
 */

/** One tenant's connector series, relative to the scenario's first POST. */
export interface TenantSeries {
  readonly tenantId: string;
  /** Allowed requests per second for this tenant. */
  readonly allowed: number;
  /** [seconds since the POST (start of the wall-clock second), accepted, throttled, faults] */
  readonly points: readonly (readonly [number, number, number, number])[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79'];

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  return (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Deliveries (accepted requests) per second per tenant, 429s of all tenants in red, the allowed rate dashed. */
export function renderSvg(
  title: string,
  series: readonly TenantSeries[],
  options: { readonly marks?: readonly { at: number; label: string }[]; readonly aggregateAllowed?: number; readonly yLabel?: string } = {},
): string {
  const marks = options.marks ?? [];
  const width = 860;
  const height = 400;
  const left = 56;
  const right = 170;
  const top = 36;
  const bottom = 46;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.points);
  // A wall-clock second that began just before the POST starts below 0.
  const minT = Math.min(0, ...all.map((p) => p[0]));
  const maxT = Math.max(1, ...all.map((p) => p[0] + 1), ...marks.map((m) => m.at + 1));
  const throttledBySecond = new Map<number, number>();
  for (const p of all) if (p[2] > 0) throttledBySecond.set(p[0], (throttledBySecond.get(p[0]) ?? 0) + p[2]);
  // All tenants together, every second from the first to the last (when asked for).
  const sum = new Map<number, number>();
  for (const p of all) sum.set(p[0], (sum.get(p[0]) ?? 0) + p[1]);
  const seen = [...sum.keys()];
  const aggregate: [number, number][] =
    options.aggregateAllowed === undefined || seen.length === 0
      ? []
      : Array.from({ length: Math.max(...seen) - Math.min(...seen) + 1 }, (_, i) => [Math.min(...seen) + i, sum.get(Math.min(...seen) + i) ?? 0]);
  const maxY =
    Math.max(1, ...all.map((p) => p[1]), ...series.map((s) => s.allowed), ...throttledBySecond.values(), ...aggregate.map((p) => p[1]), options.aggregateAllowed ?? 0) * 1.1;
  const x = (t: number) => left + ((t - minT) / (maxT - minT)) * plotW;
  const y = (v: number) => top + plotH - (v / maxY) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // Axes and grid.
  const yStep = niceStep(maxY, 6);
  for (let v = 0; v <= maxY; v += yStep) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  }
  const xStep = niceStep(maxT - minT, 10);
  for (let t = 0; t <= maxT; t += xStep) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="#333"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle">seconds since the POST</text>`);
  out.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel ?? 'deliveries per second')}</text>`);
  // The allowed rate(s), dashed.
  const allowedLines = [...new Set(series.map((s) => s.allowed))].map((allowed) => ({ allowed, label: `allowed ${allowed}/s${series.length > 1 ? ' per tenant' : ''}` }));
  if (options.aggregateAllowed !== undefined) allowedLines.push({ allowed: options.aggregateAllowed, label: `allowed ${options.aggregateAllowed}/s, all tenants` });
  for (const { allowed, label } of allowedLines) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(allowed).toFixed(1)}" y2="${y(allowed).toFixed(1)}" stroke="#444" stroke-dasharray="5 4"/>`);
    out.push(`<text x="${left + plotW - 4}" y="${(y(allowed) - 4).toFixed(1)}" text-anchor="end" fill="#444">${esc(label)}</text>`);
  }
  for (const m of marks) {
    out.push(`<line x1="${x(m.at).toFixed(1)}" x2="${x(m.at).toFixed(1)}" y1="${top}" y2="${top + plotH}" stroke="#d62728" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${(x(m.at) + 3).toFixed(1)}" y="${top + 12}" fill="#d62728">${esc(m.label)}</text>`);
  }
  // One line per tenant, each point at the middle of its second.
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const points = s.points.map((p) => `${x(p[0] + 0.5).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    if (s.points.length === 1) {
      const p = s.points[0] as readonly [number, number, number, number];
      out.push(`<circle cx="${x(p[0] + 0.5).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    } else if (s.points.length > 1) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points}"/>`);
    }
  });
  if (aggregate.length > 1) {
    out.push(`<polyline fill="none" stroke="#000" stroke-width="2" points="${aggregate.map(([t, v]) => `${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`);
  }
  if (throttledBySecond.size > 0) {
    for (const [t, n] of throttledBySecond) {
      out.push(`<rect x="${x(t).toFixed(1)}" y="${y(n).toFixed(1)}" width="${Math.max(1, x(t + 1) - x(t)).toFixed(1)}" height="${(y(0) - y(n)).toFixed(1)}" fill="#d62728" fill-opacity="0.5"/>`);
    }
  }
  // Legend.
  const lx = left + plotW + 14;
  let ly = top + 6;
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 24}" y="${ly + 4}">${esc(s.tenantId)}</text>`);
    ly += 16;
  });
  if (aggregate.length > 1) {
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="#000" stroke-width="2"/>`);
    out.push(`<text x="${lx + 24}" y="${ly + 4}">all tenants</text>`);
    ly += 16;
  }
  if (throttledBySecond.size > 0) {
    out.push(`<rect x="${lx}" y="${ly - 5}" width="18" height="10" fill="#d62728" fill-opacity="0.5"/>`);
    out.push(`<text x="${lx + 24}" y="${ly + 4}">${series.length > 1 ? '429s (all tenants)' : '429s'}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** JSON with two-space indents, but arrays of numbers (the per-second points) on one line each. */
export function compactJson(value: unknown): string {
  return JSON.stringify(value, undefined, 1).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, inner: string) => `[${inner.replace(/\s+/g, '')}]`);
}

/** A Markdown table from a header and rows of cells. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
