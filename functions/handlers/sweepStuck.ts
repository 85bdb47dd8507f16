import type { InvocationContext, Timer } from '@azure/functions';
import { sweepStuckDeliveries } from '../../shared/delivery/sweepStuckDeliveries';
import { services } from '../../shared/services';

/** Timer: re-queue recipients left pending with no job behind them (see sweepStuckDeliveries). */
export async function sweepStuck(_timer: Timer, context: InvocationContext): Promise<void> {
  const svc = services();
  await svc.ready();
  const result = await sweepStuckDeliveries(svc, context);
  context.log(`sweep: ${result.requeued} re-queued, ${result.failed} failed, in ${result.notifications} notifications`);
}
