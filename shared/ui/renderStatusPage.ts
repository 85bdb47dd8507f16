import type { RecipientStatus } from '../domain/outcome';
import { escapeHtml as e } from './escapeHtml';
import { progressBar } from './progressBar';
import { statusPageScript } from './statusPageScript';
import { isRunning, type NotificationDetail, type NotificationSummary, type StatusPageData } from './statusPageModel';

const RECIPIENT_STATUSES: readonly RecipientStatus[] = ['pending', 'delivered', 'failed', 'skipped', 'recalled'];

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#212121}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #e0e0e0;text-align:left;vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600}.muted{color:#757575}.notice{background:#fff8e1;padding:.5rem}
`;

/** Links and fetches carry the key along: the page is keyed like the API. */
function pageLink(code: string, params: Readonly<Record<string, string | undefined>> = {}): string {
  const query = new URLSearchParams({ code });
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
  return `ui?${query.toString()}`;
}

function rate(n: NotificationSummary): string {
  return n.ratePerSecond === undefined ? '<span class="muted">–</span>' : `${n.ratePerSecond.toFixed(1)}/s`;
}

function countCells(n: NotificationSummary): string {
  return (['delivered', 'failed', 'skipped', 'pending'] as const).map((k) => `<td class="num" data-count="${k}">${n.counts[k]}</td>`).join('');
}

function recentTable(data: StatusPageData): string {
  if (data.notifications.length === 0) return '<p class="muted">No notifications in the last 7 days.</p>';
  const rows = data.notifications
    .map(
      (n) =>
        `<tr data-id="${e(n.id)}"><td><a href="${e(pageLink(data.code, { id: n.id }))}">${e(n.title)}</a><br><span class="muted">${e(n.id)} · ${e(n.createdAt)}</span></td>` +
        `<td class="status" data-field="status">${e(n.status)}</td><td>${progressBar(n.counts)}</td>${countCells(n)}<td class="num" data-field="rate">${rate(n)}</td></tr>`,
    )
    .join('');
  return `<table><thead><tr><th>Notification</th><th>Status</th><th>Progress</th><th>Delivered</th><th>Failed</th><th>Skipped</th><th>Pending</th><th>Rate</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function detailSection(data: StatusPageData, d: NotificationDetail): string {
  const n = d.summary;
  const reasons = d.byReason.length === 0
    ? '<p class="muted">No failures.</p>'
    : `<table id="reasons"><thead><tr><th>Reason</th><th>Recipients</th></tr></thead><tbody>${d.byReason
        .map((r) => `<tr><td><a href="${e(pageLink(data.code, { id: n.id, reason: r.reason }))}">${e(r.reason)}</a></td><td class="num">${r.count}</td></tr>`)
        .join('')}</tbody></table>`;
  const statusOptions = ['', ...RECIPIENT_STATUSES].map((s) => `<option value="${e(s)}"${d.filter.status === s ? ' selected' : ''}>${s === '' ? 'any status' : e(s)}</option>`).join('');
  const reasonOptions = ['', ...new Set([...d.byReason.map((r) => r.reason), ...(d.filter.reason !== undefined ? [d.filter.reason] : [])])]
    .map((r) => `<option value="${e(r)}"${d.filter.reason === r ? ' selected' : ''}>${r === '' ? 'any reason' : e(r)}</option>`)
    .join('');
  const filterForm =
    `<form method="get" action="ui" id="filter"><input type="hidden" name="code" value="${e(data.code)}"><input type="hidden" name="id" value="${e(n.id)}">` +
    `<label>Status <select name="status">${statusOptions}</select></label> <label>Reason <select name="reason">${reasonOptions}</select></label> <button type="submit">Filter</button></form>`;
  const rows = d.recipients
    .map(
      (r) =>
        `<tr><td>${e(r.recipient)}</td><td data-field="status">${e(r.status)}</td><td data-field="reason">${e(r.reason ?? '')}</td><td>${e(r.detail ?? '')}</td><td class="num">${r.attempts}</td><td class="muted">${e(r.updatedAt)}</td></tr>`,
    )
    .join('');
  const recipients = d.recipients.length === 0
    ? '<p class="muted">No recipients match.</p>'
    : `<table id="recipients"><thead><tr><th>Recipient</th><th>Status</th><th>Reason</th><th>Detail</th><th>Attempts</th><th>Updated</th></tr></thead><tbody>${rows}</tbody></table>`;
  return (
    `<section id="detail" data-id="${e(n.id)}" aria-labelledby="detail-h"><h2 id="detail-h">${e(n.title)}</h2>` +
    `<p><span class="status" data-field="status">${e(n.status)}</span> · ${progressBar(n.counts)} · delivered <b data-count="delivered">${n.counts.delivered}</b>, failed <b data-count="failed">${n.counts.failed}</b>, skipped <b data-count="skipped">${n.counts.skipped}</b>, pending <b data-count="pending">${n.counts.pending}</b> of ${n.counts.total} · ${rate(n)} <a href="${e(pageLink(data.code))}">all notifications</a></p>` +
    `<h3>Failures by reason</h3>${reasons}<h3>Recipients</h3>${filterForm}${recipients}` +
    (d.truncated ? '<p class="muted">Only the first 2000 recipients are read here; GET /api/notifications/{id} pages through all of them.</p>' : '') +
    '</section>'
  );
}

/** The part the script swaps in on each refresh. */
export function renderContent(data: StatusPageData): string {
  const missing = data.missingId === undefined ? '' : `<p class="notice">No notification with id "${e(data.missingId)}".</p>`;
  const detail = data.detail === undefined ? '' : detailSection(data, data.detail);
  return `<main id="content" data-running="${isRunning(data) ? 'true' : 'false'}">${missing}${detail}<section aria-labelledby="recent-h"><h2 id="recent-h">Recent notifications</h2>${recentTable(data)}</section></main>`;
}

/** The whole page; `nonce` opens the inline style and script under the page's CSP. */
export function renderStatusPage(data: StatusPageData, nonce: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">' +
    `<title>teams-notify status</title><style nonce="${e(nonce)}">${STYLE}</style></head>` +
    `<body data-code="${e(data.code)}"><h1>teams-notify status</h1>${renderContent(data)}` +
    '<section id="deadletters" aria-labelledby="deadletters-h"><h2 id="deadletters-h">Dead letters</h2><div id="deadletters-body" class="muted">Loading…</div></section>' +
    `<script nonce="${e(nonce)}">${statusPageScript}</script></body></html>`
  );
}
