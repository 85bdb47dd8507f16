import type { DeliveryRecord } from '../domain/notification';
import type { ConditionalUpdate, DeliveryStore } from './deliveryStore';

/**
 * A failed row made pending again, as if never tried: reason, attempts and sweeps cleared, no lease.
 * Under the row's ETag, so of two callers that read the same row only one reopens it. `RetryFailed`
 * and a dead-letter redrive both reopen through this, so a reopened row has its full budget again
 * whichever path reopened it.
 */
export function reopenDelivery(deliveries: DeliveryStore, row: DeliveryRecord): Promise<ConditionalUpdate> {
  // The time too: a resend's delivery latency counts from it, not from the first accept.
  return deliveries.update(row, { status: 'pending', clearReason: true, attempts: 0, sweeps: 0, leaseUntil: '', reopenedAt: new Date().toISOString() });
}
