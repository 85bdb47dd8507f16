import { randomBytes } from 'node:crypto';
import type { Message } from './message';
import type { FailureReason, RecipientStatus } from './outcome';
import type { Recipient } from './recipient';
import type { BotEndpointAddress, ConversationKind } from './reference';

/** A notification as accepted: what to send, and when. Recipients live in their delivery rows. */
export interface NotificationRecord {
  readonly id: string;
  readonly createdAt: string;
  readonly message: Message;
  readonly sendAt?: string;
  readonly expiresAt?: string;
  /** How many recipient entries the request named (fan-out entries count once). */
  readonly requestedRecipients: number;
  readonly idempotencyKey?: string;
  /** Set once every job of the request is on the queue; a record without it is not yet accepted. */
  readonly enqueuedAt?: string;
  /** The enqueue failed part-way: a retry with the same Idempotency-Key resumes at once. */
  readonly enqueueFailed?: boolean;
  /** Set by DELETE /api/notifications/{id}: recipients not yet sent end `skipped` / `cancelled`. */
  readonly cancelled?: boolean;
  readonly priority?: 'urgent';
  /**
   * The request's entries when they are few (a table property holds 64 KiB); otherwise they are in
   * the recipient list store (`RecipientListStore`).
   */
  readonly recipients?: readonly Recipient[];
  /**
   * True from the accept until the last page of the request's entries is planned: until then the
   * rows counted are not all the rows there will be. Absent on records accepted before planning
   * existed, whose rows were all written at the accept.
   */
  readonly planning?: boolean;
  /**
   * The most people the request's fan-out entries may reach (the request's `maxAudience`): an
   * expansion that would pass it stops, and the rest are skipped with `audience-exceeded`.
   */
  readonly maxAudience?: number;
  /** 1 as accepted; each `PATCH` raises it. Sends and edits put the newest version in Teams. */
  readonly messageVersion?: number;
  /** Set by `POST .../recall`: delivered messages are deleted from Teams, the rest skipped. */
  readonly recalledAt?: string;
  /** Where signed events about this notification go (`notification.completed`, `recipient.failed`, `notification.recalled`). */
  readonly callbackUrl?: string;
  /** Events that could not be delivered within a day (or were refused as unsafe): how many, and the last. */
  readonly callbackFailures?: { readonly count: number; readonly last: { readonly eventId: string; readonly detail: string; readonly at: string } };
}

export type NotificationStatus = 'accepted' | 'scheduled' | 'sending' | 'completed' | 'cancelled' | 'recalled';

/** One recipient's delivery: the status row that also makes delivery idempotent. */
export interface DeliveryRecord {
  readonly notificationId: string;
  readonly recipientKey: string;
  readonly recipient: Recipient;
  readonly status: RecipientStatus;
  readonly reason?: FailureReason;
  /** What Teams (or the worker) said, for operators: status code, error code, message. */
  readonly detail?: string;
  /** Connector send attempts made so far. */
  readonly attempts: number;
  readonly activityId?: string;
  readonly conversationId?: string;
  readonly updatedAt: string;
  /** While set and in the future, one worker is sending to this recipient; others keep off. */
  readonly leaseUntil?: string;
  /** For a fan-out entry (allUsers, ...): how many recipients it expanded into, once done. */
  readonly expandedTo?: number;
  /** For a recipient produced by a fan-out entry: that entry's key. */
  readonly fromKey?: string;
  /** Times the sweeper re-queued this recipient because nothing moved it (see `sweepStuckDeliveries`). */
  readonly sweeps?: number;
  /** Once sent: where (to change or delete it later without reading the references again), and what kind of conversation it landed in. */
  readonly sentVia?: BotEndpointAddress;
  readonly landsIn?: ConversationKind;
  /** When a resend or redrive made this failed row pending again (its delivery latency counts from then). */
  readonly reopenedAt?: string;
  /** The message version Teams has (1 until an edit reaches it). */
  readonly version?: number;
  /** Why the last edit did not reach this recipient (cleared when one does). */
  readonly editFailure?: { readonly reason: FailureReason; readonly detail: string };
  /** Why the recall could not delete this recipient's message. */
  readonly recallFailure?: { readonly reason: FailureReason; readonly detail: string };
  /** When the recipient read it (a personal chat's read receipt). */
  readonly readAt?: string;
  /** Optimistic concurrency token of the row as read. */
  readonly etag: string;
}

export interface StatusCounts {
  readonly total: number;
  readonly pending: number;
  readonly delivered: number;
  readonly failed: number;
  readonly skipped: number;
  readonly recalled: number;
  /** Delivered to a personal chat and read there (Teams sends no read receipts for channels or group chats). */
  readonly read: number;
}

/** After an edit: which version Teams has, recipient by recipient, and how many edits failed. */
export interface EditCounts {
  readonly byVersion: Readonly<Record<string, number>>;
  readonly failed: number;
}

/** Time-ordered, unguessable notification ids: sortable in tables and logs. */
export function newNotificationId(now = Date.now()): string {
  return `n${now.toString(36).padStart(9, '0')}${randomBytes(10).toString('hex')}`;
}

export function isTerminal(status: RecipientStatus): boolean {
  return status !== 'pending';
}

/** The notification's status, derived from its rows so that it can never disagree with them. */
export function notificationStatus(record: NotificationRecord, counts: StatusCounts, anyAttempted: boolean, now = Date.now()): NotificationStatus {
  if (record.recalledAt !== undefined) return 'recalled';
  if (record.cancelled === true) return 'cancelled';
  // A fan-out entry that found nobody (allUsers before any install) leaves no visible row: still done.
  if (record.planning !== true && counts.pending === 0 && (counts.total > 0 || anyAttempted)) return 'completed';
  if (anyAttempted || counts.delivered + counts.failed + counts.skipped > 0) return 'sending';
  if (record.sendAt !== undefined && Date.parse(record.sendAt) > now) return 'scheduled';
  return 'accepted';
}
