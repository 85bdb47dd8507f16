import type { NotificationRecord } from '../domain/notification';
import { recipientKey, type Recipient } from '../domain/recipient';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { RecipientListStore } from '../stores/recipientListStore';

export type CancelResult = { readonly kind: 'cancelled'; readonly skipped: number } | { readonly kind: 'not-found' };

const CANCELLED = { status: 'skipped', reason: 'cancelled', detail: 'the notification was cancelled' } as const;

/**
 * Cancels a notification: every recipient not claimed by a worker ends `skipped` / `cancelled` at
 * once, and workers skip the rest (recipients a fan-out adds later, slices already queued). Entries
 * not planned yet get their rows now, born skipped, so the status accounts for every entry. A
 * message Teams is being sent right now still arrives; a delivered one stays delivered.
 */
export async function cancelNotification(
  id: string,
  deps: { readonly notifications: NotificationStore; readonly deliveries: DeliveryStore; readonly recipientLists: RecipientListStore },
): Promise<CancelResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) return { kind: 'not-found' };
  const record = await deps.notifications.get(id);
  if (record === undefined) return { kind: 'not-found' };
  await deps.notifications.markCancelled(id, new Date().toISOString());
  let skipped = 0;
  if (record.planning === true) {
    // Rows a planner wrote meanwhile stay as they are (create-if-absent); the pass below ends them.
    const entries = await entriesOf(record, deps.recipientLists);
    skipped += (await deps.deliveries.createPending(id, entries.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient, settled: CANCELLED })))).size;
    await deps.notifications.markPlanned(id);
  }
  skipped += await deps.deliveries.endUnclaimed(id, CANCELLED.status, CANCELLED.reason, CANCELLED.detail);
  return { kind: 'cancelled', skipped };
}

async function entriesOf(record: NotificationRecord, lists: RecipientListStore): Promise<readonly Recipient[]> {
  return record.recipients ?? (await lists.load(record.id)) ?? [];
}
