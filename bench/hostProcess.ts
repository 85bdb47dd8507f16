import { startFunctionHost } from '../local/functionHost';
import { silentLogger } from '../shared/logger';
import { loadConfig } from '../shared/config';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../shared/services';

/** The line the parent waits for, followed by `{ "url": ... }`. */
export const HOST_READY_PREFIX = 'bench-host-ready ';

/**
 * The function host in a process of its own, as `npm start` runs it: the accept measurement's
 * callers then share no event loop with the handlers they time.
 * Argument: `{ "connectionString": ..., "functionKey": ... }`.
 */
async function main(): Promise<void> {
  const { connectionString, functionKey } = JSON.parse(process.argv[2] ?? '{}') as { connectionString: string; functionKey: string };
  const services = createServices(loadConfig({ STORAGE_CONNECTION_STRING: connectionString }), { queue: new StorageQueueJobQueue(connectionString), log: silentLogger });
  await services.ready();
  useServices(services);
  const host = await startFunctionHost({ port: 0, functionKey, log: silentLogger });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => void host.close().finally(() => process.exit(0)));
  process.stdout.write(`${HOST_READY_PREFIX}${JSON.stringify({ url: host.url })}\n`);
}

if (require.main === module) void main();
