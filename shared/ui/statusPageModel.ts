import type { NotificationStatus, StatusCounts } from '../domain/notification';
import type { RecipientStatus } from '../domain/outcome';

/** One notification as the status page shows it: counts as GET /api/notifications/{id} gives them. */
export interface NotificationSummary {
  readonly id: string;
  readonly title: string;
  readonly status: NotificationStatus;
  readonly counts: StatusCounts;
  readonly createdAt: string;
  /**
   * Delivered per second overall: delivered ÷ seconds since the send could start (`sendAt` or
   * acceptance), while it is sending; undefined otherwise (when it ended is not kept).
   */
  readonly ratePerSecond?: number;
}

export interface RecipientView {
  readonly recipient: string;
  readonly status: RecipientStatus;
  readonly reason?: string;
  readonly detail?: string;
  readonly attempts: number;
  readonly updatedAt: string;
}

export interface RecipientFilter {
  readonly status?: RecipientStatus;
  readonly reason?: string;
}

export interface NotificationDetail {
  readonly summary: NotificationSummary;
  readonly filter: RecipientFilter;
  /** The rows matching the filter, from the first `scanned` rows. */
  readonly recipients: readonly RecipientView[];
  /** Failed and skipped rows by reason, from the same rows. */
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  /** More rows exist than were read. */
  readonly truncated: boolean;
}

export interface StatusPageData {
  /** The function key the page was opened with, carried on its links and fetches. */
  readonly code: string;
  readonly notifications: readonly NotificationSummary[];
  readonly detail?: NotificationDetail;
  /** An id was asked for and not found. */
  readonly missingId?: string;
}

/** Statuses during which the page keeps refreshing itself. */
export const RUNNING_STATUSES: readonly NotificationStatus[] = ['accepted', 'scheduled', 'sending'];

export function isRunning(data: StatusPageData): boolean {
  return data.notifications.some((n) => RUNNING_STATUSES.includes(n.status)) || (data.detail !== undefined && RUNNING_STATUSES.includes(data.detail.summary.status));
}
