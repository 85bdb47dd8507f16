import { createHash } from 'node:crypto';
import type { Job } from '../domain/job';
import { newNotificationId, type NotificationRecord } from '../domain/notification';
import type { NotificationRequest } from '../domain/notificationRequest';
import { isFanOut, recipientKey } from '../domain/recipient';
import type { JobQueue, QueuedJob } from '../queue/jobQueue';
import type { DeliveryStore, NewDelivery } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';

export type AcceptResult =
  | { readonly kind: 'accepted'; readonly id: string; readonly status: 'accepted' | 'scheduled'; readonly replayed: boolean }
  | { readonly kind: 'idempotency-conflict'; readonly id: string };

export interface AcceptDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly queue: JobQueue;
  readonly now?: () => Date;
}

/** How long a second request with the same key waits for the first to finish enqueueing. */
const CONCURRENT_WAIT_MS = 10_000;

/**
 * Accepts a validated request: one record, one pending row per recipient entry, one job each.
 * Writes happen before the enqueue and are undone if it fails, so a 5xx leaves nothing behind; with
 * an Idempotency-Key, a retry of a request that died half-way resumes it under the same id.
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
    if (claim.kind === 'conflict') return { kind: 'idempotency-conflict', id: claim.notificationId };
    if (claim.kind === 'existing') {
      id = claim.notificationId;
      replayed = true;
      const done = await waitForEnqueued(deps.notifications, id);
      if (done !== undefined) return { kind: 'accepted', id, status: initialStatus(done, now), replayed };
      // The first request never finished: carry on under its id. Rows and jobs are idempotent.
    }
  }

  const record: NotificationRecord = {
    id,
    createdAt: now.toISOString(),
    message: request.message,
    requestedRecipients: request.recipients.length,
    ...(request.sendAt !== undefined && { sendAt: request.sendAt }),
    ...(request.expiresAt !== undefined && { expiresAt: request.expiresAt }),
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  };
  const rows: NewDelivery[] = request.recipients.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient }));
  const notBefore = request.sendAt !== undefined && Date.parse(request.sendAt) > now.getTime() ? new Date(request.sendAt) : undefined;
  const jobs: QueuedJob[] = dedupe(rows).map((row) => ({ job: firstJob(id, row), ...(notBefore && { notBefore }) }));

  try {
    await deps.deliveries.createPending(id, rows);
    await deps.notifications.create(record);
    await deps.queue.enqueue(jobs);
    await deps.notifications.markEnqueued(id, new Date().toISOString());
  } catch (error) {
    if (!replayed) await undo(id, idempotencyKey, deps);
    throw error;
  }
  return { kind: 'accepted', id, status: initialStatus(record, now), replayed };
}

function firstJob(notificationId: string, row: NewDelivery): Job {
  const { recipient } = row;
  return isFanOut(recipient)
    ? { v: 1, kind: 'expand', notificationId, recipientKey: row.recipientKey, recipient, page: 0, expanded: 0, attempt: 0, throttled: 0 }
    : { v: 1, kind: 'deliver', notificationId, recipientKey: row.recipientKey, recipient, attempt: 0, throttled: 0 };
}

function dedupe(rows: readonly NewDelivery[]): NewDelivery[] {
  return [...new Map(rows.map((r) => [r.recipientKey, r])).values()];
}

function initialStatus(record: Pick<NotificationRecord, 'sendAt'>, now: Date): 'accepted' | 'scheduled' {
  return record.sendAt !== undefined && Date.parse(record.sendAt) > now.getTime() ? 'scheduled' : 'accepted';
}

async function waitForEnqueued(store: NotificationStore, id: string): Promise<NotificationRecord | undefined> {
  const deadline = Date.now() + CONCURRENT_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const record = await store.get(id);
    if (record?.enqueuedAt !== undefined) return record;
    if (Date.now() + delay > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function undo(id: string, idempotencyKey: string | undefined, deps: AcceptDependencies): Promise<void> {
  // Best effort: the request failed, and the caller gets a 5xx whatever happens here.
  await Promise.allSettled([
    deps.deliveries.deleteAll(id),
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
