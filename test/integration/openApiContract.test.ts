import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFunctionHost, type RunningFunctionHost } from '../../local/functionHost';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';
import { startPrismProxy, violationsOf, type PrismProxy, type Violation } from '../support/prismProxy';
import { startWrongApi, type WrongApi } from '../support/wrongApi';

const ROOT = resolve(__dirname, '../..');
const TENANT = 'tenant-a';
const ADMIN_KEY = 'admin-key-for-the-contract-test';
const KNOWN = [
  { aadObjectId: '21111111-1111-4111-8111-111111111111', userId: '29:contract-1' },
  { aadObjectId: '21111111-1111-4111-8111-111111111112', userId: '29:contract-2' },
];
const UNKNOWN_USER = '21111111-1111-4111-8111-111111111119';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly violations: readonly Violation[];
}

const onResponse = (v: Violation): boolean => v.location[0] === 'response';

/**
 * The live local host (the same handlers and function table as Azure) driven through Stoplight
 * Prism's validation proxy with the document the host serves: every answer of the main flows must
 * fit the document (no violation located in the response), and every valid request too.
 */
describe('the API answers as openapi.json says (through Prism)', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let host: RunningFunctionHost;
  let proxy: PrismProxy;
  let dir: string;
  const seen: { readonly flow: string; readonly violations: readonly Violation[] }[] = [];

  beforeAll(async () => {
    connector = await startFakeConnector();
    // A guard of 1 person: allUsers over the two known users needs maxAudience (the 422).
    pipeline = await startTestPipeline({ env: { AUDIENCE_GUARD: '1' } });
    for (const user of KNOWN) {
      await pipeline.services.conversations.saveUser({
        ...user,
        serviceUrl: connector.serviceUrl,
        tenantId: TENANT,
        botId: 'bot-1',
        installed: true,
        hasPersonalApp: true,
        updatedAt: new Date().toISOString(),
      });
    }
    // A host with the admin key too, for the dead-letter endpoints; same handlers, same services.
    host = await startFunctionHost({ port: 0, functionKey: pipeline.functionKey, adminKey: ADMIN_KEY, log: { log: () => undefined, warn: () => undefined, error: () => undefined } });
    const served = await fetch(`${host.url}/api/openapi.json`);
    expect(served.status).toBe(200);
    const document = await served.text();
    expect(JSON.parse(document)).toEqual(JSON.parse(readFileSync(join(ROOT, 'openapi.json'), 'utf8')));
    dir = mkdtempSync(join(tmpdir(), 'openapi-contract-'));
    writeFileSync(join(dir, 'openapi.json'), document);
    proxy = await startPrismProxy(join(dir, 'openapi.json'), host.url);
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await host?.close();
    await pipeline?.stop();
    await connector?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function call(flow: string, path: string, init: RequestInit & { key?: string | null } = {}): Promise<Answer> {
    const { key, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key !== null) headers.set('x-functions-key', key ?? pipeline.functionKey);
    const response = await fetch(`${proxy.url}${path}`, { ...rest, headers });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    const body: unknown = /json/.test(contentType) && text !== '' ? JSON.parse(text) : text;
    const violations = violationsOf(response);
    seen.push({ flow, violations });
    // Whatever the request, the answer must fit the document.
    expect({ flow, status: response.status, responseViolations: violations.filter(onResponse) }).toEqual({ flow, status: response.status, responseViolations: [] });
    return { status: response.status, headers: response.headers, body, violations };
  }

  /** A request the document allows: Prism must find nothing wrong with it either. */
  async function valid(flow: string, path: string, init: RequestInit & { key?: string | null } = {}): Promise<Answer> {
    const answer = await call(flow, path, init);
    expect({ flow, violations: answer.violations }).toEqual({ flow, violations: [] });
    return answer;
  }

  const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const notification = (text: string) => ({ recipients: [{ type: 'user', aadObjectId: KNOWN[0]?.aadObjectId }, { type: 'user', aadObjectId: UNKNOWN_USER }], message: { text } });

  it('serves the document and the health probe (200, anonymous)', async () => {
    expect((await valid('openapi', '/api/openapi.json', { key: null })).status).toBe(200);
    const health = await valid('health', '/api/health', { key: null });
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('POST: 202 with Location, the replay with idempotent-replayed, 409 for the key reused, 200 for a dry run, 422 over the guard', async () => {
    const key = `contract-${Date.now()}`;
    const accepted = await valid('accept', '/api/notifications', json(notification('Build 42 passed'), { 'Idempotency-Key': key }));
    expect(accepted.status).toBe(202);
    const id = (accepted.body as { id: string }).id;
    expect(accepted.headers.get('location')).toBe(`/api/notifications/${id}`);

    const replay = await valid('replay', '/api/notifications', json(notification('Build 42 passed'), { 'Idempotency-Key': key }));
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((replay.body as { id: string }).id).toBe(id);

    expect((await valid('conflict', '/api/notifications', json(notification('Build 43 passed'), { 'Idempotency-Key': key }))).status).toBe(409);

    const fanOut = { recipients: [{ type: 'allUsers' }], message: { template: 'notification', data: { title: 'Deploy', whatHappened: 'v2 is live' } } };
    const dryRun = await valid('dry run', '/api/notifications?dryRun=true', json(fanOut));
    expect(dryRun.status).toBe(200);
    expect(dryRun.body).toMatchObject({ audience: { total: 2 }, guard: { audienceGuard: 1, maxAudienceRequired: true, wouldRefuse: 'guard' } });

    const refused = await valid('guard', '/api/notifications', json(fanOut));
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ audience: 2, audienceGuard: 1 });
  });

  it('POST refusals: 400 for the schema, 401 without the key, 415 for text, 413 over 1 MiB; the document calls the requests wrong too', async () => {
    const invalid = await call('schema', '/api/notifications', json({ recipients: [], message: { text: 'x' }, colour: 'red' }));
    expect(invalid.status).toBe(400);
    expect(invalid.violations.some((v) => v.location[0] === 'request')).toBe(true);

    const anonymous = await call('no key', '/api/notifications', { ...json(notification('hi')), key: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.violations.some((v) => v.location[0] === 'request')).toBe(true);

    const text = await call('text', '/api/notifications', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect(text.violations.some((v) => v.location[0] === 'request')).toBe(true);

    const huge = await call('too large', '/api/notifications', json({ ...notification('x'), message: { text: 'x'.repeat(1024 * 1024 + 10) } }));
    expect(huge.status).toBe(413);
  });

  it('GET status (200 with delivered and failed rows), 404 for an unknown id, 400 for a bad pageSize; PATCH, retry, recall and their 409s; DELETE a scheduled send', async () => {
    const accepted = await valid('accept for status', '/api/notifications', json(notification('Release notes')));
    const { id, statusUrl } = accepted.body as { id: string; statusUrl: string };
    const worker = pipeline.startWorker();
    try {
      const done = await eventually(async () => {
        const answer = await valid('status', statusUrl);
        return (answer.body as { status: string }).status === 'completed' ? answer : undefined;
      }, 30_000, 'completed');
      expect(done.body).toMatchObject({ id, counts: { total: 2, delivered: 1, failed: 1 } });

      const edited = await valid('edit', statusUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { text: 'Release notes (fixed)' } }) });
      expect(edited.status).toBe(202);
      expect(edited.headers.get('location')).toBe(statusUrl);
      const retried = await valid('retry', `${statusUrl}/retry`, { method: 'POST', headers: { 'Idempotency-Key': `retry-${id}` } });
      expect(retried.status).toBe(202);
      const again = await valid('retry replay', `${statusUrl}/retry`, { method: 'POST', headers: { 'Idempotency-Key': `retry-${id}` } });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await valid('recall', `${statusUrl}/recall`, { method: 'POST' })).status).toBe(202);
      expect((await valid('edit recalled', statusUrl, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { text: 'too late' } }) })).status).toBe(409);
      await eventually(async () => {
        const answer = await valid('status after recall', statusUrl);
        return (answer.body as { status: string }).status === 'recalled' ? answer : undefined;
      }, 30_000, 'recalled');
    } finally {
      await worker.stop();
    }

    // The key in the query instead of the header: the document's other security scheme.
    expect((await valid('key in query', `${statusUrl}?code=${encodeURIComponent(pipeline.functionKey)}&pageSize=1`, { key: null })).status).toBe(200);
    expect((await valid('unknown', '/api/notifications/n0000000000000000000000000')).status).toBe(404);
    expect((await call('bad pageSize', `${statusUrl}?pageSize=0`)).status).toBe(400);

    const later = new Date(Date.now() + 24 * 3600_000).toISOString();
    const scheduled = await valid('schedule', '/api/notifications', json({ ...notification('Tomorrow'), sendAt: later }));
    expect(scheduled.body).toMatchObject({ status: 'scheduled' });
    const cancelled = await valid('cancel', (scheduled.body as { statusUrl: string }).statusUrl, { method: 'DELETE' });
    expect(cancelled).toMatchObject({ status: 202, body: { status: 'cancelled' } });
    expect((await valid('cancel unknown', '/api/notifications/n0000000000000000000000000', { method: 'DELETE' })).status).toBe(404);
  }, 90_000);

  it('the dead-letter endpoints: 200 with the admin key, 401 with the function key, 404 and 400 for bad input; the bot endpoint: 400 for a non-activity', async () => {
    expect((await valid('dead letters', '/api/deadletters?limit=10', { key: ADMIN_KEY })).status).toBe(200);
    const withFunctionKey = await call('dead letters, function key', '/api/deadletters');
    expect(withFunctionKey.status).toBe(401);
    expect((await valid('redrive unknown', '/api/deadletters/native-0/redrive', { method: 'POST', key: ADMIN_KEY })).status).toBe(404);
    expect((await call('redrive all without id', '/api/deadletters/redrive', { method: 'POST', key: ADMIN_KEY })).status).toBe(400);
    const notActivity = await call('bot', '/api/messages', { ...json({ hello: 'world' }), key: null });
    expect(notActivity.status).toBe(400);
  });

  it("the bot endpoint takes an install and a message from Teams (no MicrosoftAppId: no token needed locally), 403 for a serviceUrl not Teams'", async () => {
    const user = '21111111-1111-4111-8111-111111111120';
    const activity = (fields: Record<string, unknown>) => ({
      id: `1${Date.now()}`,
      timestamp: new Date().toISOString(),
      serviceUrl: connector.serviceUrl,
      channelId: 'msteams',
      from: { id: `29:${user}`, name: 'Contract User', aadObjectId: user },
      recipient: { id: '28:contract-bot', name: 'teams-notify' },
      conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: TENANT },
      channelData: { tenant: { id: TENANT } },
      ...fields,
    });
    const install = await valid('bot install', '/api/messages', { ...json(activity({ type: 'installationUpdate', action: 'add' })), key: null });
    expect(install.status).toBeLessThan(300);
    const help = await valid('bot help', '/api/messages', { ...json(activity({ type: 'message', text: 'help' })), key: null });
    expect(help.status).toBeLessThan(300);
    const untrusted = await valid('bot untrusted serviceUrl', '/api/messages', { ...json({ ...activity({ type: 'message', text: 'help' }), serviceUrl: 'https://bots.example.com/' }), key: null });
    expect(untrusted.status).toBe(403);
  });

  it('saw no answer that breaks the document in any flow above', () => {
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.filter((s) => s.violations.some(onResponse))).toEqual([]);
  });
});

