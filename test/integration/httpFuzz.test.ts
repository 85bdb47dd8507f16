import fc from 'fast-check';
import http from 'node:http';
import { functionDefinitions, type HttpFunctionDefinition } from '../../functions/definitions';
import { startFunctionHost, type RunningFunctionHost } from '../../local/functionHost';
import { silentLogger } from '../../shared/logger';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { answerProblem, send, type FuzzResponse } from '../support/fuzzClient';
import { anyRequest, refusedRequest, unroutedRequest, type FuzzRequest, type FuzzTarget } from '../support/fuzzRequests';
import { censusChanges, StorageCensus } from '../support/fuzzStorage';
import { startTestPipeline, type TestPipeline } from '../support/pipeline';

/**
 * Property-based fuzzing of every HTTP surface of the local host, on Azurite: random and mutated
 * requests (methods, odd path encodings, query strings, headers, bodies, Teams activities) at every
 * route in `functionDefinitions`, so a function added later is fuzzed too.
 *
 * For every case: no 5xx (but botbuilder's 501 for an unknown invoke), an answer within the time
 * limit, problem+json for a 4xx, no internal text in any answer. Requests built to be refused must
 * get a 4xx and, all together, write nothing: no entity, queue message or blob. A sample of the
 * random ones is sent one at a time with a census before and after: a refused one wrote nothing.
 *
 * FUZZ_SEED replays a run; FUZZ_CASES scales it (10,000 by default).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const TOTAL = Number(process.env.FUZZ_CASES ?? 10_000);
const BATCH = 16;
const REQUEST_TIMEOUT_MS = 15_000;
const SAMPLED = 60;
/** Far above the run's time on a quiet 2-core machine: a slow machine should not fail the suite, a hang should. */
const TEST_TIMEOUT_MS = 600_000;

const ADMIN_KEY = `admin-${uniqueName()}`;

