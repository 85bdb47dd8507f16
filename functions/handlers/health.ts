import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { problem } from '../../shared/http/problem';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

const CHECK_TIMEOUT_MS = 5_000;

/** GET /api/health: 200 when storage and the queue answer, 503 naming what does not. */
export async function health(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const svc = services();
  const checks = await Promise.all([
    check('storage', (signal) => svc.tables.ping(signal)),
    check('queue', (signal) => svc.queue.ping(signal)),
  ]);
  const failing = checks.filter((c) => !c.ok);
  // The endpoint is anonymous: callers learn what is down, the log learns why.
  const dependencies = Object.fromEntries(checks.map((c) => [c.name, c.ok ? 'ok' : 'unreachable']));
  if (failing.length === 0) return { status: 200, jsonBody: { status: 'ok', dependencies } };
  functionLogger(context).warn(`health: ${failing.map((f) => f.name).join(', ')} unreachable`, { reason: failing.map((f) => `${f.name}: ${f.ok ? '' : f.error}`).join('; ') });
  return problem(503, `unreachable: ${failing.map((f) => f.name).join(', ')}`, { dependencies, failing: failing.map((f) => f.name) });
}

async function check(
  name: string,
  probe: (signal: AbortSignal) => Promise<void>,
): Promise<{ name: string; ok: true } | { name: string; ok: false; error: string }> {
  // The signal really cancels the probe, so an unreachable dependency leaves no retries running.
  const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);
  try {
    await probe(signal);
    return { name, ok: true };
  } catch (error) {
    if (signal.aborted) return { name, ok: false, error: `no answer within ${CHECK_TIMEOUT_MS} ms` };
    // The error's name and first line only: connection strings never reach the log.
    return { name, ok: false, error: error instanceof Error ? `${error.name}: ${error.message.split('\n')[0] ?? ''}`.slice(0, 200) : 'unreachable' };
  }
}
