/**
 * A counting HTTP proxy in front of Azurite, run as a process of its own so that forwarding
 * storage traffic takes no time from the bench's event loop:
 *
 *   node --import tsx bench/storageProxy.ts '{"blob":10000,"queue":10001,"table":10002,"groups":["workers","accept"]}'
 *
 * For every group it listens on three loopback ports (blob, queue, table) and forwards each
 * request, unchanged, to Azurite's port for that service. It counts requests per group, service
 * and operation: one HTTP request is one count, so a table `$batch` counts once, as Table Storage
 * bills it. Shared-key signatures cover the path and headers, not the host, so they stay valid.
 *
 * Once it listens it prints `STORAGE_PROXY_READY {"<group>":{"blob":p,"queue":p,"table":p},...}`.
 * `GET /__bench/counts` on any of its ports answers the counts. SIGTERM stops it; so does its
 * parent going away (IPC channel).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AzuritePorts } from '../local/azurite';
import { startReadyChild } from '../test/support/readyChild';

export const PROXY_READY_PREFIX = 'STORAGE_PROXY_READY ';

export type Service = keyof AzuritePorts;
const SERVICES: readonly Service[] = ['blob', 'queue', 'table'];

/** group → service → operation → requests. */
export type ProxyCounts = Record<string, Record<Service, Record<string, number>>>;

export interface RunningStorageProxy {
  /** The proxy's ports for each group: give a group's clients `azuriteConnectionString(ports[group])`. */
  readonly ports: Readonly<Record<string, AzuritePorts>>;
  counts(): Promise<ProxyCounts>;
  stop(): Promise<void>;
}

/** A short name for what a request does, e.g. `table GET query`, `queue POST messages`. */
export function operationOf(service: Service, method: string, path: string): string {
  const parts = path.split('?')[0]?.split('/').filter((s) => s !== '') ?? [];
  // parts[0] is the account.
  if (service === 'table') {
    const last = parts[parts.length - 1] ?? '';
    if (last === '$batch') return 'batch';
    if (last.startsWith('Tables')) return `${method} tables`;
    // `name(PartitionKey='..',RowKey='..')` is one entity; `name()` or `name` with a filter, a query.
    const table = last.replace(/\(.*\)$/, '');
    return /\(.+\)$/.test(last) ? `${method} entity ${table}` : `${method} query ${table}`;
  }
  if (service === 'queue') {
    if (parts.length <= 2) return `${method} queue`;
    return parts.length === 3 ? `${method} messages` : `${method} message`;
  }
  return `${method} ${parts.length <= 2 ? 'container' : 'blob'}`;
}

/** Sums the operations of a group's service. */
export function total(counts: ProxyCounts, group: string, service: Service): number {
  return Object.values(counts[group]?.[service] ?? {}).reduce((a, b) => a + b, 0);
}

/** `after - before`, operation by operation. */
export function subtract(after: ProxyCounts, before: ProxyCounts): ProxyCounts {
  const out: ProxyCounts = {};
  for (const [group, services] of Object.entries(after)) {
    out[group] = { blob: {}, queue: {}, table: {} };
    for (const service of SERVICES) {
      for (const [op, n] of Object.entries(services[service])) {
        const d = n - (before[group]?.[service]?.[op] ?? 0);
        if (d !== 0) (out[group] as Record<Service, Record<string, number>>)[service][op] = d;
      }
    }
  }
  return out;
}

async function serve(targets: AzuritePorts, groups: readonly string[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const counts: ProxyCounts = Object.fromEntries(groups.map((g) => [g, { blob: {}, queue: {}, table: {} }]));
  const servers: http.Server[] = [];
  const ports: Record<string, Record<Service, number>> = {};

  for (const group of groups) {
    ports[group] = { blob: 0, queue: 0, table: 0 };
    for (const service of SERVICES) {
      const server = http.createServer((req, res) => {
        const url = req.url ?? '/';
        if (url.startsWith('/__bench/counts')) {
          const body = JSON.stringify(counts);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        const method = req.method ?? 'GET';
        const byOp = (counts[group] as Record<Service, Record<string, number>>)[service];
        const op = operationOf(service, method, url);
        byOp[op] = (byOp[op] ?? 0) + 1;
        const upstream = http.request(
          { host: '127.0.0.1', port: targets[service], method, path: url, headers: req.headers, agent },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
            up.pipe(res);
          },
        );
        upstream.on('error', (error) => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`storage proxy: ${error.message}`);
        });
        req.pipe(upstream);
      });
      server.keepAliveTimeout = 30_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      ports[group][service] = (server.address() as AddressInfo).port;
      servers.push(server);
    }
  }

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const s of servers) s.closeAllConnections();
    agent.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.stdout.write(`${PROXY_READY_PREFIX}${JSON.stringify(ports)}\n`);
}

/** Spawns the proxy in front of Azurite's `targets` and waits until it listens. */
export async function startStorageProxy(targets: AzuritePorts, groups: readonly string[]): Promise<RunningStorageProxy> {
  const child = await startReadyChild<Record<string, AzuritePorts>>(join(__dirname, 'storageProxy.ts'), JSON.stringify({ ...targets, groups }), PROXY_READY_PREFIX, 'storage proxy');
  const ports = child.ready;
  const first = Object.values(ports)[0];
  if (first === undefined) {
    await child.stop();
    throw new Error('storage proxy has no groups');
  }
  return {
    ports,
    counts: async () => (await (await fetch(`http://127.0.0.1:${first.table}/__bench/counts`)).json()) as ProxyCounts,
    stop: child.stop,
  };
}

if (require.main === module) {
  const options = JSON.parse(process.argv[2] ?? '{}') as AzuritePorts & { groups?: string[] };
  serve({ blob: options.blob, queue: options.queue, table: options.table }, options.groups ?? ['default']).catch((error: unknown) => {
    process.stderr.write(`storage proxy: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
