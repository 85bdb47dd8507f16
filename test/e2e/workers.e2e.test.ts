/**
 * Two `npm run worker` processes on one queue share a tenant's rate through its timeline in Table
 * Storage, knowing nothing of each other: the Teams-like connector (its own process) counts every
 * sliding second of the tenant's requests, and none holds more than the rate plus 5%.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../shared/config';
import { silentLogger } from '../../shared/logger';
import { StorageQueueJobQueue } from '../../shared/queue/storageQueueJobQueue';
import { createServices, useServices, type Services } from '../../shared/services';
import { startFunctionHost, type RunningFunctionHost } from '../../local/functionHost';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { eventually } from '../support/pipeline';
import { startTeamsLikeConnectorProcess } from '../support/teamsLikeConnectorProcess';
import type { TeamsLikeConnector } from '../support/teamsLikeConnector';

const ROOT = resolve(__dirname, '..', '..');
const RATE = 40;
const USERS = 400;
const TENANT = 'tenant-shared';

describe('two worker processes, one tenant', () => {
  let connector: TeamsLikeConnector;
  let services: Services;
  let host: RunningFunctionHost;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    // The connector would allow far more: what it counts is what the workers chose to send.
    connector = await startTeamsLikeConnectorProcess({ defaults: { rps: 1000, latencyMs: 30, jitterMs: 20 } });
    const prefix = uniqueName('w');
    const env = { STORAGE_CONNECTION_STRING: storageConnectionString(), TABLE_PREFIX: prefix, SEND_RATE_PER_SECOND: String(RATE) };
    // The workers take from the default queue names; this suite is the only one that uses them.
    const queue = new StorageQueueJobQueue(storageConnectionString());
    await queue.ensureCreated();
    await queue.deliveries.clearMessages();
    services = createServices(loadConfig(env), { queue, log: silentLogger });
    useServices(services);
    await services.ready();
    host = await startFunctionHost({ port: 0, functionKey: 'k', log: silentLogger });
    for (const name of ['one', 'two']) {
      workers.push(
        spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'local', 'worker.ts')], {
          cwd: ROOT,
          env: { ...process.env, ...env, WORKER_NAME: name, WORKER_QUIET: process.env.WORKERS_VERBOSE === '1' ? 'false' : 'true' },
          stdio: ['ignore', process.env.WORKERS_VERBOSE === '1' ? 'inherit' : 'ignore', 'inherit'],
        }),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((done) => {
            if (worker.exitCode !== null) return done();
            worker.once('exit', () => done());
            worker.kill('SIGTERM');
          }),
      ),
    );
    await host?.close();
    useServices(undefined);
    await connector?.stop();
  });

  it(`never send more than ${RATE} a second (+5%) between them, and use that rate`, async () => {
    const now = new Date().toISOString();
    for (let i = 0; i < USERS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, USERS - i) }, (_, j) =>
          services.conversations.saveUser({
            serviceUrl: connector.serviceUrl,
            tenantId: TENANT,
            botId: '28:bot',
            userId: `29:w-${i + j}`,
            aadObjectId: `w-aad-${i + j}`,
            personalConversationId: `a:w-chat-${i + j}`,
            installed: true,
            hasPersonalApp: true,
            updatedAt: now,
          }),
        ),
      );
    }
    const res = await fetch(`${host.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': 'k' },
      body: JSON.stringify({ recipients: [{ type: 'allUsers' }], message: { text: 'shared rate' } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await eventually(async () => {
      const body = (await (await fetch(`${host.url}/api/notifications/${id}?pageSize=1`, { headers: { 'x-functions-key': 'k' } })).json()) as { status: string };
      return body.status === 'completed' ? true : undefined;
    }, 90_000, 'the send to complete');

    const tenant = (await connector.stats()).tenants[TENANT];
    expect(tenant?.deliveries.distinct).toBe(USERS);
    expect(tenant?.deliveries.duplicates).toBe(0);
    expect(tenant?.maxAcceptedInAnyWindow).toBeLessThanOrEqual(Math.floor(RATE * 1.05));
    const seconds = ((tenant?.lastAcceptedAt ?? 0) - (tenant?.firstAcceptedAt ?? 0)) / 1000;
    // And they used the tenant's rate between them: the static split this replaced, the rate over
    // maximumInstanceCount (10), would have held the two to 2 × 4 a second.
    expect(USERS / seconds).toBeGreaterThan(RATE * 0.5);
  }, 150_000);
});
