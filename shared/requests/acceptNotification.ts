import { createHash } from 'node:crypto';
import { newNotificationId, type NotificationRecord } from '../domain/notification';
import type { NotificationRequest } from '../domain/notificationRequest';
import type { JobQueue, QueuedJob } from '../queue/jobQueue';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { RecipientListStore } from '../stores/recipientListStore';
import { firstWatch } from '../callbacks/callbackDelivery';

export type AcceptResult =
  | { readonly kind: 'accepted'; readonly id: string; readonly status: 'accepted' | 'scheduled'; readonly replayed: boolean }
  | { readonly kind: 'idempotency-conflict' };

export interface AcceptDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly queue: JobQueue;
  readonly recipientLists: RecipientListStore;
  readonly now?: () => Date;
}

/** How long a second request with the same key waits for the first to finish enqueueing. */
const CONCURRENT_WAIT_MS = 10_000;
/** Enqueue attempts before giving up: the job carries a deterministic id, so a repeat is harmless. */
const ENQUEUE_ATTEMPTS = 3;
/** Entries up to this size stay in the notification record; larger lists go to the blob store. */
const INLINE_RECIPIENTS_BYTES = 16 * 1024;
/** Planning a scheduled send starts this long before `sendAt`, so its first slices are due on time. */
const PLAN_BEFORE_SEND_MS = 30_000;

/**
 * Accepts a validated request in constant time, whatever the audience: the record (with the
 * entries, or the entries in a blob when there are many) and one job that plans them page by page.
 * A failure at any step undoes what was written, so the caller's 5xx means nothing happened and a
 * retry (with or without the Idempotency-Key) starts clean. One job is all or nothing: no
 * request is ever half queued.
 */
export async function acceptNotification(
  request: NotificationRequest,
  idempotencyKey: string | undefined,
  deps: AcceptDependencies,
): Promise<AcceptResult> {
  const now = deps.now?.() ?? new Date();
  let id = newNotificationId(now.getTime());
  let replayed = false;

  if (idempotencyKey !== undefined) {
    const claim = await deps.notifications.claimIdempotencyKey(idempotencyKey, id, requestFingerprint(request));
    if (claim.kind === 'conflict') return { kind: 'idempotency-conflict' };
    if (claim.kind === 'existing') {
      const earlier = await waitForEarlierRequest(deps.notifications, idempotencyKey, claim.notificationId);
      if (earlier.kind === 'enqueued') return { kind: 'accepted', id: claim.notificationId, status: initialStatus(earlier.record, now), replayed: true };
      // The earlier request gave up before queueing anything: this one starts afresh.
      if (earlier.kind === 'released') return acceptNotification(request, idempotencyKey, deps);
      // It died part-way: finish it under its id. The record, the list and the job are idempotent.
      id = claim.notificationId;
      replayed = true;
    }
  }

  const inline = Buffer.byteLength(JSON.stringify(request.recipients), 'utf8') <= INLINE_RECIPIENTS_BYTES;
  const record: NotificationRecord = {
    id,
    createdAt: now.toISOString(),
    message: request.message,
    requestedRecipients: request.recipients.length,
    planning: true,
    ...(inline && { recipients: request.recipients }),
    ...(request.sendAt !== undefined && { sendAt: request.sendAt }),
    ...(request.expiresAt !== undefined && { expiresAt: request.expiresAt }),
    ...(request.priority === 'urgent' && { priority: 'urgent' }),
    ...(request.maxAudience !== undefined && { maxAudience: request.maxAudience }),
    ...(request.callbackUrl !== undefined && { callbackUrl: request.callbackUrl }),
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  };
  const planAt = request.sendAt !== undefined ? Date.parse(request.sendAt) - PLAN_BEFORE_SEND_MS : 0;
  const job: QueuedJob = { job: { v: 1, kind: 'plan', notificationId: id, offset: 0 }, ...(planAt > now.getTime() && { notBefore: new Date(planAt) }) };

  try {
    // A large list and the record are written side by side; a failure of either undoes both.
    await Promise.all([inline ? undefined : deps.recipientLists.save(id, request.recipients), deps.notifications.create(record)]);
    // With a callbackUrl, a watch says `notification.completed` once every recipient has an outcome.
    await enqueueWithRetry(deps.queue, record.callbackUrl !== undefined ? [job, firstWatch(record)] : [job]);
    // Only a repeat with the same key waits for this mark: without a key, nothing reads it.
    if (idempotencyKey !== undefined) await deps.notifications.markEnqueued(id, new Date().toISOString());
  } catch (error) {
    await undo(id, idempotencyKey, deps);
    throw error;
  }
  return { kind: 'accepted', id, status: initialStatus(record, now), replayed };
}

async function enqueueWithRetry(queue: JobQueue, jobs: readonly QueuedJob[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await queue.enqueue(jobs);
    } catch (error) {
      if (attempt >= ENQUEUE_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 4 ** (attempt - 1)));
    }
  }
}

function initialStatus(record: Pick<NotificationRecord, 'sendAt'>, now: Date): 'accepted' | 'scheduled' {
  return record.sendAt !== undefined && Date.parse(record.sendAt) > now.getTime() ? 'scheduled' : 'accepted';
}

type EarlierRequest =
  | { readonly kind: 'enqueued'; readonly record: NotificationRecord }
  | { readonly kind: 'released' }
  | { readonly kind: 'incomplete' };

/** What became of the first request with this key: done, given up, or stuck part-way. */
async function waitForEarlierRequest(store: NotificationStore, key: string, id: string): Promise<EarlierRequest> {
  const deadline = Date.now() + CONCURRENT_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const record = await store.get(id);
    if (record?.enqueuedAt !== undefined) return { kind: 'enqueued', record };
    if (record?.enqueueFailed === true) return { kind: 'incomplete' };
    if (record === undefined && (await store.findIdempotencyKey(key)) !== id) return { kind: 'released' };
    if (Date.now() + delay > deadline) return { kind: 'incomplete' };
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function undo(id: string, idempotencyKey: string | undefined, deps: AcceptDependencies): Promise<void> {
  // Best effort: the request failed, and the caller gets a 5xx whatever happens here. Should the
  // job have reached the queue after all, it finds no record and is dropped.
  await Promise.allSettled([
    deps.deliveries.deleteAll(id),
    deps.recipientLists.delete(id),
    deps.notifications.delete(id),
    idempotencyKey !== undefined ? deps.notifications.releaseIdempotencyKey(idempotencyKey) : Promise.resolve(),
  ]);
}

/** Same key + same body = same notification: the body is compared by a hash of its canonical JSON. */
export function requestFingerprint(request: NotificationRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
