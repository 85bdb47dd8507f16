import { CANCELLED, DEFAULT_CANCEL_PASS_OPTIONS, firstCancelPass, laterCancelPass } from '../cancelling/cancelPass';
import type { CancelJob } from '../domain/job';
import type { JobQueue } from '../queue/jobQueue';
import type { DeliveryStore } from '../stores/deliveryStore';
import type { NotificationStore } from '../stores/notificationStore';
import type { DeliveryMetrics } from '../telemetry/deliveryMetrics';

/** `already`: a DELETE before this one had cancelled it (this one runs another pass all the same). */
export type CancelResult = { readonly kind: 'cancelled'; readonly already: boolean } | { readonly kind: 'not-found' };

/**
 * Cancels a notification in bounded time, whatever its audience: the record says cancelled at
 * once (GET answers `cancelled`, and workers skip what they meet once their few seconds of record
 * cache run out), the first page of pending rows (100) ends skipped here, so a small send is
 * cancelled before any slice can claim it, and a cancel pass on the queue ends the rest page by
 * page (see `CancelPass`): the `skipped` count grows to its final figure. A message Teams is being
 * sent right now still arrives; a delivered one stays delivered.
 */
export async function cancelNotification(
  id: string,
  deps: { readonly notifications: NotificationStore; readonly deliveries: DeliveryStore; readonly queue: JobQueue; readonly metrics: DeliveryMetrics },
  now = Date.now(),
): Promise<CancelResult> {
  if (!/^[a-z0-9]{1,64}$/.test(id)) return { kind: 'not-found' };
  const record = await deps.notifications.get(id);
  if (record === undefined) return { kind: 'not-found' };
  const already = record.cancelled === true;
  // Read before the mark: a planner that sees the cancel stops, and the pass gives its entries rows.
  if (!already) await deps.notifications.markCancelled(id, new Date(now).toISOString());
  const first = await deps.deliveries.endUnclaimedPage(id, CANCELLED);
  // Ended a page at once without reading them: their tenants are not known here.
  deps.metrics.ended(CANCELLED, undefined, first.ended);
  const pass: CancelJob | undefined =
    record.planning === true
      ? firstCancelPass(id, now, true)
      : first.continuationToken !== undefined
        ? { ...firstCancelPass(id, now, false), continuationToken: first.continuationToken, page: 1, held: first.held }
        : first.held > 0
          ? laterCancelPass(id, now, 1)
          : undefined;
  // Should this enqueue fail (or the process die before it), the caller's 5xx invites a retry; a
  // planner that meets the cancel queues the entries pass itself, and the sweeper starts a pass for
  // a cancelled notification it finds still planning, or with pending rows nobody moves.
  if (pass !== undefined) await deps.queue.enqueue([{ job: pass, ...(pass.pass > 0 && { notBefore: new Date(now + DEFAULT_CANCEL_PASS_OPTIONS.passIntervalMs) }) }]);
  return { kind: 'cancelled', already };
}
