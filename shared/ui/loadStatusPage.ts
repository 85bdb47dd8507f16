import { notificationStatus, type NotificationRecord } from '../domain/notification';
import type { Message } from '../domain/message';
import type { Recipient } from '../domain/recipient';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { NotificationDetail, NotificationSummary, RecipientFilter, RecipientView, StatusPageData } from './statusPageModel';

/** How far back "recent" reaches, and how many the page lists. */
export const RECENT_WINDOW_MS = 7 * 24 * 3600_000;
export const RECENT_LIMIT = 20;
/** Recipient rows read for one notification's detail (the table, the filters and the reasons). */
export const DETAIL_ROW_LIMIT = 2000;
const PAGE_SIZE = 500;

export interface StatusPageDependencies {
  readonly notifications: Pick<NotificationStore, 'get' | 'listRecent'>;
  readonly deliveries: Pick<DeliveryStore, 'counts' | 'list'>;
}

export interface StatusPageQuery {
  readonly code: string;
  readonly id?: string;
  readonly filter: RecipientFilter;
}

export async function loadStatusPage(query: StatusPageQuery, deps: StatusPageDependencies, now = Date.now()): Promise<StatusPageData> {
  const records = await deps.notifications.listRecent(new Date(now - RECENT_WINDOW_MS).toISOString(), RECENT_LIMIT);
  const notifications = await Promise.all(records.map((r) => summarize(r, deps, now)));
  if (query.id === undefined) return { code: query.code, notifications };
  const record = await deps.notifications.get(query.id);
  if (record === undefined) return { code: query.code, notifications, missingId: query.id };
  const summary = notifications.find((n) => n.id === record.id) ?? (await summarize(record, deps, now));
  return { code: query.code, notifications, detail: await detail(summary, query.filter, deps) };
}

/** Status and counts exactly as GET /api/notifications/{id} derives them. */
async function summarize(record: NotificationRecord, deps: StatusPageDependencies, now: number): Promise<NotificationSummary> {
  const { counts, anyAttempted } = await deps.deliveries.counts(record.id);
  const status = notificationStatus(record, counts, anyAttempted, now);
  const startedAt = Math.max(Date.parse(record.createdAt), record.sendAt !== undefined ? Date.parse(record.sendAt) : 0);
  const seconds = (now - startedAt) / 1000;
  return {
    id: record.id,
    title: titleOf(record.message),
    status,
    counts,
    createdAt: record.createdAt,
    ...(status === 'sending' && seconds > 0 && { ratePerSecond: counts.delivered / seconds }),
  };
}

async function detail(summary: NotificationSummary, filter: RecipientFilter, deps: StatusPageDependencies): Promise<NotificationDetail> {
  const recipients: RecipientView[] = [];
  const reasons = new Map<string, number>();
  let token: string | undefined;
  let read = 0;
  do {
    const page = await deps.deliveries.list(summary.id, token, PAGE_SIZE);
    for (const row of page.items) {
      read += 1;
      if (row.reason !== undefined && (row.status === 'failed' || row.status === 'skipped')) reasons.set(row.reason, (reasons.get(row.reason) ?? 0) + 1);
      if ((filter.status === undefined || row.status === filter.status) && (filter.reason === undefined || row.reason === filter.reason)) {
        recipients.push({
          recipient: recipientLabel(row.recipient),
          status: row.status,
          ...(row.reason !== undefined && { reason: row.reason }),
          ...(row.detail !== undefined && row.status !== 'delivered' && { detail: row.detail }),
          attempts: row.attempts,
          updatedAt: row.updatedAt,
        });
      }
    }
    token = page.continuationToken;
  } while (token !== undefined && read < DETAIL_ROW_LIMIT);
  const byReason = [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return { summary, filter, recipients, byReason, truncated: token !== undefined };
}

function titleOf(message: Message): string {
  if ('template' in message) return message.data.title;
  return message.summary ?? message.text?.slice(0, 120) ?? '(Adaptive Card)';
}

function recipientLabel(recipient: Recipient): string {
  const fields = Object.entries(recipient).filter(([k]) => k !== 'type').map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [recipient.type, ...fields].join(' ');
}
