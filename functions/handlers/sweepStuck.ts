import type { InvocationContext, Timer } from '@azure/functions';
import { sweepStuckDeliveries } from '../../shared/delivery/sweepStuckDeliveries';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

/** Timer: re-queue recipients left pending with no job behind them (see sweepStuckDeliveries). */
export async function sweepStuck(_timer: Timer, context: InvocationContext): Promise<void> {
  const svc = services();
  await svc.ready();
  const log = functionLogger(context);
  const result = await sweepStuckDeliveries(svc, log);
  log.log(`sweep: ${result.requeued} re-queued, ${result.failed} failed, in ${result.notifications} notifications`, { count: result.requeued + result.failed });
}
