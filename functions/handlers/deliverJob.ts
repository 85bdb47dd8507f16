import type { InvocationContext } from '@azure/functions';
import { services } from '../../shared/services';

/**
 * The queue-triggered delivery: one job per message. Returning completes the message (retries are
 * scheduled copies); throwing abandons it for an immediate redelivery, kept for outages of our own
 * storage where waiting in the queue is the right thing.
 */
export async function deliverJob(message: unknown, context: InvocationContext): Promise<void> {
  const svc = services();
  await svc.ready();
  await svc.worker.handle(message, context);
}
