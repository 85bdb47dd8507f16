import type { InvocationContext } from '@azure/functions';
import { BudgetClosedError } from '../../shared/delivery/sendBudget';
import { describeError } from '../../shared/logger';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';
import { jobLogFields } from '../../shared/telemetry/jobLog';
import { parseJob } from '../../shared/domain/job';

/**
 * The queue-triggered delivery: one job per message. Returning completes the message (retries are
 * scheduled copies); throwing abandons it for an immediate redelivery, kept for outages of our own
 * storage where waiting in the queue is the right thing. On the last delivery the queue allows, a
 * failure is recorded on the recipient's row instead of vanishing into the dead-letter queue.
 */
export async function deliverJob(message: unknown, context: InvocationContext): Promise<void> {
  const svc = services();
  const log = functionLogger(context);
  try {
    await svc.ready();
    await svc.jobs.handle(message, log);
  } catch (error) {
    // The process is stopping and the job went unsent: back to the queue, not a failure to record.
    if (error instanceof BudgetClosedError) throw error;
    const deliveryCount = Number(context.triggerMetadata?.deliveryCount ?? 1);
    if (!(deliveryCount >= svc.config.maxDeliveryCount)) throw error;
    const reason = `the job failed on all ${deliveryCount} deliveries; last error: ${describeError(error)}`;
    const job = parseJob(message);
    log.error('the job failed on its last delivery; giving up', { ...(job.ok && jobLogFields(job.job)), count: deliveryCount, error });
    await svc.jobs.giveUp(message, reason, log);
  }
}
