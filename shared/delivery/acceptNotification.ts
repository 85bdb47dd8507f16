import { createHash } from 'node:crypto';
import { firstJob } from '../domain/job';
import { newNotificationId, type NotificationRecord } from '../domain/notification';
import type { NotificationRequest } from '../domain/notificationRequest';
import { recipientKey } from '../domain/recipient';
import type { JobQueue, QueuedJob } from '../queue/jobQueue';
import type { DeliveryStore, NewDelivery } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';

export type AcceptResult =
  | { readonly kind: 'accepted'; readonly id: string; readonly status: 'accepted' | 'scheduled'; readonly replayed: boolean }
  | { readonly kind: 'idempotency-conflict' };

/**
 * The request was written and partly queued, then the queue failed. Nothing is rolled back, since
 * queued jobs may already be delivering. With an Idempotency-Key, a retry resumes it under the
 * same id; without one, the recipients not queued were marked `failed` / `not-enqueued`.
 */
export class AcceptIncompleteError extends Error {
  override name = 'AcceptIncompleteError';
  constructor(
    readonly notificationId: string,
    readonly resumable: boolean,
    override readonly cause: unknown,
  ) {
    super(`notification ${notificationId} was only partly queued`);
  }
}

export interface AcceptDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly queue: JobQueue;
  readonly now?: () => Date;
}

/** How long a second request with the same key waits for the first to finish enqueueing. */
const CONCURRENT_WAIT_MS = 10_000;
/** Enqueue attempts before giving up: jobs carry deterministic ids, so a repeat is harmless. */
const ENQUEUE_ATTEMPTS = 3;

/**
 * Accepts a validated request: one record, one pending row per recipient entry, one job each.
 * A failure before anything is queued undoes the writes (the caller gets a 5xx and nothing is
 * left). Once jobs may be on the queue nothing is undone: see `AcceptIncompleteError`.
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
      // It failed or died part-way: finish it under its id. Rows and jobs are idempotent.
      id = claim.notificationId;
      replayed = true;
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
  const jobs: QueuedJob[] = dedupe(rows).map((row) => ({ job: firstJob(id, row.recipientKey, row.recipient), ...(notBefore && { notBefore }) }));

  try {
    await deps.deliveries.createPending(id, rows);
    await deps.notifications.create(record);
  } catch (error) {
    if (!replayed) await undo(id, idempotencyKey, deps);
    throw error;
  }
  try {
    await enqueueWithRetry(deps.queue, jobs);
  } catch (error) {
    await deps.notifications.markEnqueueFailed(id).catch(() => undefined);
    if (idempotencyKey === undefined) {
      await deps.deliveries
        .endUnclaimed(id, 'failed', 'not-enqueued', `the queue failed while accepting: ${error instanceof Error ? error.message : String(error)}`)
        .catch(() => undefined);
    }
    throw new AcceptIncompleteError(id, idempotencyKey !== undefined, error);
  }
  await deps.notifications.markEnqueued(id, new Date().toISOString());
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

function dedupe(rows: readonly NewDelivery[]): NewDelivery[] {
  return [...new Map(rows.map((r) => [r.recipientKey, r])).values()];
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
