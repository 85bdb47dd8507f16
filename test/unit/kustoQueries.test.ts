import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hashId, recipientLogId } from '../../shared/logger';
import { ATTRIBUTE, METRIC, SPAN } from '../../shared/telemetry/names';
import { analyzeKql, kqlErrors } from '../support/kustoAnalyzer';

const README = readFileSync(resolve(__dirname, '../..', 'README.md'), 'utf8');

/** Every ```kusto block of the README, titled by the paragraph just above it. */
function kustoBlocks(markdown: string): readonly { title: string; query: string }[] {
  return [...markdown.matchAll(/^```kusto\n([\s\S]*?)^```$/gm)].map((match) => {
    const paragraph = markdown.slice(0, match.index).trimEnd().split(/\n\s*\n/).pop() ?? '';
    return { title: paragraph.replace(/\s+/g, ' ').slice(0, 100), query: match[1] ?? '' };
  });
}

/** The string literals of a query that start with the prefix, and the dimension keys it reads. */
function literals(query: string, prefix: string): readonly string[] {
  return [...query.matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? '').filter((s) => s.startsWith(prefix));
}
function dimensionKeys(query: string): readonly string[] {
  return [...query.matchAll(/(?:customDimensions|Properties)\["([^"]+)"\]/g)].map((m) => m[1] ?? '');
}

const blocks = kustoBlocks(README);
const queries = blocks.map((b) => b.query);
const metricNames = new Set<string>(Object.values(METRIC));
const spanNames = new Set<string>(Object.values(SPAN));
/** The log records' attribute for a recipient's hashed object id joins the metric and span attributes. */
const dimensionNames = new Set<string>([...Object.values(ATTRIBUTE), 'teamsnotify.recipient_hash']);

describe("the README's Kusto queries (## Operate it, ### Metrics and Kusto)", () => {
  it('are there: one for each chart an operator asks for', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    const all = queries.join('\n');
    for (const chart of [METRIC.delivered, METRIC.failed, METRIC.throttled, METRIC.sendDuration, METRIC.deliveryLatency, METRIC.backlog]) {
      expect(all).toContain(`"${chart}"`);
    }
    expect(all).toContain('"teamsnotify.notification_id"');
    expect(all).toContain('"teamsnotify.recipient_hash"');
  });

  it.each(blocks.map((b) => [b.title, b.query] as const))('parse and resolve against the Application Insights tables: %s', (_title, query) => {
    expect(analyzeKql(query)).toEqual([]);
  });

  it('name only instruments, spans and dimensions the code emits (shared/telemetry/names.ts)', () => {
    for (const query of queries) {
      for (const name of literals(query, 'teamsnotify.')) expect([...metricNames, ...dimensionNames]).toContain(name);
      for (const key of dimensionKeys(query)) expect([...dimensionNames]).toContain(key);
      for (const span of literals(query, 'notification.')) expect([...spanNames]).toContain(span);
    }
  });

  it("hash an Entra object id the way the logs do (shared/logger.ts hashId)", () => {
    const formula = /substring\(hash_sha256\(strcat\("([^"]*)", tolower\(objectId\)\)\), 0, (\d+)\)/.exec(queries.join('\n'));
    expect(formula).not.toBeNull();
    const [, salt = '', length = '0'] = formula ?? [];
    const objectId = '6B0F3E2A-1C4D-4E5F-8A9B-0C1D2E3F4A5B';
    const kusto = createHash('sha256').update(`${salt}${objectId.toLowerCase()}`).digest('hex').slice(0, Number(length));
    expect(kusto).toBe(hashId(recipientLogId(`user:aad:${objectId}`)));
  });

  it('list every instrument in the README', () => {
    for (const name of metricNames) expect(README).toContain(`\`${name}\``);
  });
});

describe('the checker (test/support/kustoAnalyzer.ts) is able to fail', () => {
  const good = 'customMetrics | where name == "teamsnotify.messages.delivered" | summarize sum(valueSum) by bin(timestamp, 1m)';

  it('passes a good query', () => {
    expect(analyzeKql(good)).toEqual([]);
  });

  it.each([
    ['a syntax error', good.replace('| summarize', '| sumarize')],
    ['an unfinished pipe', `${good} |`],
    ['an unknown column', good.replace('valueSum', 'valueTotal')],
    ['a workspace column on the Application Insights table', good.replace('timestamp', 'TimeGenerated')],
    ['an unknown table', good.replace('customMetrics', 'customMetric')],
    ['an unknown function', good.replace('sum(', 'summ(')],
  ])('rejects %s', (_what, broken) => {
    expect(kqlErrors(broken).length).toBeGreaterThan(0);
  });
});
