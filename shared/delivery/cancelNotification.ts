import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';

export type CancelResult = { readonly kind: 'cancelled'; readonly skipped: number } | { readonly kind: 'not-found' };

/**
 * Cancels a notification: every recipient not claimed by a worker ends `skipped` / `cancelled` at
 * once, and workers skip the rest (recipients a fan-out adds later, jobs already queued). A message
 * Teams is being sent right now still arrives; a delivered one stays delivered (Teams has no recall).
 */
export async function cancelNotification(
  id: string,
  deps: { readonly notifications: NotificationStore; readonly deliveries: DeliveryStore },
): Promise<CancelResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id) || (await deps.notifications.get(id)) === undefined) return { kind: 'not-found' };
  await deps.notifications.markCancelled(id, new Date().toISOString());
  const skipped = await deps.deliveries.endUnclaimed(id, 'skipped', 'cancelled', 'the notification was cancelled');
  return { kind: 'cancelled', skipped };
}