describe('the contract check can fail', () => {
  let wrong: WrongApi;
  let proxy: PrismProxy;

  beforeAll(async () => {
    wrong = await startWrongApi();
    proxy = await startPrismProxy(join(ROOT, 'openapi.json'), wrong.url);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await wrong?.close();
  });

  it('Prism flags answers that break the document: a health body without dependencies, a 202 without Location, a 404 not problem+json', async () => {
    const health = await fetch(`${proxy.url}/api/health`);
    expect(violationsOf(health).filter(onResponse).map((v) => v.location.join('.'))).toEqual(expect.arrayContaining(['response.body']));
    const accepted = await fetch(`${proxy.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-functions-key': 'k' },
      body: JSON.stringify({ recipients: [{ type: 'allUsers' }], message: { text: 'hi' } }),
    });
    expect(accepted.status).toBe(202);
    const acceptedViolations = violationsOf(accepted).filter(onResponse).map((v) => v.location.join('.'));
    expect(acceptedViolations).toEqual(expect.arrayContaining(['response.header', 'response.body.id']));
    const missing = await fetch(`${proxy.url}/api/notifications/nope`, { headers: { 'x-functions-key': 'k' } });
    expect(violationsOf(missing).filter(onResponse).length).toBeGreaterThan(0);
  });
});
