/**
 * `npm run bench`: issue 9's benchmark. Not part of `npm test`.
 *
 * Every delivery scenario runs the real local pipeline from scratch: its own Azurite (fresh ports
 * and data), the Teams-like Bot Connector as its own process with the scenario's per-tenant
 * limits, the same HTTP handlers in an in-process function host (used for POST and GET only),
 * and N queue workers as child processes (`local/worker.ts`, as `npm run worker` runs it). The
 * workers and the POST reach Azurite through a counting proxy (`storageProxy.ts`, its own
 * process), so the bench can say how many table round trips and queue operations each recipient
 * cost; the bench's own status polling goes to Azurite directly and is not counted.
 *
 * Then, in the same run: accept latency (16 concurrent callers, 1 and 1,000 explicit recipients)
 * and the baseline (the Teams Toolkit notification bot's loop, `baselineTeamsFx.ts`) against the
 * same kind of connector.
 *
 * Outputs: bench/results/latest.json, bench/results/latest.md, bench/results/<scenario>.svg.
 *
 * Environment: BENCH_USERS (default 10000; the other audiences scale with it), BENCH_SCENARIOS
 * (comma-separated, of a,b,c,d,e,f,accept,baseline; default all), BENCH_ACCEPT_CALLERS (default
 * 16), BENCH_ACCEPT_REQUESTS (per caller and size, default 25), BENCH_BASELINE_USERS (default 500).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { azuriteConnectionString, startAzurite, type RunningAzurite } from '../local/azurite';
import { startFunctionHost, type RunningFunctionHost } from '../local/functionHost';
import { loadConfig } from '../shared/config';
import { silentLogger } from '../shared/logger';
import { startReadyChild } from '../test/support/readyChild';
import { HOST_READY_PREFIX } from './hostProcess';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices, type Services } from '../shared/services';
import { freePort } from '../test/support/freePort';
import type { ConnectorStats, TeamsLikeConnector, TenantLimits, TenantStats } from '../test/support/teamsLikeConnector';
import { startTeamsLikeConnectorProcess } from '../test/support/teamsLikeConnectorProcess';
import { runTeamsFxBaseline, type TeamsFxBaselineResult } from './baselineTeamsFx';
import { compactJson, markdownTable, renderSvg, type TenantSeries } from './report';
import { startStorageProxy, subtract, total, type ProxyCounts, type RunningStorageProxy } from './storageProxy';

const RESULTS_DIR = join(__dirname, 'results');
const FUNCTION_KEY = 'bench-key';
const POLL_MS = 5_000;
const print = (line: string) => process.stdout.write(`${line}\n`);
/** Epoch ms from the monotonic clock, as the connector stamps its requests. */
const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Scenarios

interface TenantSpec {
  readonly id: string;
  readonly users: number;
  /** What the connector allows this tenant (requests per sliding second). */
  readonly rps: number;
  readonly limits?: Partial<TenantLimits>;
}

type ScenarioKey = 'a' | 'b' | 'c' | 'd' | 'e' | 'f';

interface DeliverySpec {
  readonly key: ScenarioKey;
  readonly title: string;
  readonly tenants: readonly TenantSpec[];
  readonly workers: number;
  readonly connector: string;
  readonly target: string;
  /** (f): the first tenant gets an explicit bulk list; the second tenant's one user an urgent notification 3 s into it. */
  readonly urgent?: boolean;
}

