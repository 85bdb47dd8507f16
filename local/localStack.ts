import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { functionDefinitions, type QueueFunctionDefinition } from '../functions/definitions';
import type { Config } from '../shared/config';
import type { Logger } from '../shared/logger';
import type { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import type { AzuritePorts } from './azurite';
import { startStorageQueueTrigger, type RunningTrigger } from './storageQueueTrigger';

/** What `npm start` and `npm run worker` agree on: where the project is, the Azurite ports, the queue concurrency. */

/** The folder with package.json and host.json above this file: `dist/local` when built, `local` under tsx. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'host.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export function azuritePorts(env: NodeJS.ProcessEnv = process.env): AzuritePorts {
  return {
    blob: Number(env.AZURITE_BLOB_PORT ?? 10000),
    queue: Number(env.AZURITE_QUEUE_PORT ?? 10001),
    table: Number(env.AZURITE_TABLE_PORT ?? 10002),
  };
}

/** The concurrency host.json gives the Service Bus trigger in Azure, which the local trigger copies. */
export function queueConcurrency(root: string): number {
  const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as { extensions?: { serviceBus?: { maxConcurrentCalls?: number } } };
  return hostJson.extensions?.serviceBus?.maxConcurrentCalls ?? 16;
}

/** The queue-triggered function of `functions/definitions.ts`, fed from the Azurite queue as Azure's trigger would. */
export function startDeliveryTrigger(queue: StorageQueueJobQueue, config: Config, log: Logger, root: string = packageRoot()): RunningTrigger {
  const definition = functionDefinitions.find((d): d is QueueFunctionDefinition => d.kind === 'queue');
  if (definition === undefined) throw new Error('no queue-triggered function is defined');
  return startStorageQueueTrigger({
    queue: queue.deliveries,
    deadLetters: queue,
    definition,
    maxDeliveryCount: config.maxDeliveryCount,
    concurrency: queueConcurrency(root),
    log,
  });
}
