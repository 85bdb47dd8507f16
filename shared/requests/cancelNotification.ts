import { firstCancelPass } from '../cancelling/cancelPass';
import type { JobQueue } from '../queue/jobQueue';
import type { NotificationStore } from '../stores/notificationStore';

/** `already`: a DELETE before this one had cancelled it (this one starts another pass all the same). */
export type CancelResult = { readonly kind: 'cancelled'; readonly already: boolean } | { readonly kind: 'not-found' };

/**
 * Cancels a notification in constant time, whatever its audience: the record says cancelled at
 * once (GET answers `cancelled`, workers skip what they meet from then on, within their few
 * seconds of record cache), and a cancel pass on the queue ends the rest page by page (see
 * `CancelPass`): the `skipped` count grows to its final figure. A message Teams is being sent
 * right now still arrives; a delivered one stays delivered.
 */
export async function cancelNotification(id: string, deps: { readonly notifications: NotificationStore; readonly queue: JobQueue }, now = Date.now()): Promise<CancelResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) return { kind: 'not-found' };
  const record = await deps.notifications.get(id);
  if (record === undefined) return { kind: 'not-found' };
  const already = record.cancelled === true;
  // Read before the mark: a planner that sees the cancel stops, and the pass gives its entries rows.
  if (!already) await deps.notifications.markCancelled(id, new Date(now).toISOString());
  // Should this enqueue fail, the caller's 5xx invites a retry, and the sweeper starts a pass for a
  // cancelled notification it finds with pending rows nobody moves.
  await deps.queue.enqueue([{ job: firstCancelPass(id, now, record.planning === true) }]);
  return { kind: 'cancelled', already };
}
