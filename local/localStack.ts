import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AzuritePorts } from './azurite';

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
