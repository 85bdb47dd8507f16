import { z } from 'zod';
import type { JobQueue } from '../queue/jobQueue';
import type { NotificationStore } from '../stores/notificationStore';
import { firstWatch } from '../callbacks/callbackDelivery';

export type RetryResult = { readonly kind: 'accepted'; readonly replayed: boolean } | { readonly kind: 'not-found' } | { readonly kind: 'closed'; readonly why: 'cancelled' | 'recalled' };

/** The optional body of `POST .../retry`: a new `expiresAt` for recipients that ended `expired`. */
export const retryRequestSchema = z
  .object({ expiresAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone' }).optional() })
  .strict()
  .refine((r) => r.expiresAt === undefined || Date.parse(r.expiresAt) > Date.now(), { message: 'expiresAt must be in the future', path: ['expiresAt'] });

/**
 * `POST .../retry`: re-queues the recipients that failed for a reason that can change (see
 * `RETRYABLE_REASONS`), a page per job. With a new `expiresAt`, those that expired are sent too.
 * The same request again (same Idempotency-Key) starts nothing more; without a key, a repeat finds
 * the reopened recipients pending and passes them by, so nobody is sent twice either way.
 */
export async function retryNotification(
  id: string,
  change: { readonly expiresAt?: string; readonly key?: string },
  deps: { readonly notifications: NotificationStore; readonly queue: JobQueue },
): Promise<RetryResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) return { kind: 'not-found' };
  const record = await deps.notifications.get(id);
  if (record === undefined) return { kind: 'not-found' };
  if (record.recalledAt !== undefined) return { kind: 'closed', why: 'recalled' };
  if (record.cancelled === true) return { kind: 'closed', why: 'cancelled' };
  const started = await deps.notifications.startRetry(id, change);
  if (started === 'not-found') return { kind: 'not-found' };
  if (started === 'replayed') return { kind: 'accepted', replayed: true };
  // Back in the sweeper's index before any row is reopened: a resend lost on the way is found too.
  await deps.notifications.markUnfinished(record);
  // With a callbackUrl, a watch says `notification.completed` again once the resend has an outcome.
  const watch = record.callbackUrl !== undefined ? [firstWatch(record)] : [];
  await deps.queue.enqueue([{ job: { v: 1, kind: 'retry', notificationId: id, round: Date.now(), page: 0 } }, ...watch]);
  return { kind: 'accepted', replayed: false };
}
