import type { StatusCounts } from '../../shared/domain/notification';
import { escapeHtml } from '../../shared/ui/escapeHtml';
import { progressBar } from '../../shared/ui/progressBar';
import { renderStatusPage } from '../../shared/ui/renderStatusPage';
import type { NotificationSummary, StatusPageData } from '../../shared/ui/statusPageModel';
import { readStatusPageQuery } from '../../shared/ui/statusPageQuery';

const counts = (c: Partial<StatusCounts>): StatusCounts => ({ total: 0, pending: 0, delivered: 0, failed: 0, skipped: 0, recalled: 0, read: 0, ...c });
const XSS = '<script>alert(1)</script>';

function summary(over: Partial<NotificationSummary> = {}): NotificationSummary {
  return { id: 'n00000000aa', title: 'Deploy done', status: 'completed', counts: counts({ total: 4, delivered: 3, failed: 1 }), createdAt: '2026-12-01T10:00:00.000Z', ...over };
}
const page = (data: Partial<StatusPageData>): string => renderStatusPage({ code: 'the-key', notifications: [summary()], ...data }, 'NONCE');

describe('status page rendering', () => {
  it('escapes a title, a reason detail, a recipient and the key: no markup from user input reaches the page', () => {
    const html = page({
      code: `k"><script>x()</script>`,
      notifications: [summary({ title: XSS })],
      detail: {
        summary: summary({ title: XSS }),
        filter: {},
        recipients: [{ recipient: `user aadObjectId=${XSS}`, status: 'failed', reason: 'rejected', detail: `403 <img src=x onerror=alert(1)>`, attempts: 1, updatedAt: '2026-12-01T10:00:01.000Z' }],
        byReason: [{ reason: 'rejected', count: 1 }],
        truncated: false,
      },
    });
    expect(html).not.toContain(XSS);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('403 &lt;img src=x onerror=alert(1)&gt;');
    // The only scripts are the page's own, with the nonce.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toContain('<script nonce="NONCE">');
  });

  it('shows each notification with its counts, status and a bar; links carry the key', () => {
    const html = page({ notifications: [summary({ status: 'sending', ratePerSecond: 2.5, counts: counts({ total: 10, delivered: 4, failed: 1, skipped: 1, pending: 4 }) })] });
    expect(html).toContain('data-count="delivered">4<');
    expect(html).toContain('data-count="pending">4<');
    expect(html).toContain('data-field="status">sending<');
    expect(html).toContain('2.5/s');
    expect(html).toContain('href="ui?code=the-key&amp;id=n00000000aa"');
    expect(html).toContain('data-running="true"');
  });

  it('stops refreshing once nothing shown is running', () => {
    expect(page({})).toContain('data-running="false"');
  });

  it('draws the bar in proportion: 3 of 4 delivered is three quarters of it', () => {
    const svg = progressBar(counts({ total: 4, delivered: 3, failed: 1 }));
    expect(svg).toMatch(/class="bar-delivered" x="0.00" y="0" width="180.00"/);
    expect(svg).toMatch(/class="bar-failed" x="180.00" y="0" width="60.00"/);
    expect(svg).toContain('aria-label="3 delivered, 1 failed, 0 skipped, 0 recalled, 0 pending"');
  });

  it('groups failures by reason, with a filter link per reason, and says when an id is unknown', () => {
    const html = page({
      missingId: 'nope',
      detail: { summary: summary(), filter: { reason: 'not-installed' }, recipients: [], byReason: [{ reason: 'not-installed', count: 2 }], truncated: false },
    });
    expect(html).toContain('href="ui?code=the-key&amp;id=n00000000aa&amp;reason=not-installed">not-installed</a></td><td class="num">2<');
    expect(html).toContain('<option value="not-installed" selected>');
    expect(html).toContain('No notification with id "nope".');
  });

  it('escapes every HTML metacharacter', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});

describe('status page query', () => {
  it('reads the key, the id and the filters; empty filters are none', () => {
    expect(readStatusPageQuery(new URLSearchParams('code=k&id=nabc&status=failed&reason='))).toEqual({ ok: true, value: { code: 'k', id: 'nabc', filter: { status: 'failed' } } });
  });
  it.each(['id=../x', 'status=lost', 'reason=%3Cscript%3E'])('refuses %s with the field named', (q) => {
    const result = readStatusPageQuery(new URLSearchParams(q));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]?.path).toBe(`query:${q.split('=')[0] ?? ''}`);
  });
});
