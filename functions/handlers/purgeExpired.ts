import type { InvocationContext, Timer } from '@azure/functions';
import { purgeExpired as purge, retentionOptions } from '../../shared/retention/purgeExpired';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

/** Timer: delete finished notifications older than RETENTION_DAYS, a bounded amount per run (see purgeExpired). */
export async function purgeExpired(_timer: Timer, context: InvocationContext): Promise<void> {
  const svc = services();
  await svc.ready();
  const log = functionLogger(context);
  const result = await purge(svc, log, retentionOptions(svc.config.retentionDays));
  log.log(`retention: ${result.purged} notifications purged (${result.rows} rows), ${result.kept} unfinished kept, ${result.orphanKeys} orphaned Idempotency-Keys dropped${result.more ? '; more next run' : ''}`, { count: result.purged });
}
