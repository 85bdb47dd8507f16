import { z } from 'zod';
import type { AmendAction, AmendJob } from '../domain/job';
import { messageSchema, type Message } from '../domain/message';
import type { JobQueue } from '../queue/jobQueue';
import type { DeliveryMetrics } from '../telemetry/deliveryMetrics';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { RecipientListStore } from '../stores/recipientListStore';
import { RECORD_CACHE_MS } from '../delivery/deliveryWorker';
import { cancelNotification } from './cancelNotification';
import { firstWatch } from '../callbacks/callbackDelivery';

export interface AmendDependencies {
  readonly notifications: NotificationStore;
  readonly deliveries: DeliveryStore;
  readonly recipientLists: RecipientListStore;
  readonly queue: JobQueue;
  readonly metrics: DeliveryMetrics;
}

export type EditResult = { readonly kind: 'accepted'; readonly version: number } | { readonly kind: 'not-found' } | { readonly kind: 'recalled' };
export type RecallResult = { readonly kind: 'accepted' } | { readonly kind: 'not-found' };

/** The body of `PATCH /api/notifications/{id}`: the next version of the message. */
export const editRequestSchema = z.object({ message: messageSchema }).strict();

/**
 * `PATCH`: the new message becomes the notification's next version at once (recipients not sent
 * yet get it when they are), and a pass over the rows puts it in place of what Teams has. The pass
 * starts once no worker can still hold the old record in its cache, so a send racing the edit is
 * caught by it too.
 */
export async function editNotification(id: string, message: Message, deps: AmendDependencies): Promise<EditResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) return { kind: 'not-found' };
  const change = await deps.notifications.changeMessage(id, message);
  if (change.kind !== 'changed') return change;
  await deps.queue.enqueue([{ job: firstPass(id, 'edit', change.version), notBefore: new Date(Date.now() + RECORD_CACHE_MS + 1_000) }]);
  return { kind: 'accepted', version: change.version };
}

/**
 * `POST .../recall`: what has not been sent ends `skipped` / `cancelled` (as a cancel, in the background), and
 * a pass deletes what has from Teams. Asking again changes nothing more: the record says recalled,
 * and the pass finds nothing left to delete.
 */
export async function recallNotification(id: string, deps: AmendDependencies): Promise<RecallResult> {
  const cancelled = await cancelNotification(id, deps);
  if (cancelled.kind === 'not-found') return cancelled;
  const record = await deps.notifications.get(id);
  if (record?.recalledAt === undefined) await deps.notifications.markRecalled(id, new Date().toISOString());
  // With a callbackUrl, a watch says `notification.recalled` once every delete is done (or failed).
  const watch = record?.callbackUrl !== undefined ? [firstWatch({ id })] : [];
  // Each recall is a round of its own (its message ids too), so asking again tries failed deletes again.
  // It starts once no worker can still hold a record that does not say cancelled.
  await deps.queue.enqueue([{ job: firstPass(id, 'recall', Date.now()), notBefore: new Date(Date.now() + RECORD_CACHE_MS + 1_000) }, ...watch]);
  return { kind: 'accepted' };
}

function firstPass(notificationId: string, action: AmendAction, round: number): AmendJob {
  return { v: 1, kind: 'amend', notificationId, action, round, page: 0, pass: 0, inFlight: 0 };
}
