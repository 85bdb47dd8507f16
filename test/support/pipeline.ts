import { functionDefinitions, type QueueFunctionDefinition } from '../../functions/definitions';
import { startFunctionHost, type RunningFunctionHost } from '../../local/functionHost';
import { startStorageQueueTrigger, type RunningTrigger } from '../../local/storageQueueTrigger';
import { loadConfig } from '../../shared/config';
import type { DeliveryOptions } from '../../shared/delivery/deliveryWorker';
import { silentLogger, type Logger } from '../../shared/logger';
import { StorageQueueJobQueue } from '../../shared/queue/storageQueueJobQueue';
import { createServices, useServices, type Services } from '../../shared/services';
import type { TeamsSender } from '../../shared/teams/teamsSender';
import { storageConnectionString, uniqueName } from './azurite';

export interface TestPipeline {
  readonly services: Services;
  readonly queue: StorageQueueJobQueue;
  readonly host: RunningFunctionHost;
  readonly functionKey: string;
  /** fetch against the local host with the function key. */
  api(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  /** Starts the queue trigger (not started by default, so tests can look at the queue first). */
  startWorker(options?: { concurrency?: number }): RunningTrigger;
  stop(): Promise<void>;
}

/**
 * The whole pipeline as `npm start` runs it, on Azurite, with tables and queues of its own: the
 * same function definitions behind the local host and the Azurite queue trigger.
 */
export async function startTestPipeline(options: {
  env?: Record<string, string>;
  sender?: TeamsSender;
  delivery?: Partial<DeliveryOptions>;
  log?: Logger;
  /** Another Azurite than the run's shared one (a suite that measures speed wants one of its own). */
  storageConnectionString?: string;
} = {}): Promise<TestPipeline> {
  const name = uniqueName();
  const connectionString = options.storageConnectionString ?? storageConnectionString();
  const config = loadConfig({ STORAGE_CONNECTION_STRING: connectionString, TABLE_PREFIX: name, ...options.env });
  const queue = new StorageQueueJobQueue(connectionString, { deliveries: `${name}-jobs`, deadLetters: `${name}-deadletter` });
  const log = options.log ?? silentLogger;
  const services = createServices(config, {
    queue,
    log,
    ...(options.sender !== undefined && { sender: options.sender }),
    ...(options.delivery !== undefined && { delivery: options.delivery }),
  });
  useServices(services);
  await services.ready();
  const functionKey = `key-${name}`;
  const host = await startFunctionHost({ port: 0, functionKey, log });
  const triggers: RunningTrigger[] = [];
  const definition = functionDefinitions.find((d): d is QueueFunctionDefinition => d.kind === 'queue');
  if (definition === undefined) throw new Error('no queue function defined');

  return {
    services,
    queue,
    host,
    functionKey,
    api(path, init = {}) {
      const { key, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set('x-functions-key', key ?? functionKey);
      return fetch(`${host.url}${path}`, { ...rest, headers });
    },
    startWorker(workerOptions = {}) {
      const trigger = startStorageQueueTrigger({
        queue: queue.deliveries,
        deadLetters: queue,
        definition,
        log,
        maxDeliveryCount: config.maxDeliveryCount,
        ...(workerOptions.concurrency !== undefined && { concurrency: workerOptions.concurrency }),
      });
      triggers.push(trigger);
      return trigger;
    },
    async stop() {
      await Promise.all(triggers.map((t) => t.stop()));
      await host.close();
      await services.close();
      useServices(undefined);
    },
  };
}

/** Waits until `check` returns a value (not undefined), polling. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
