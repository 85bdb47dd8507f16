import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { spawnSupervised } from './childProcess';

export interface AzuritePorts {
  readonly blob: number;
  readonly queue: number;
  readonly table: number;
}

export interface RunningAzurite {
  readonly ports: AzuritePorts;
  /** The well-known Azurite development account, spelled out with our ports. */
  readonly connectionString: string;
  /** SIGTERM, SIGKILL after `graceMs` (default 3 s); resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Azurite's published development account (documented, not a secret). */
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(ports: AzuritePorts, host = '127.0.0.1'): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${ACCOUNT}`,
    `AccountKey=${ACCOUNT_KEY}`,
    `BlobEndpoint=http://${host}:${ports.blob}/${ACCOUNT}`,
    `QueueEndpoint=http://${host}:${ports.queue}/${ACCOUNT}`,
    `TableEndpoint=http://${host}:${ports.table}/${ACCOUNT}`,
  ].join(';');
}

/** Starts Azurite (blob, queue, table) from node_modules, keeping its data in `location`. */
export async function startAzurite(options: { ports: AzuritePorts; location: string; onOutput?: (line: string) => void }): Promise<RunningAzurite> {
  mkdirSync(options.location, { recursive: true });
  const { ports } = options;
  const azurite = spawnSupervised(require.resolve('azurite/dist/src/azurite.js'), [
    '--silent',
    '--disableTelemetry',
    '--location', options.location,
    '--blobHost', '127.0.0.1', '--blobPort', String(ports.blob),
    '--queueHost', '127.0.0.1', '--queuePort', String(ports.queue),
    '--tableHost', '127.0.0.1', '--tablePort', String(ports.table),
    '--skipApiVersionCheck',
    '--disableProductStyleUrl',
  ]);
  const child = azurite.process;
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter((l) => l.trim() !== '')) {
      output.push(line);
      options.onOutput?.(line);
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  try {
    await Promise.all([ports.blob, ports.queue, ports.table].map((port) => waitForPort(port, child, 30_000)));
  } catch (error) {
    await azurite.stop(0);
    throw new Error(`Azurite did not start: ${(error as Error).message}\n${output.slice(-20).join('\n')}`);
  }
  return { ports, connectionString: azuriteConnectionString(ports), stop: (graceMs?: number) => azurite.stop(graceMs) };
}

export function waitForPort(port: number, child: ChildProcess | undefined, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child !== undefined && child.exitCode !== null) return reject(new Error(`process exited with ${child.exitCode} before port ${port} opened`));
      const socket = createConnection({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} did not open within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}
