import type { InvocationContext } from '@azure/functions';
import { services } from '../../shared/services';

/**
 * The queue-triggered delivery: one job per message. Returning completes the message (retries are
 * scheduled copies); throwing abandons it for an immediate redelivery, kept for outages of our own
 * storage where waiting in the queue is the right thing. On the last delivery the queue allows, a
 * failure is recorded on the recipient's row instead of vanishing into the dead-letter queue.
 */
export async function deliverJob(message: unknown, context: InvocationContext): Promise<void> {
  const svc = services();
  try {
    await svc.ready();
    await svc.worker.handle(message, context);
  } catch (error) {
    const deliveryCount = Number(context.triggerMetadata?.deliveryCount ?? 1);
    if (!(deliveryCount >= svc.config.maxDeliveryCount)) throw error;
    const reason = `the job failed on all ${deliveryCount} deliveries; last error: ${error instanceof Error ? error.message : String(error)}`;
    context.error(reason);
    await svc.worker.giveUp(message, reason, context);
  }
}
