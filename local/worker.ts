import { loadConfig, SETTINGS } from '../shared/config';
import { describeError } from '../shared/logger';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../shared/services';
import { startAzureMonitor } from '../shared/telemetry/azureMonitor';
import { startTelemetry, telemetryExportFrom } from '../shared/telemetry/startTelemetry';
import { azuriteConnectionString } from './azurite';
import { azuritePorts, packageRoot, startDeliveryTrigger } from './localStack';
import { humanStream, localLogger } from './localLogger';

/** How long deliveries in hand may take to finish on Ctrl-C before their messages are handed back. */
const DRAIN_GRACE_MS = 5_000;

/**
 * `npm run worker`: one more instance of the queue handler, against the Azurite of a running
 * `npm start` (the same ports, or STORAGE_CONNECTION_STRING). It shares nothing with the others
 * but the queue and the tables, as a second Functions instance in Azure would: the tenants' send
 * timelines in Table Storage keep all of them within each tenant's rate.
 */
async function main(): Promise<void> {
  const env = process.env;
  const name = env.WORKER_NAME ?? `worker ${process.pid}`;
  let stopping = false;
  const connectionString = env[SETTINGS.storageConnectionString] ?? azuriteConnectionString(azuritePorts(env));
  const config = loadConfig({ ...env, [SETTINGS.storageConnectionString]: connectionString });
  const log = localLogger({ format: config.logFormat, quiet: () => stopping || env.WORKER_QUIET === 'true', textPrefix: `[${name}] ` });
  // With LOG_FORMAT=json stdout carries only JSON lines: what we say to a person goes to stderr.
  const human = humanStream(config.logFormat);
  // Before the services take their meter, as `npm start` does.
  const telemetry = startTelemetry(telemetryExportFrom(env), startAzureMonitor);
  const queue = new StorageQueueJobQueue(connectionString);
  const services = createServices(config, { queue, log });
  useServices(services);
  try {
    await services.ready();
  } catch (error) {
    process.stderr.write(`[${name}] cannot reach the tables and queues of npm start (${describeError(error)}): is it running?\n`);
    process.exit(1);
  }
  const trigger = startDeliveryTrigger(queue, config, log, packageRoot(__dirname));
  human.write(`[${name}] taking jobs from ${queue.deliveries.url} (Ctrl-C stops it)\n`);

  const stop = async (): Promise<void> => {
    if (stopping) process.exit(130);
    stopping = true;
    const report = await trigger.stop({ graceMs: DRAIN_GRACE_MS, interrupt: () => services.worker.stop() });
    await services.close();
    await telemetry.shutdown();
    human.write(`[${name}] stopped: ${report.finished} jobs in hand finished, ${report.returned} back in the queue\n`);
    process.exit(0);
  };
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

void main();
