import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionDefinitions, type QueueFunctionDefinition } from '../functions/definitions';
import { startAzurite } from '../local/azurite';
import { startFunctionHost } from '../local/functionHost';
import { startStorageQueueTrigger } from '../local/storageQueueTrigger';
import { loadConfig } from '../shared/config';
import { silentLogger } from '../shared/logger';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../shared/services';
import { startFakeConnector } from '../test/support/fakeConnector';
import { freePort } from '../test/support/freePort';

/**
 * `npm run bench`: figures for the local pipeline (Azurite queue + tables, the real botbuilder
 * sender, a loopback Bot Connector). Azure numbers differ (Service Bus, real Teams latency), but the
 * shape holds: accepting is bounded by storage round trips, delivery by the send budget.
 */
async function main(): Promise<void> {
  const users = Number(process.env.BENCH_USERS ?? 1000);
  const accepts = Number(process.env.BENCH_ACCEPTS ?? 300);
  const pacedRate = Number(process.env.BENCH_PACED_RATE ?? 50);
  const location = mkdtempSync(join(tmpdir(), 'teams-notify-bench-'));
  const azurite = await startAzurite({ ports: { blob: await freePort(), queue: await freePort(), table: await freePort() }, location });
  const connector = await startFakeConnector();
  const memory = new MemorySampler();
  const print = (line: string) => process.stdout.write(`${line}\n`);

  try {
    print(`teams-notify bench: node ${process.version}, ${users} users, ${accepts} accept requests\n`);
    for (const [label, rate] of [['unpaced (budget 1000/s)', 1000], [`paced (budget ${pacedRate}/s)`, pacedRate]] as const) {
      const config = loadConfig({
        STORAGE_CONNECTION_STRING: azurite.connectionString,
        TABLE_PREFIX: `b${rate}`,
        SEND_RATE_PER_SECOND: String(rate),
      });
      const queue = new StorageQueueJobQueue(azurite.connectionString, { deliveries: `bench-${rate}`, deadLetters: `bench-${rate}-dl` });
      const services = createServices(config, { queue, log: silentLogger });
      useServices(services);
      await services.ready();
      const host = await startFunctionHost({ port: 0, functionKey: 'bench', log: silentLogger });
      const post = (body: unknown) =>
        fetch(`${host.url}/api/notifications`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-functions-key': 'bench' },
          body: JSON.stringify(body),
        });

      // Users the bot knows, each with a 1:1 chat already: delivery is one send each.
      const now = new Date().toISOString();
      await runPool(users, 32, async (i) =>
        services.conversations.saveUser({
          userId: `29:bench-${i}`,
          aadObjectId: `bench-aad-${i}`,
          personalConversationId: `a:bench-${i}`,
          serviceUrl: connector.serviceUrl,
          tenantId: 'bench-tenant',
          botId: 'bench-bot',
          installed: true,
          hasPersonalApp: true,
          updatedAt: now,
        }),
      );

      if (rate === 1000) {
        memory.start();
        const latencies: number[] = [];
        const started = performance.now();
        await runPool(accepts, 16, async (i) => {
          const t = performance.now();
          const res = await post({ recipients: [{ type: 'user', aadObjectId: `bench-aad-${i % users}` }], message: { text: `accept ${i}` } });
          await res.arrayBuffer();
          if (res.status !== 202) throw new Error(`accept answered ${res.status}`);
          latencies.push(performance.now() - t);
        });
        const seconds = (performance.now() - started) / 1000;
        print(`accept  POST /api/notifications, 1 recipient, 16 concurrent: ${(accepts / seconds).toFixed(0)} req/s, p50 ${pct(latencies, 50)} ms, p95 ${pct(latencies, 95)} ms`);
        const t = performance.now();
        const big = await post({ recipients: Array.from({ length: 1000 }, (_, i) => ({ type: 'user', aadObjectId: `bench-aad-${i % users}` })), message: { text: 'big' } });
        await big.arrayBuffer();
        print(`accept  POST /api/notifications, 1000 recipients in one request: ${(performance.now() - t).toFixed(0)} ms`);
        // Drain the accept jobs before measuring delivery.
        const drain = startTrigger(queue);
        await waitFor(async () => (await queue.deliveries.getProperties()).approximateMessagesCount === 0, 300_000);
        await drain.idle();
        await drain.stop();
        connector.reset();
      }

      const res = await post({ recipients: [{ type: 'allUsers' }], message: { text: `delivery at ${rate}/s` } });
      const { id } = (await res.json()) as { id: string };
      memory.start();
      const started = performance.now();
      const trigger = startTrigger(queue);
      await waitFor(async () => {
        const { counts } = await services.deliveries.counts(id);
        return counts.total === users && counts.pending === 0;
      }, 600_000);
      const seconds = (performance.now() - started) / 1000;
      await trigger.stop();
      const sends = connector.calls.filter((c) => c.op === 'sendToConversation' && c.status === 201);
      const window = sends.length > 1 ? ((sends.at(-1)?.at ?? 0) - (sends[0]?.at ?? 0)) / 1000 : 0;
      const peak = peakPerSecond(sends.map((c) => c.at));
      print(
        `deliver ${label}: ${users} recipients in ${seconds.toFixed(1)} s = ${(users / seconds).toFixed(0)} msg/s end to end; ` +
          `connector saw ${(sends.length / Math.max(window, 0.001)).toFixed(0)} sends/s, busiest 1 s window ${peak}`,
      );
      print(`        memory: peak RSS ${mb(memory.peakRss)} MB, peak heap used ${mb(memory.peakHeap)} MB`);
      connector.reset();
      await host.close();
      useServices(undefined);
    }
    print(`\nper hour at the paced rate: ${(pacedRate * 3600).toLocaleString('en')} messages (one tenant, one instance)`);
  } finally {
    memory.stop();
    await connector.close();
    await azurite.stop();
    rmSync(location, { recursive: true, force: true });
  }
}

function startTrigger(queue: StorageQueueJobQueue) {
  const definition = functionDefinitions.find((d): d is QueueFunctionDefinition => d.kind === 'queue');
  if (definition === undefined) throw new Error('no queue function');
  return startStorageQueueTrigger({ queue: queue.deliveries, deadLetters: queue, definition, log: silentLogger, concurrency: 16 });
}

async function runPool(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('bench timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function pct(values: number[], p: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0).toFixed(1);
}

function peakPerSecond(times: number[]): number {
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while ((times[i] ?? 0) - (times[j] ?? 0) >= 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

class MemorySampler {
  peakRss = 0;
  peakHeap = 0;
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    this.stop();
    this.peakRss = 0;
    this.peakHeap = 0;
    this.timer = setInterval(() => {
      const m = process.memoryUsage();
      this.peakRss = Math.max(this.peakRss, m.rss);
      this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
    }, 50);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