function deliverySpecs(users: number): DeliverySpec[] {
  const one = (id: string, limits?: Partial<TenantLimits>): TenantSpec[] => [{ id, users, rps: limits?.rps ?? 50, ...(limits && { limits }) }];
  const perTenant = Math.max(1, Math.round(users / 20));
  const bulk = Math.min(1000, users);
  return [
    { key: 'a', title: '1 tenant, 1 worker, 50 RPS', tenants: one('tenant-a'), workers: 1, connector: '50 RPS', target: '≥ 0.97, ≤ 1% 429s, 0 lost, 0 dup' },
    { key: 'b', title: '1 tenant, 4 workers, 50 RPS', tenants: one('tenant-b'), workers: 4, connector: '50 RPS', target: '≥ 0.97, ≤ 1% 429s, 0 lost, 0 dup' },
    {
      key: 'c',
      title: '10 tenants, 2 workers, 50 RPS each',
      tenants: Array.from({ length: 10 }, (_, i) => ({ id: `tenant-c${String(i + 1).padStart(2, '0')}`, users: perTenant, rps: 50 })),
      workers: 2,
      connector: '50 RPS each',
      target: 'aggregate ≥ 0.9 × 500/s',
    },
    { key: 'd', title: '1 tenant, 1 worker, the tenant really allows 30 RPS', tenants: one('tenant-d', { rps: 30 }), workers: 1, connector: '30 RPS (pipeline configured for 50)', target: '≥ 0.9 of 30, ≤ 2% 429s' },
    { key: 'e', title: '1 tenant, 1 worker, 2% transient faults', tenants: one('tenant-e', { faultRate: 0.02 }), workers: 1, connector: '50 RPS, 2% 503s', target: '0 lost, 0 dup (no rate target)' },
    {
      key: 'f',
      title: `${bulk.toLocaleString('en')}-user bulk send, then one urgent notification to another tenant`,
      tenants: [
        { id: 'tenant-f-bulk', users: bulk, rps: 50 },
        { id: 'tenant-f-urgent', users: 1, rps: 50 },
      ],
      workers: 1,
      connector: '50 RPS each',
      target: 'urgent delivered ≤ 2 s after its accept',
      urgent: true,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Results

interface TenantResult {
  readonly tenantId: string;
  readonly users: number;
  readonly allowed: number;
  readonly accepted: number;
  readonly throttled: number;
  readonly faults: number;
  readonly requests: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly maxInAnyWindow: number;
  /** accepted / (last − first accepted) / allowed */
  readonly rate: number;
  /** Deliveries per second between the 10th and 90th percentile delivery, / allowed. */
  readonly rateMiddle80: number;
  readonly firstAcceptedMs: number | null;
  readonly lastAcceptedMs: number | null;
}

interface DeliveryResult {
  readonly scenario: ScenarioKey;
  readonly title: string;
  readonly users: number;
  readonly tenants: number;
  readonly workers: number;
  readonly connector: string;
  readonly allowed: number;
  readonly target: string;
  readonly met: boolean | null;
  readonly rate: number;
  readonly rateMiddle80: number;
  readonly requests: number;
  readonly throttled: number;
  readonly throttledShare: number;
  readonly faults: number;
  readonly lost: number;
  readonly duplicates: number;
  /** Last accepted request − the POST, ms. */
  readonly timeToLastMs: number;
  /** When GET first said completed, after the POST (5 s polling). */
  readonly completedAfterMs: number;
  readonly statusCounts: Record<string, number>;
  readonly storage: {
    readonly tableRequests: number;
    readonly queueRequests: number;
    readonly blobRequests: number;
    readonly tablePerRecipient: number;
    readonly queuePerRecipient: number;
    readonly blobPerRecipient: number;
    /** Per group (workers, accept) and operation. */
    readonly detail: ProxyCounts;
  };
  readonly peakRssMb: number;
  readonly perWorkerPeakRssMb: number[];
  readonly workerWarnings: { readonly count: number; readonly last: string[]; readonly kinds: Record<string, number> };
  readonly urgent?: { readonly acceptedAtMs: number; readonly firstDeliveryMs: number | null; readonly latencyMs: number | null; readonly bulkInFlightAtUrgent: number };
  /** Set when the run did not complete in time: what was left. */
  readonly incomplete?: Incomplete;
  /** 1, 5 and 15 minute load averages at the end (the 2 cores are shared). */
  readonly loadAverage: number[];
  readonly perTenant: TenantResult[];
  readonly series: TenantSeries[];
  readonly elapsedMs: number;
}

interface Incomplete {
  readonly afterMs: number;
  readonly pending: number;
  /** Messages in the delivery queue (visible or not) when the bench gave up. */
  readonly queueMessages: number;
  /** A few pending rows, as GET shows them. */
  readonly sample: unknown[];
}

interface FailedResult {
  readonly scenario: string;
  readonly title: string;
  readonly error: string;
}

interface AcceptResult {
  readonly callers: number;
  readonly requestsPerCaller: number;
  /** 1, 5 and 15 minute load averages at the end (the 2 cores are shared). */
  readonly loadAverage: number[];
  readonly sizes: { readonly recipients: number; readonly requests: number; readonly p50Ms: number; readonly p99Ms: number; readonly meanMs: number; readonly maxMs: number; readonly perSecond: number; readonly target: string; readonly met: boolean }[];
}

/** The baseline's own figures, and what the bench adds to compare it with the scenarios. */
interface BaselineResult extends TeamsFxBaselineResult {
  readonly users: number;
  readonly rate: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly timeToLastMs: number;
  readonly series: TenantSeries[];
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function runPool(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/**
 * Deliveries per second over the middle 80% of the deliveries: from the moment the 10th
 * percentile delivery went out to the moment the 90th did (each second's deliveries taken as
 * spread evenly over it). Neither the ramp at the start nor a straggler at the end moves it.
 */
function middle80(counts: readonly number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0) return 0;
  const timeOf = (target: number): number => {
    let cumulative = 0;
    for (let i = 0; i < counts.length; i += 1) {
      const c = counts[i] ?? 0;
      if (c > 0 && cumulative + c >= target) return i + (target - cumulative) / c;
      cumulative += c;
    }
    return counts.length;
  };
  const span = timeOf(0.9 * n) - timeOf(0.1 * n);
  return span > 0 ? (0.8 * n) / span : 0;
}

function seriesOf(stats: TenantStats | undefined, tenantId: string, allowed: number, t0: number): TenantSeries {
  return {
    tenantId,
    allowed,
    points: (stats?.perSecond ?? []).map((p) => [Math.round((p.second * 1000 - t0) / 1000), p.accepted, p.throttled, p.faults] as const),
  };
}

function tenantResult(spec: TenantSpec, stats: TenantStats | undefined, t0: number): TenantResult {
  const accepted = stats?.accepted ?? 0;
  const first = stats?.firstAcceptedAt ?? null;
  const last = stats?.lastAcceptedAt ?? null;
  const span = first !== null && last !== null && last > first ? (last - first) / 1000 : 0;
  const distinct = stats?.deliveries.distinct ?? 0;
  return {
    tenantId: spec.id,
    users: spec.users,
    allowed: spec.rps,
    accepted,
    throttled: stats?.throttled ?? 0,
    faults: stats?.faults ?? 0,
    requests: accepted + (stats?.throttled ?? 0) + (stats?.faults ?? 0),
    delivered: distinct,
    lost: spec.users - distinct,
    duplicates: stats?.deliveries.duplicates ?? 0,
    maxInAnyWindow: stats?.maxAcceptedInAnyWindow ?? 0,
    rate: span > 0 ? accepted / span / spec.rps : 0,
    rateMiddle80: middle80((stats?.perSecond ?? []).map((p) => p.accepted)) / spec.rps,
    firstAcceptedMs: first === null ? null : first - t0,
    lastAcceptedMs: last === null ? null : last - t0,
  };
}

/** Peak resident set (VmHWM) of a process, in MB; 0 when it cannot be read. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Cleanups still to run, newest first; a signal runs them before the bench exits. */
const cleanups: (() => Promise<void>)[] = [];
async function withCleanup<T>(cleanup: () => Promise<void>, body: () => Promise<T>): Promise<T> {
  cleanups.unshift(cleanup);
  try {
    return await body();
  } finally {
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup().catch((error: unknown) => print(`  cleanup failed: ${String(error)}`));
  }
}

// ---------------------------------------------------------------------------------------------
// The pipeline pieces

interface Stack {
  readonly azurite: RunningAzurite;
  readonly location: string;
  readonly host: RunningFunctionHost;
  /** Azurite directly: seeding and the bench's status polling, not counted. */
  readonly direct: Services;
  /** Through the proxy's `accept` group, for POSTs: counted. */
  readonly counted: Services | undefined;
  readonly proxy: RunningStorageProxy | undefined;
  stop(): Promise<void>;
}

async function startStack(name: string, withProxy: boolean): Promise<Stack> {
  const location = mkdtempSync(join(tmpdir(), `teams-notify-bench-${name}-`));
  let azurite: RunningAzurite | undefined;
  let proxy: RunningStorageProxy | undefined;
  let host: RunningFunctionHost | undefined;
  const made: Services[] = [];
  const stop = async () => {
    useServices(undefined);
    await host?.close().catch(() => undefined);
    for (const s of made) await s.close().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
    rmSync(location, { recursive: true, force: true });
  };
  try {
    azurite = await startAzurite({ ports: { blob: await freePort(), queue: await freePort(), table: await freePort() }, location });
    const servicesFor = (connectionString: string) => {
      const s = createServices(loadConfig({ STORAGE_CONNECTION_STRING: connectionString }), { queue: new StorageQueueJobQueue(connectionString), log: silentLogger });
      made.push(s);
      return s;
    };
    const direct = servicesFor(azurite.connectionString);
    await direct.ready();
    let counted: Services | undefined;
    if (withProxy) {
      proxy = await startStorageProxy(azurite.ports, ['workers', 'accept']);
      counted = servicesFor(azuriteConnectionString(proxy.ports.accept as RunningAzurite['ports']));
      await counted.ready();
    }
    useServices(direct);
    host = await startFunctionHost({ port: 0, functionKey: FUNCTION_KEY, log: silentLogger });
    return { azurite, location, host, direct, counted, proxy, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function seedUsers(services: Services, connector: TeamsLikeConnector, tenants: readonly TenantSpec[]): Promise<void> {
  const updatedAt = new Date().toISOString();
  const all = tenants.flatMap((t) => Array.from({ length: t.users }, (_, i) => ({ tenantId: t.id, i })));
  await runPool(all.length, 32, async (n) => {
    const { tenantId, i } = all[n] as { tenantId: string; i: number };
    await services.conversations.saveUser({
      serviceUrl: connector.serviceUrl,
      tenantId,
      botId: '28:bench-bot',
      userId: `29:${tenantId}-u${i}`,
      aadObjectId: aadOf(tenantId, i),
      personalConversationId: `a:${tenantId}-c${i}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt,
    });
  });
}

const aadOf = (tenantId: string, i: number) => `${tenantId}-aad-${i}`;

interface Workers {
  readonly children: ChildProcess[];
  readonly warnings: { count: number; last: string[]; kinds: Record<string, number> };
  peakRss(): number[];
  stop(): Promise<void>;
}

/** Starts `count` queue workers (`local/worker.ts`) on `connectionString` and waits until each takes jobs. */
async function startWorkers(count: number, connectionString: string, scenario: string): Promise<Workers> {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const watch = pathToFileURL(join(__dirname, 'parentWatch.ts')).href;
  const warnings = { count: 0, last: [] as string[], kinds: {} as Record<string, number> };
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let n = 0; n < count; n += 1) {
    const child = spawn(process.execPath, ['--import', tsx, '--import', watch, join(__dirname, '..', 'local', 'worker.ts')], {
      env: { ...process.env, STORAGE_CONNECTION_STRING: connectionString, WORKER_NAME: `${scenario}-w${n}`, WORKER_QUIET: 'true' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
    children.push(child);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter((l) => l.trim() !== '')) {
        warnings.count += 1;
        warnings.last.push(line.slice(0, 300));
        if (warnings.last.length > 5) warnings.last.shift();
        // The same warning for many recipients counts as one kind.
        const kind = line
          .replace(/^\[[^\]]*\] /, '')
          .replace(/\bn[0-9a-z]{20,}\b/g, '<id>')
          .replace(/\b(user|conversation|channel|team):\S+/g, '<recipient>')
          .replace(/\d+(\.\d+)?/g, '<n>')
          .slice(0, 200);
        warnings.kinds[kind] = (warnings.kinds[kind] ?? 0) + 1;
      }
    });
    ready.push(
      new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`worker ${n} did not start within 60 s: ${warnings.last.join(' / ')}`)), 60_000);
        child.stdout?.setEncoding('utf8');
        child.stdout?.on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('taking jobs from')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`worker ${n} exited (${code}) before taking jobs: ${warnings.last.join(' / ')}`));
        });
      }),
    );
  }
  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  };
  try {
    await Promise.all(ready);
  } catch (error) {
    await stop();
    throw error;
  }
  return { children, warnings, peakRss: () => children.map((c) => peakRssMb(c.pid)), stop };
}

/** What is left when a scenario runs out of time: pending rows (a sample) and the queue's length. */
async function diagnose(stack: Stack, ids: readonly string[], afterMs: number): Promise<Incomplete> {
  const sample: unknown[] = [];
  let pending = 0;
  useServices(stack.direct);
  for (const id of ids) {
    let token: string | undefined;
    do {
      const res = await fetch(`${stack.host.url}/api/notifications/${id}?pageSize=1000${token === undefined ? '' : `&continuationToken=${encodeURIComponent(token)}`}`, {
        headers: { 'x-functions-key': FUNCTION_KEY },
      });
      const page = (await res.json()) as { recipients?: { status: string }[]; continuationToken?: string };
      for (const r of page.recipients ?? []) {
        if (r.status !== 'pending') continue;
        pending += 1;
        if (sample.length < 5) sample.push(r);
      }
      token = page.continuationToken;
    } while (token !== undefined);
  }
  const properties = await new StorageQueueJobQueue(stack.azurite.connectionString).deliveries.getProperties();
  return { afterMs, pending, queueMessages: properties.approximateMessagesCount ?? -1, sample };
}

async function post(stack: Stack, body: unknown): Promise<{ id: string; status: number }> {
  if (stack.counted !== undefined) useServices(stack.counted);
  try {
    const res = await fetch(`${stack.host.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': FUNCTION_KEY },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { id?: string; detail?: string };
    if (res.status !== 202 || json.id === undefined) throw new Error(`POST answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
    return { id: json.id, status: res.status };
  } finally {
    useServices(stack.direct);
  }
}

async function status(stack: Stack, id: string): Promise<{ status: string; counts: Record<string, number> }> {
  useServices(stack.direct);
  const res = await fetch(`${stack.host.url}/api/notifications/${id}?pageSize=1`, { headers: { 'x-functions-key': FUNCTION_KEY } });
  const json = (await res.json()) as { status: string; counts: Record<string, number> };
  if (res.status !== 200) throw new Error(`GET answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

// ---------------------------------------------------------------------------------------------
// A delivery scenario

async function runDelivery(spec: DeliverySpec, runId: string): Promise<DeliveryResult> {
  const started = now();
  const users = spec.tenants.reduce((a, t) => a + t.users, 0);
  const allowedTotal = spec.urgent ? (spec.tenants[0]?.rps ?? 50) : spec.tenants.reduce((a, t) => a + t.rps, 0);
  const expectedMs = (users / allowedTotal) * 1000 + 30_000;
  const deadline = Math.max(180_000, 3 * expectedMs);
  print(`\n(${spec.key}) ${spec.title}: ${users.toLocaleString('en')} users, ${spec.tenants.length} tenant(s), ${spec.workers} worker(s); gives up after ${seconds(deadline)}`);

  const stack = await startStack(spec.key, true);
  return withCleanup(stack.stop, async () => {
    const connector = await startTeamsLikeConnectorProcess({ defaults: { rps: 50 } });
    return withCleanup(connector.stop, async () => {
      const overrides = Object.fromEntries(spec.tenants.filter((t) => t.limits !== undefined).map((t) => [t.id, t.limits as Partial<TenantLimits>]));
      if (Object.keys(overrides).length > 0) await connector.setConfig({ tenants: overrides });

      const seedStart = now();
      await seedUsers(stack.direct, connector, spec.tenants);
      print(`  seeded ${users.toLocaleString('en')} users in ${seconds(now() - seedStart)}`);

      const proxy = stack.proxy as RunningStorageProxy;
      const workers = await startWorkers(spec.workers, azuriteConnectionString(proxy.ports.workers as RunningAzurite['ports']), spec.key);
      return withCleanup(workers.stop, async () => {
        await sleep(2_000);
        const before = await proxy.counts();
        const text = `bench ${spec.key} ${runId}`;
        const bulkTenant = spec.tenants[0] as TenantSpec;
        const t0 = now();
        const ids: string[] = [];
        if (spec.urgent) {
          const recipients = Array.from({ length: bulkTenant.users }, (_, i) => ({ type: 'user', aadObjectId: aadOf(bulkTenant.id, i) }));
          ids.push((await post(stack, { recipients, message: { text } })).id);
        } else {
          ids.push((await post(stack, { recipients: [{ type: 'allUsers' }], message: { text } })).id);
        }
        print(`  POST ${ids[0]} answered in ${(now() - t0).toFixed(0)} ms`);

        let urgent: DeliveryResult['urgent'];
        let urgentAcceptedAt = 0;
        let bulkInFlightAtUrgent = 0;
        if (spec.urgent) {
          const urgentTenant = spec.tenants[1] as TenantSpec;
          const waitUntil = now() + 60_000;
          let bulkStartedAt: number | null = null;
          while ((bulkStartedAt = (await connector.stats({ perConversation: false })).tenants[bulkTenant.id]?.firstAcceptedAt ?? null) === null) {
            if (now() > waitUntil) throw new Error('the bulk send did not start within 60 s');
            await sleep(100);
          }
          await sleep(Math.max(0, bulkStartedAt + 3_000 - now()));
          bulkInFlightAtUrgent = (await connector.stats({ perConversation: false })).tenants[bulkTenant.id]?.accepted ?? 0;
          ids.push((await post(stack, { recipients: [{ type: 'user', aadObjectId: aadOf(urgentTenant.id, 0) }], message: { text: `${text} urgent` }, priority: 'urgent' })).id);
          urgentAcceptedAt = now();
          print(`  urgent POST answered ${seconds(urgentAcceptedAt - bulkStartedAt)} into the bulk send (${bulkInFlightAtUrgent} bulk deliveries so far)`);
        }

        // Wait for completion: GET every 5 s (it counts every row), the connector's stats alongside.
        let counts: Record<string, number> = {};
        let completedAfterMs = 0;
        let incomplete: Incomplete | undefined;
        for (;;) {
          await sleep(POLL_MS);
          const statuses = await Promise.all(ids.map((id) => status(stack, id)));
          counts = {};
          for (const s of statuses) for (const [k, v] of Object.entries(s.counts)) counts[k] = (counts[k] ?? 0) + v;
          const live = await connector.stats({ perConversation: false });
          const elapsed = now() - t0;
          print(
            `  ${seconds(elapsed).padStart(8)} ${statuses.map((s) => s.status).join('/')} delivered ${counts.delivered ?? 0}/${users} pending ${counts.pending ?? 0} failed ${counts.failed ?? 0}` +
              ` | connector accepted ${live.totals.accepted} 429 ${live.totals.throttled} 503 ${live.totals.faults}`,
          );
          if (statuses.every((s) => s.status === 'completed')) {
            completedAfterMs = elapsed;
            break;
          }
          if (elapsed > deadline) {
            // Report what happened anyway, with what is left and why it might be.
            incomplete = await diagnose(stack, ids, elapsed);
            print(`  not completed after ${seconds(elapsed)} (the larger of 180 s and 3 × the expected ${seconds(expectedMs)}): ${JSON.stringify(incomplete)}`);
            break;
          }
        }
        const after = await proxy.counts();
        const perWorkerPeakRssMb = workers.peakRss();
        await workers.stop();
        const stats: ConnectorStats = await connector.stats({ perConversation: false });

        const perTenant = spec.tenants.map((t) => tenantResult(t, stats.tenants[t.id], t0));
        const series = spec.tenants.map((t) => seriesOf(stats.tenants[t.id], t.id, t.rps, t0));
        if (spec.urgent) {
          const first = stats.tenants[spec.tenants[1]?.id ?? '']?.firstAcceptedAt ?? null;
          urgent = {
            acceptedAtMs: urgentAcceptedAt - t0,
            firstDeliveryMs: first === null ? null : first - t0,
            latencyMs: first === null ? null : first - urgentAcceptedAt,
            bulkInFlightAtUrgent,
          };
        }
        // The scenario's rate: the tenant's own for one tenant or (f)'s bulk tenant; the aggregate over all tenants for (c).
        const rated = spec.urgent ? perTenant.slice(0, 1) : perTenant;
        const firsts = rated.map((t) => t.firstAcceptedMs).filter((v): v is number => v !== null);
        const lasts = rated.map((t) => t.lastAcceptedMs).filter((v): v is number => v !== null);
        const acceptedRated = rated.reduce((a, t) => a + t.accepted, 0);
        const spanS = firsts.length > 0 ? (Math.max(...lasts) - Math.min(...firsts)) / 1000 : 0;
        const rate = spanS > 0 ? acceptedRated / spanS / allowedTotal : 0;
        const bySecond = new Map<number, number>();
        for (const s of series.slice(0, rated.length)) for (const p of s.points) bySecond.set(p[0], (bySecond.get(p[0]) ?? 0) + p[1]);
        const secondsSeen = [...bySecond.keys()];
        const aggregateSeries =
          secondsSeen.length === 0 ? [] : Array.from({ length: Math.max(...secondsSeen) - Math.min(...secondsSeen) + 1 }, (_, i) => bySecond.get(Math.min(...secondsSeen) + i) ?? 0);
        const rateMiddle80 = middle80(aggregateSeries) / allowedTotal;

        const requests = perTenant.reduce((a, t) => a + t.requests, 0);
        const throttled = perTenant.reduce((a, t) => a + t.throttled, 0);
        const lost = perTenant.reduce((a, t) => a + t.lost, 0);
        const duplicates = perTenant.reduce((a, t) => a + t.duplicates, 0);
        const used = subtract(after, before);
        const tableRequests = total(used, 'workers', 'table') + total(used, 'accept', 'table');
        const queueRequests = total(used, 'workers', 'queue') + total(used, 'accept', 'queue');
        const blobRequests = total(used, 'workers', 'blob') + total(used, 'accept', 'blob');
        const delivered = Math.max(1, counts.delivered ?? 0);
        const timeToLastMs = Math.max(0, ...perTenant.map((t) => t.lastAcceptedMs ?? 0));
        const throttledShare = requests > 0 ? throttled / requests : 0;

        let met: boolean | null;
        switch (spec.key) {
          case 'a':
          case 'b':
            met = rate >= 0.97 && throttledShare <= 0.01 && lost === 0 && duplicates === 0;
            break;
          case 'c':
            met = rate >= 0.9;
            break;
          case 'd':
            met = rate >= 0.9 && throttledShare <= 0.02;
            break;
          case 'e':
            met = lost === 0 && duplicates === 0;
            break;
          case 'f':
            met = urgent?.latencyMs != null && urgent.latencyMs <= 2_000;
            break;
        }

        if (incomplete !== undefined) met = false;
        return {
          scenario: spec.key,
          title: spec.title,
          users,
          tenants: spec.tenants.length,
          workers: spec.workers,
          connector: spec.connector,
          allowed: allowedTotal,
          target: spec.target,
          met,
          rate,
          rateMiddle80,
          requests,
          throttled,
          throttledShare,
          faults: perTenant.reduce((a, t) => a + t.faults, 0),
          lost,
          duplicates,
          timeToLastMs,
          completedAfterMs,
          statusCounts: counts,
          storage: {
            tableRequests,
            queueRequests,
            blobRequests,
            tablePerRecipient: tableRequests / delivered,
            queuePerRecipient: queueRequests / delivered,
            blobPerRecipient: blobRequests / delivered,
            detail: used,
          },
          peakRssMb: Math.max(0, ...perWorkerPeakRssMb),
          perWorkerPeakRssMb,
          workerWarnings: workers.warnings,
          ...(urgent !== undefined && { urgent }),
          ...(incomplete !== undefined && { incomplete }),
          loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
          perTenant,
          series,
          elapsedMs: now() - started,
        };
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Accept latency and the baseline

async function runAccept(): Promise<AcceptResult> {
  const callers = Number(process.env.BENCH_ACCEPT_CALLERS ?? 16);
  const perCaller = Number(process.env.BENCH_ACCEPT_REQUESTS ?? 25);
  print(`\n(accept) accept latency: ${callers} concurrent callers × ${perCaller} requests, 1 and 1,000 explicit recipients, sendAt an hour ahead, no workers`);
  const stack = await startStack('accept', false);
  // The host runs in a process of its own, as under npm start: the callers' own work (building and
  // posting 1,000-recipient bodies) must not share the event loop of the handler being timed.
  const host = await startReadyChild<{ url: string }>(join(__dirname, 'hostProcess.ts'), JSON.stringify({ connectionString: stack.azurite.connectionString, functionKey: FUNCTION_KEY }), HOST_READY_PREFIX, 'function host').catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  return withCleanup(async () => { await host.stop(); await stack.stop(); }, async () => {
    const sizes: AcceptResult['sizes'][number][] = [];
    for (const size of [1, 1000]) {
      const recipients = Array.from({ length: size }, (_, i) => ({ type: 'user', aadObjectId: `accept-aad-${i}` }));
      const call = async (n: number): Promise<number> => {
        const t = now();
        const res = await fetch(`${host.ready.url}/api/notifications`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-functions-key': FUNCTION_KEY },
          body: JSON.stringify({ recipients, message: { text: `accept ${size} ${n}` }, sendAt: new Date(Date.now() + 3_600_000).toISOString() }),
        });
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`accept answered ${res.status}`);
        return now() - t;
      };
      // Warm-up (JIT, connections), not measured.
      await runPool(callers, callers, (n) => call(-1 - n));
      const latencies: number[] = [];
      const t0 = now();
      await runPool(callers * perCaller, callers, async (n) => latencies.push(await call(n)));
      const wall = (now() - t0) / 1000;
      const p99 = percentile(latencies, 99);
      const limit = size === 1 ? 50 : 100;
      sizes.push({
        recipients: size,
        requests: latencies.length,
        p50Ms: percentile(latencies, 50),
        p99Ms: p99,
        meanMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
        maxMs: Math.max(...latencies),
        perSecond: latencies.length / wall,
        target: `p99 ≤ ${limit} ms`,
        met: p99 <= limit,
      });
      const last = sizes[sizes.length - 1];
      print(`  ${size} recipient(s): p50 ${fmt(last?.p50Ms ?? 0, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(last?.maxMs ?? 0, 1)} ms, ${fmt(last?.perSecond ?? 0, 0)} req/s`);
    }
    return { callers, requestsPerCaller: perCaller, sizes, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) };
  });
}

async function runBaseline(runId: string): Promise<BaselineResult> {
  const users = Number(process.env.BENCH_BASELINE_USERS ?? Math.min(500, Number(process.env.BENCH_USERS ?? 10_000)));
  const tenantId = 'tenant-teamsfx';
  print(`\n(baseline) Teams Toolkit notification bot loop (TeamsFx 3.0.2), ${users} users, 1 tenant, connector 50 RPS`);
  const connector = await startTeamsLikeConnectorProcess({ defaults: { rps: 50 } });
  return withCleanup(connector.stop, async () => {
    const t0 = now();
    const result = await runTeamsFxBaseline({ serviceUrl: connector.serviceUrl, users, tenantId, text: `baseline ${runId}` });
    const stats = (await connector.stats({ perConversation: false })).tenants[tenantId];
    const out: BaselineResult = {
      users,
      ...result,
      rate: result.ratePerSecond / 50,
      lost: users - (stats?.deliveries.distinct ?? 0),
      duplicates: stats?.deliveries.duplicates ?? 0,
      timeToLastMs: (stats?.lastAcceptedAt ?? t0) - t0,
      series: [seriesOf(stats, tenantId, 50, t0)],
    };
    print(`  delivered ${out.delivered}, failed ${out.failed}, ${fmt(out.ratePerSecond, 1)} msg/s = ${fmt(out.rate, 3)} of 50; 429s ${out.throttled} of ${out.requests} requests`);
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Output

function commandLine(): string {
  const vars = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k] ?? ''}`);
  const command = process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : `npx tsx ${['bench/run.ts', ...process.argv.slice(2)].join(' ')}`;
  return [...vars, command].join(' ');
}

function deliveryRow(r: DeliveryResult): string[] {
  const mark = r.met === null ? '' : r.met ? ' ✓' : ' ✗';
  const rateCell = `${fmt(r.rate, 3)} (mid 80%: ${fmt(r.rateMiddle80, 3)}) (${r.target})${mark}`;
  const notes: string[] = [];
  if (r.urgent) notes.push(`urgent: ${r.urgent.latencyMs === null ? 'not delivered' : `${fmt(r.urgent.latencyMs / 1000, 2)} s after its accept`}`);
  if (r.faults > 0) notes.push(`${r.faults} 503s`);
  if (r.scenario === 'c') {
    const rates = r.perTenant.map((t) => t.rate);
    notes.push(`per tenant ${fmt(Math.min(...rates), 2)}–${fmt(Math.max(...rates), 2)}`);
  }
  if (r.incomplete) notes.push(`INCOMPLETE: ${r.incomplete.pending} pending after ${seconds(r.incomplete.afterMs)}, ${r.incomplete.queueMessages} queue messages`);
  const failed = r.statusCounts.failed ?? 0;
  if (failed > 0) notes.push(`${failed} failed`);
  return [
    `(${r.scenario})`,
    r.users.toLocaleString('en'),
    String(r.tenants),
    String(r.workers),
    r.connector,
    rateCell,
    `${r.throttled} (${fmt(r.throttledShare * 100, 2)}%)`,
    `${r.lost} / ${r.duplicates}`,
    seconds(r.timeToLastMs),
    fmt(r.storage.tablePerRecipient, 2),
    fmt(r.storage.queuePerRecipient, 2),
    `${fmt(r.peakRssMb, 0)} MB`,
    notes.join('; '),
  ];
}

function warningKinds(r: DeliveryResult): string {
  const top = Object.entries(r.workerWarnings.kinds)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([kind, n]) => `${n} × "${kind}"`);
  return top.length === 0 ? '' : ` (${top.join('; ')})`;
}

function writeResults(results: { deliveries: (DeliveryResult | FailedResult)[]; accept?: AcceptResult | FailedResult; baseline?: BaselineResult | FailedResult }, meta: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const header = ['scenario', 'users', 'tenants', 'workers', 'connector', 'rate ÷ allowed (target)', '429s', 'lost / dup', 'time to last', 'table RT / recipient', 'queue ops / recipient', 'peak RSS', 'notes'];
  const rows: string[][] = [];
  for (const r of results.deliveries) {
    if ('error' in r) rows.push([`(${r.scenario})`, '', '', '', '', `failed: ${r.error}`, '', '', '', '', '', '', '']);
    else rows.push(deliveryRow(r));
  }
  const b = results.baseline;
  if (b !== undefined) {
    if ('error' in b) rows.push(['baseline', '', '', '', '', `failed: ${b.error}`, '', '', '', '', '', '', '']);
    else
      rows.push([
        'baseline: TeamsFx loop',
        b.users.toLocaleString('en'),
        '1',
        '1 (sequential loop)',
        '50 RPS',
        `${fmt(b.rate, 3)} (delivered ÷ elapsed ÷ 50)`,
        `${b.throttled} (${fmt(b.requests > 0 ? (b.throttled / b.requests) * 100 : 0, 2)}%)`,
        `${b.lost} / ${b.duplicates}`,
        seconds(b.timeToLastMs),
        '—',
        '—',
        '—',
        `${b.requests} requests (a roster read per user first); ${b.failed} failed`,
      ]);
  }
  const lines: string[] = [];
  lines.push('# teams-notify bench (issue 9)', '');
  lines.push(`Command: \`${commandLine()}\``, '');
  lines.push(`Run ${String(meta.startedAt)}, ${String(meta.node)}, ${String(meta.cpus)}; total ${String(meta.elapsed)}.`, '');
  lines.push(
    'Rate = accepted requests ÷ (last − first accepted) ÷ allowed, from the connector; “mid 80%” = the same over the middle 80% of the deliveries (from the 10th to the 90th percentile delivery, from the per-second series). ' +
      '429s as a share of all requests to the connector. Lost = users − distinct conversations delivered; dup = deliveries beyond the first. ' +
      'Time to last = last accepted request − the POST. Table RT and queue ops = HTTP requests to Azurite (a $batch counts once) from the workers and the POST, ÷ delivered recipients; the bench’s status polling is not counted. Peak RSS = the largest worker VmHWM.',
    '',
  );
  lines.push(markdownTable(header, rows), '');
  const a = results.accept;
  if (a !== undefined) {
    lines.push('## Accept latency', '');
    if ('error' in a) lines.push(`failed: ${a.error}`, '');
    else {
      lines.push(
        `${a.callers} concurrent callers, ${a.requestsPerCaller} requests each in sequence per size (after ${a.callers} warm-up requests), explicit recipients, sendAt an hour ahead, no workers; ` +
          `the function host runs in a process of its own (bench/hostProcess.ts), as under npm start, and so does Azurite. Load average at the end: ${a.loadAverage.join(', ')}.`,
        '',
      );
      lines.push(
        markdownTable(
          ['recipients', 'requests', 'p50', 'p99 (target)', 'mean', 'max', 'req/s'],
          a.sizes.map((s) => [
            s.recipients.toLocaleString('en'),
            String(s.requests),
            `${fmt(s.p50Ms, 1)} ms`,
            `${fmt(s.p99Ms, 1)} ms (${s.target})${s.met ? ' ✓' : ' ✗'}`,
            `${fmt(s.meanMs, 1)} ms`,
            `${fmt(s.maxMs, 1)} ms`,
            fmt(s.perSecond, 0),
          ]),
        ),
        '',
      );
    }
  }
  const details = results.deliveries.filter((r): r is DeliveryResult => !('error' in r));
  if (details.length > 0) {
    lines.push('## Per scenario', '');
    for (const r of details) {
      const ops = (group: string) =>
        Object.entries(r.storage.detail[group] ?? {})
          .flatMap(([service, byOp]) => Object.entries(byOp).map(([op, n]) => `${service} ${op} ${n}`))
          .join(', ');
      lines.push(
        `- (${r.scenario}) ${r.title}: ${r.incomplete ? `did NOT complete (${r.incomplete.pending} pending after ${seconds(r.incomplete.afterMs)}, ${r.incomplete.queueMessages} queue messages; e.g. ${JSON.stringify(r.incomplete.sample[0] ?? null)})` : `GET said completed after ${seconds(r.completedAfterMs)}`}; statuses ${JSON.stringify(r.statusCounts)}; ` +
          `${r.requests} connector requests, ${r.faults} 503s; most accepted in any second ${Math.max(...r.perTenant.map((t) => t.maxInAnyWindow))}; ` +
          `blob ${fmt(r.storage.blobPerRecipient, 3)} / recipient; worker RSS ${r.perWorkerPeakRssMb.map((m) => fmt(m, 0)).join(', ')} MB; worker warnings ${r.workerWarnings.count}${warningKinds(r)}; load average at the end ${r.loadAverage.join(', ')}. ` +
          `Workers: ${ops('workers')}. Accept: ${ops('accept')}. ![${r.scenario}](${r.scenario}.svg)`,
      );
    }
    lines.push('');
  }
  const markdown = `${lines.join('\n')}\n`;
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${compactJson({ ...meta, command: commandLine(), ...results })}\n`);
  for (const r of details) {
    const marks = r.urgent?.acceptedAtMs !== undefined ? [{ at: r.urgent.acceptedAtMs / 1000, label: 'urgent accepted' }] : [];
    const aggregate = r.scenario === 'c' ? { aggregateAllowed: r.allowed } : {};
    writeFileSync(join(RESULTS_DIR, `${r.scenario}.svg`), renderSvg(`(${r.scenario}) ${r.title}: deliveries per second`, r.series, { marks, ...aggregate }));
  }
  if (b !== undefined && !('error' in b)) writeFileSync(join(RESULTS_DIR, 'baseline.svg'), renderSvg('baseline: TeamsFx notification loop (a roster read, then a send, per user)', b.series, { yLabel: 'connector requests per second' }));
  return markdown;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const users = Number(process.env.BENCH_USERS ?? 10_000);
  const wanted = (process.env.BENCH_SCENARIOS ?? 'a,b,c,d,e,f,accept,baseline').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const runId = Date.now().toString(36);
  const startedAt = new Date().toISOString();
  const t0 = now();
  const cpu = cpus();
  const meta = () => ({ startedAt, node: `node ${process.version}`, cpus: `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}`, elapsed: seconds(now() - t0), users });
  print(`teams-notify bench: ${commandLine()}; ${meta().cpus}`);

  const results: { deliveries: (DeliveryResult | FailedResult)[]; accept?: AcceptResult | FailedResult; baseline?: BaselineResult | FailedResult } = { deliveries: [] };
  const describe = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 300) ?? 'error';
  for (const spec of deliverySpecs(users).filter((s) => wanted.includes(s.key))) {
    try {
      const r = await runDelivery(spec, runId);
      results.deliveries.push(r);
      print(`  → ${deliveryRow(r).join(' | ')}`);
    } catch (error) {
      print(`  (${spec.key}) failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      results.deliveries.push({ scenario: spec.key, title: spec.title, error: describe(error) });
    }
    writeResults(results, meta());
  }
  if (wanted.includes('accept')) {
    try {
      results.accept = await runAccept();
    } catch (error) {
      print(`  (accept) failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      results.accept = { scenario: 'accept', title: 'accept latency', error: describe(error) };
    }
    writeResults(results, meta());
  }
  if (wanted.includes('baseline')) {
    try {
      results.baseline = await runBaseline(runId);
    } catch (error) {
      print(`  (baseline) failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      results.baseline = { scenario: 'baseline', title: 'TeamsFx baseline', error: describe(error) };
    }
  }
  const markdown = writeResults(results, meta());
  print(`\n${markdown}`);
  print(`written: ${join(RESULTS_DIR, 'latest.md')}, latest.json and the SVGs`);
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    print(`\n${signal}: stopping workers, connector, proxy and Azurite...`);
    void (async () => {
      for (const cleanup of [...cleanups]) await cleanup().catch(() => undefined);
      process.exit(130);
    })();
  });
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    for (const cleanup of [...cleanups]) await cleanup().catch(() => undefined);
    process.exit(1);
  },
);
