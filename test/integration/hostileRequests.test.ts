import { HttpRequest, InvocationContext } from '@azure/functions';
import { editNotification } from '../../functions/handlers/editNotification';
import { getNotification } from '../../functions/handlers/getNotification';
import { recallNotification } from '../../functions/handlers/recallNotification';
import { retryNotification } from '../../functions/handlers/retryNotification';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { freePort } from '../support/freePort';
import { censusChanges, StorageCensus } from '../support/fuzzStorage';
import { startTestPipeline, type TestPipeline } from '../support/pipeline';

/**
 * The requests issue 12 found answered with a 500 (or leaking internal text), one by one, through
 * the local host as `npm start` runs it: each is now a 4xx problem+json that writes nothing.
 */
const INTERNAL_TEXT = /is not a function|Cannot |allowInsecureConnection|TypeError|RangeError|\bat \S+ \(|node_modules|ECONN/;

interface ProblemBody {
  status: number;
  title: string;
  detail: string;
  errors?: { path: string; message: string }[];
}

describe('hostile requests the issue names', () => {
  let pipeline: TestPipeline;
  let connector: FakeConnector;
  let census: StorageCensus;

  beforeAll(async () => {
    const prefix = uniqueName();
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({ env: { TABLE_PREFIX: prefix } });
    census = new StorageCensus(storageConnectionString(), prefix, [pipeline.queue.deliveries, pipeline.queue.deadLetters]);
  });
  afterAll(async () => {
    await pipeline?.stop();
    await connector?.close();
  });
  beforeEach(() => connector.reset());

  function activity(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const user = uniqueName('u');
    return {
      type: 'message',
      id: '1700000000001',
      serviceUrl: connector.serviceUrl,
      channelId: 'msteams',
      from: { id: `29:${user}`, name: 'Ada', aadObjectId: `00000000-0000-0000-0000-${user.slice(1).padStart(12, '0')}` },
      recipient: { id: '28:bot', name: 'teams-notify' },
      conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: 'tenant-h' },
      channelData: { tenant: { id: 'tenant-h' } },
      text: 'help',
      ...overrides,
    };
  }

  const postActivity = (body: unknown) => pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  /** The answer is a problem+json of this status without internal text, and storage did not change. */
  async function refused(call: () => Promise<Response>, status: number): Promise<ProblemBody> {
    const before = await census.count();
    const response = await call();
    const text = await response.text();
    expect({ status: response.status, text }).toMatchObject({ status });
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(text).not.toMatch(INTERNAL_TEXT);
    expect(censusChanges(before, await census.count())).toEqual([]);
    expect(connector.calls).toEqual([]);
    const body = JSON.parse(text) as ProblemBody;
    expect(body.status).toBe(status);
    return body;
  }

  it('POST /api/messages {} → 400 naming the fields an activity needs', async () => {
    const body = await refused(() => postActivity({}), 400);
    expect(body.errors?.map((e) => e.path).sort()).toEqual(['channelId', 'conversation', 'from', 'recipient', 'serviceUrl', 'type']);
  });

  it('a non-string recipient.id → 400 naming recipient.id (was a 500: account.id.startsWith is not a function)', async () => {
    const body = await refused(() => postActivity(activity({ recipient: { id: 42 } })), 400);
    expect(body.errors?.map((e) => e.path)).toEqual(['recipient.id']);
  });

  it('type given as an array → 400 naming type', async () => {
    const body = await refused(() => postActivity(activity({ type: ['message'] })), 400);
    expect(body.errors?.map((e) => e.path)).toEqual(['type']);
  });

  it('a javascript: serviceUrl → 400 naming serviceUrl, and no connector is called (was a 500 quoting botbuilder)', async () => {
    const body = await refused(() => postActivity(activity({ serviceUrl: 'javascript:alert(1)' })), 400);
    expect(body.errors?.map((e) => e.path)).toEqual(['serviceUrl']);
  });

  it('prototype keys, deep nesting, a huge body and non-JSON are refused before anything reads them', async () => {
    const polluted = `{"__proto__":{"polluted":true},${JSON.stringify(activity()).slice(1)}`;
    expect((await refused(() => postActivity(polluted), 400)).errors?.[0]?.path).toBe('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const deep = `{"value":${'['.repeat(50_000)}${']'.repeat(50_000)},${JSON.stringify(activity()).slice(1)}`;
    expect((await refused(() => postActivity(deep), 400)).detail).toMatch(/deeper than/);
    await refused(() => postActivity(activity({ text: 'x'.repeat(1024 * 1024) })), 413);
    await refused(() => pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(activity()) }), 415);
    await refused(() => postActivity('{"type":'), 400);
    const notification = `{"constructor":{"prototype":{"polluted":true}},"recipients":[{"type":"user","aadObjectId":"00000000-0000-0000-0000-000000000001"}],"message":{"text":"x"}}`;
    await refused(() => pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: notification }), 400);
  });

  it.each([
    ['DELETE', '/api/notifications/%ED%A0%80'],
    ['GET', '/api/notifications/%ED%A0%80'],
    ['PATCH', '/api/notifications/%E2%82'],
    ['POST', '/api/notifications/%/retry'],
    ['POST', '/api/notifications/%C0/recall'],
  ])('%s %s (not UTF-8 once decoded) → 400, not a 500', async (method, path) => {
    await refused(() => pipeline.api(path, { method, headers: { 'content-type': 'application/json' }, ...(method !== 'GET' && { body: '{}' }) }), 400);
  });

  it('in Azure the host decodes the id: an id that is not ours (a lone surrogate, a path, a filter) is a 404', async () => {
    const context = () => new InvocationContext({ functionName: 'test', invocationId: uniqueName() });
    for (const id of ['\ud800', '../x', 'a/b', "x' or 1 eq 1", 'X'.repeat(65), '']) {
      const request = (method: string, body?: string) =>
        new HttpRequest({ method, url: 'http://localhost/api/notifications/x', params: { id }, headers: { 'content-type': 'application/json' }, ...(body !== undefined && { body: { string: body } }) });
      for (const response of [
        await getNotification(request('GET'), context()),
        await editNotification(request('PATCH', '{"message":{"text":"x"}}'), context()),
        await retryNotification(request('POST'), context()),
        await recallNotification(request('POST'), context()),
      ]) {
        expect(response.status).toBe(404);
        expect(JSON.stringify(response.jsonBody)).not.toMatch(INTERNAL_TEXT);
      }
    }
  });

  it('an unknown invoke keeps botbuilder’s answer: 501', async () => {
    const response = await postActivity(activity({ type: 'invoke', name: 'composeExtension/query', value: {} }));
    expect(response.status).toBe(501);
  });

  it('a valid message is answered in the conversation: 200, and the reply reaches the connector', async () => {
    const response = await postActivity(activity());
    expect(response.status).toBe(200);
    expect(connector.calls.filter((c) => c.op === 'replyToActivity' || c.op === 'sendToConversation')).toHaveLength(1);
  });

  it('a valid message whose reply cannot be sent (dead serviceUrl) → 502 problem+json: the activity was taken, the connector failed', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/`;
    const user = uniqueName('u');
    const response = await postActivity(activity({ serviceUrl: dead, from: { id: `29:${user}`, name: 'Bo' }, conversation: { id: `a:${user}`, conversationType: 'personal', tenantId: 'tenant-h' } }));
    const text = await response.text();
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(text).not.toMatch(INTERNAL_TEXT);
    expect(text).not.toContain(dead);
    // What the activity proves was stored before the reply failed.
    expect((await pipeline.services.conversations.findUser({ type: 'user', userId: `29:${user}` }))?.serviceUrl).toBe(dead);
  });
});