describe('every HTTP surface answers bad input with a 4xx (fast-check)', () => {
  let pipeline: TestPipeline;
  let host: RunningFunctionHost;
  let connector: FakeConnector;
  let census: StorageCensus;
  let target: FuzzTarget;
  let agent: http.Agent;
  const routes = functionDefinitions.filter((d): d is HttpFunctionDefinition => d.kind === 'http');
  const cases = new Map<string, number>();
  const statuses = new Map<number, number>();
  const busyMs = new Map<string, number>();
  const started = Date.now();

  beforeAll(async () => {
    const adminKey = ADMIN_KEY;
    const prefix = uniqueName();
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({ env: { TABLE_PREFIX: prefix, LOCAL_ADMIN_KEY: adminKey } });
    // A host of its own with the admin key too, so the admin-keyed routes are fuzzed past the key check.
    host = await startFunctionHost({ port: 0, functionKey: pipeline.functionKey, adminKey, log: silentLogger });
    census = new StorageCensus(storageConnectionString(), prefix, [pipeline.queue.deliveries, pipeline.queue.deadLetters]);
    agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
    const created = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: '00000000-0000-0000-0000-0000000000f1' }], message: { text: 'fuzz target' } }),
    });
    expect(created.status).toBe(202);
    target = { functionKey: pipeline.functionKey, adminKey, existingId: ((await created.json()) as { id: string }).id, serviceUrl: connector.serviceUrl };
    process.stdout.write(`httpFuzz: seed ${SEED} (set FUZZ_SEED to replay), ${TOTAL} cases over ${routes.length} routes: ${routes.map((r) => `${r.methods.join('|')} /api/${r.route}`).join(', ')}\n`);
  });

  afterAll(async () => {
    agent?.destroy();
    await host?.close();
    await pipeline?.stop();
    await connector?.close();
    const perSurface = [...cases.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([surface, n]) => `${surface} ${n} (mean ${Math.round((busyMs.get(surface) ?? 0) / n)} ms)`);
    const total = [...cases.values()].reduce((a, b) => a + b, 0);
    const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
    process.stdout.write(`httpFuzz: seed ${SEED}: ${total} cases (${perSurface.join(', ')}); statuses ${byStatus.join(' ')}; ${Math.round((Date.now() - started) / 1000)} s\n`);
  });

  /** Methods any function at the same route takes (GET, DELETE and PATCH share notifications/{id}). */
  const allowedAt = (route: string) => routes.filter((r) => r.route === route).flatMap((r) => r.methods as readonly string[]);

  async function fire(request: FuzzRequest): Promise<FuzzResponse> {
    cases.set(request.surface, (cases.get(request.surface) ?? 0) + 1);
    const t0 = Date.now();
    const response = await send(host.url, agent, request, REQUEST_TIMEOUT_MS);
    busyMs.set(request.surface, (busyMs.get(request.surface) ?? 0) + Date.now() - t0);
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    return response;
  }

  function describeCase(request: FuzzRequest, response?: FuzzResponse): string {
    const body = request.body === undefined ? '' : ` body ${request.body.length} bytes: ${request.body.subarray(0, 300).toString('utf8')}`;
    const answer = response === undefined ? '' : ` → ${response.status} ${response.contentType} ${response.text.slice(0, 300)}`;
    return `${request.method} ${request.path.slice(0, 300)} ${JSON.stringify(request.headers).slice(0, 300)}${body}${answer}`;
  }

  /** Sends a batch at once; fails naming the first wrong answer, which fast-check then shrinks. */
  async function checkBatch(batch: readonly FuzzRequest[]): Promise<void> {
    const answers = await Promise.all(batch.map(async (request) => ({ request, response: await fire(request) })));
    for (const { request, response } of answers) {
      const wrong = answerProblem(request, response);
      if (wrong !== undefined) throw new Error(`${request.surface}: ${wrong}\n  ${describeCase(request, response)}`);
    }
  }

  it('refuses requests that must be refused, with problem+json, and writes nothing for them', async () => {
    const before = await census.count();
    const refused = fc.oneof(...routes.map((d) => refusedRequest(d, target, allowedAt(d.route))), unroutedRequest);
    await fc.assert(
      fc.asyncProperty(fc.array(refused, { minLength: BATCH, maxLength: BATCH }), (batch) => checkBatch(batch)),
      // No shrinking: the failure names the one request of the batch that was answered wrongly.
      { seed: SEED, numRuns: Math.ceil((TOTAL * 0.35) / BATCH), endOnFailure: true },
    );
    expect(censusChanges(before, await census.count())).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('answers random and mutated requests at every route without a 5xx, problem+json for every 4xx', async () => {
    const any = fc.oneof(...routes.map((d) => anyRequest(d, target, allowedAt(d.route))));
    await fc.assert(
      fc.asyncProperty(fc.array(any, { minLength: BATCH, maxLength: BATCH }), (batch) => checkBatch(batch)),
      { seed: SEED + 1, numRuns: Math.ceil((TOTAL * 0.65) / BATCH) - Math.ceil(SAMPLED / BATCH), endOnFailure: true },
    );
  }, TEST_TIMEOUT_MS);

  it('a sample sent one at a time: whatever is refused left storage as it was', async () => {
    const any = fc.oneof(...routes.map((d) => anyRequest(d, target, allowedAt(d.route))));
    let refusedSeen = 0;
    await fc.assert(
      fc.asyncProperty(any, async (request) => {
        const before = await census.count();
        const response = await fire(request);
        const wrong = answerProblem(request, response);
        if (wrong !== undefined) throw new Error(`${request.surface}: ${wrong}\n  ${describeCase(request, response)}`);
        // A 501 is botbuilder's answer to an invoke nobody handles: the activity itself was valid and taken.
        if (response.status < 400 || response.status === 501) return;
        refusedSeen += 1;
        const changes = censusChanges(before, await census.count());
        if (changes.length > 0) throw new Error(`${request.surface}: a refused request (${response.status}) wrote ${changes.join(', ')}\n  ${describeCase(request, response)}`);
      }),
      { seed: SEED + 2, numRuns: SAMPLED, endOnFailure: true },
    );
    expect(refusedSeen).toBeGreaterThan(SAMPLED / 3);
  }, TEST_TIMEOUT_MS);
});
