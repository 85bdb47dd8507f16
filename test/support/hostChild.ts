import { functionDefinitions, type QueueFunctionDefinition, type TimerFunctionDefinition } from '../../functions/definitions';
import { startFunctionHost } from '../../local/functionHost';
import { packageRoot, queueConcurrency } from '../../local/localStack';
import { startStorageQueueTrigger } from '../../local/storageQueueTrigger';
import { startTimers } from '../../local/timerTrigger';
import { loadConfig, SETTINGS } from '../../shared/config';
import { localLogger } from '../../local/localLogger';
import { StorageQueueJobQueue } from '../../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../../shared/services';

/** The line the parent waits for, followed by `{ "url": ..., "pid": ... }`. */
export const HOST_CHILD_READY_PREFIX = 'crash-host-ready ';

/** What the parent passes as the one argument (JSON). */
export interface HostChildArgument {
  readonly connectionString: string;
  readonly functionKey: string;
  /**
   * How long a received queue message stays invisible (the local trigger's lock; 300 s in
   * `npm start`). After a kill, the messages in hand come back only when it runs out.
   */
  readonly lockSeconds: number;
  /** A recipient's claim (2 min in production): after a kill, a claimed recipient is sent again only once it runs out. */
  readonly leaseMs: number;
  /** Print info lines too (stdout), not only warnings and errors: for a test that reads the whole log. */
  readonly printInfo?: boolean;
}

/**
 * The local host of `npm start` without the Playground, in a process of its own that a test can
 * SIGKILL: the function host (HTTP), the queue trigger on Azurite and the timers, serving the very
 * handlers `npm start` serves. Only the lock and the claim are shorter, so that a test need not
 * wait minutes for a killed host's work to come back. Other settings come from the environment
 * (SEND_RATE_PER_SECOND, LOG_FORMAT, ...). Warnings and errors go to stderr, one line each (JSON
 * lines on stdout with LOG_FORMAT=json, as `npm start` writes them); info lines only with `printInfo`.
 */
async function main(): Promise<void> {
  const argument = JSON.parse(process.argv[2] ?? '{}') as HostChildArgument;
  const config = loadConfig({ ...process.env, [SETTINGS.storageConnectionString]: argument.connectionString });
  const log = localLogger({ format: config.logFormat, quiet: () => argument.printInfo !== true });
  const queue = new StorageQueueJobQueue(argument.connectionString);
  const services = createServices(config, { queue, log, delivery: { leaseMs: argument.leaseMs } });
  useServices(services);
  await services.ready();
  const definition = functionDefinitions.find((d): d is QueueFunctionDefinition => d.kind === 'queue');
  if (definition === undefined) throw new Error('no queue-triggered function is defined');
  startStorageQueueTrigger({
    queue: queue.deliveries,
    deadLetters: queue,
    definition,
    maxDeliveryCount: config.maxDeliveryCount,
    concurrency: queueConcurrency(packageRoot(__dirname)),
    lockSeconds: argument.lockSeconds,
    log,
  });
  startTimers(functionDefinitions.filter((d): d is TimerFunctionDefinition => d.kind === 'timer'), log);
  const host = await startFunctionHost({ port: 0, functionKey: argument.functionKey, log });
  // The parent went away without killing us: go too, so nothing is left on a port.
  process.on('disconnect', () => process.exit(0));
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.stdout.write(`${HOST_CHILD_READY_PREFIX}${JSON.stringify({ url: host.url, pid: process.pid })}\n`);
}

if (require.main === module) void main();
