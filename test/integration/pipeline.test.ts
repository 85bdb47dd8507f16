import type { QueueClient } from '@azure/storage-queue';
import { userSubject } from '../../shared/domain/optOut';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const TENANT = 'tenant-a';
const USER = { aadObjectId: '11111111-1111-1111-1111-111111111111', userId: '29:user-1' };

async function queueLength(queue: QueueClient): Promise<number> {
  const properties = await queue.getProperties();
  return properties.approximateMessagesCount ?? 0;
}

describe('the pipeline on Azurite: POST → queue → worker → Bot Connector → status', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline();
    await pipeline.services.conversations.saveUser({
      ...USER,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot-1',
      name: 'Alex',
      installed: true,
      updatedAt: new Date().toISOString(),
    });
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  it('delivers a notification to a known user: creates the 1:1 chat, sends, records delivered', async () => {
    const post = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: USER.aadObjectId }], message: { text: 'Build **42** passed' } }),
    });
    expect(post.status).toBe(202);
    const accepted = (await post.json()) as { id: string; status: string; statusUrl: string };
    expect(accepted.status).toBe('accepted');
    expect(post.headers.get('location')).toBe(`/api/notifications/${accepted.id}`);
    expect(accepted.statusUrl).toBe(`/api/notifications/${accepted.id}`);

    const worker = pipeline.startWorker();
    const status = await eventually(async () => {
      const res = await pipeline.api(accepted.statusUrl);
      const body = (await res.json()) as { status: string; counts: { delivered: number }; recipients: { status: string; activityId?: string; conversationId?: string; attempts: number }[] };
      return body.status === 'completed' ? body : undefined;
    }, 20_000, 'completed');
    await worker.stop();

    expect(status.counts).toEqual({ total: 1, pending: 0, delivered: 1, failed: 0, skipped: 0, recalled: 0, read: 0 });
    const [row] = status.recipients;
    expect(row).toMatchObject({ status: 'delivered', conversationId: `a:fake-${USER.userId}`, attempts: 2 });
    const messages = connector.delivered(`a:fake-${USER.userId}`);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.activity.text).toBe('Build **42** passed');
    expect(row?.activityId).toBe(messages[0]?.activityId);
    expect(connector.calls.map((c) => c.op)).toEqual(['createConversation', 'sendToConversation']);

    // The 1:1 chat is stored: the next notification goes straight to it.
    const user = await pipeline.services.conversations.findUser({ type: 'user', aadObjectId: USER.aadObjectId });
    expect(user?.personalConversationId).toBe(`a:fake-${USER.userId}`);
  });

  it('answers 401 problem+json without the function key, and the key works as ?code= too', async () => {
    const noKey = await pipeline.api('/api/notifications', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get('content-type')).toContain('application/problem+json');
    const wrongKey = await pipeline.api('/api/notifications/nxyz', { key: 'not-the-key' });
    expect(wrongKey.status).toBe(401);
    const byCode = await pipeline.api(`/api/notifications/n0?code=${pipeline.functionKey}`, { key: null });
    expect(byCode.status).toBe(404);
    expect(((await byCode.json()) as { status: number }).status).toBe(404);
  });

  it('refuses bad requests with problem+json naming the field, and writes and enqueues nothing', async () => {
    const before = await queueLength(pipeline.queue.deliveries);
    const countRows = async () => {
      let n = 0;
      for await (const _ of pipeline.services.tables.client('notifications').listEntities()) n += 1;
      for await (const _ of pipeline.services.tables.client('deliveries').listEntities()) n += 1;
      return n;
    };
    const rowsBefore = await countRows();

    const bad = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [{ type: 'channel', channelId: '19:x@thread.tacv2' }], message: { text: 'hi' } }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await bad.json()) as { type: string; title: string; status: number; detail: string; errors: { path: string; message: string }[] };
    expect(problem.status).toBe(400);
    expect(problem.errors.map((e) => e.path)).toContain('recipients[0].teamId');

    const notJson = await pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(notJson.status).toBe(415);
    const malformed = await pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"recipients": [' });
    expect(malformed.status).toBe(400);
    const huge = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [{ type: 'allUsers' }], message: { text: 'x'.repeat(1100 * 1024) } }),
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toContain('application/problem+json');

    expect(await queueLength(pipeline.queue.deliveries)).toBe(before);
    expect(await countRows()).toBe(rowsBefore);
  });

  it('answers 404 problem+json for an unknown notification id', async () => {
    const res = await pipeline.api('/api/notifications/n0000000000000000000000');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('reports health 200 when storage and queue answer', async () => {
    const res = await pipeline.api('/api/health', { key: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', dependencies: { storage: 'ok', queue: 'ok' } });
  });
});

describe('the bot endpoint with an app id configured', () => {
  let pipeline: TestPipeline;
  beforeAll(async () => {
    pipeline = await startTestPipeline({ env: { MicrosoftAppId: '5f6c3c3e-0000-4000-8000-00000000b07a', MicrosoftAppType: 'MultiTenant' } });
  });
  afterAll(() => pipeline.stop());

  it('refuses an activity without a Bot Framework token (401) and stores nothing from it', async () => {
    const activity = {
      type: 'message',
      text: 'stop',
      channelId: 'msteams',
      serviceUrl: 'https://smba.trafficmanager.net/teams/',
      from: { id: '29:intruder', aadObjectId: 'intruder-aad' },
      recipient: { id: '28:5f6c3c3e-0000-4000-8000-00000000b07a' },
      conversation: { id: 'a:intruder-chat', conversationType: 'personal', tenantId: 'tenant-x' },
      channelData: { tenant: { id: 'tenant-x' } },
    };
    const res = await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
    expect(res.status).toBe(401);
    expect(await pipeline.services.conversations.findUser({ type: 'user', userId: '29:intruder' })).toBeUndefined();
    expect(await pipeline.services.optOuts.isOptedOut(userSubject('tenant-x', '29:intruder'))).toBe(false);
  });
});

describe('health when the queue is unreachable', () => {
  it('answers 503 problem+json naming the queue, without leaking the connection string', async () => {
    const { createServices, useServices } = await import('../../shared/services');
    const { loadConfig } = await import('../../shared/config');
    const { StorageQueueJobQueue } = await import('../../shared/queue/storageQueueJobQueue');
    const { health } = await import('../../functions/handlers/health');
    const { HttpRequest, InvocationContext } = await import('@azure/functions');
    const { storageConnectionString, uniqueName } = await import('../support/azurite');
    const deadQueue = storageConnectionString().replace(/QueueEndpoint=http:\/\/127\.0\.0\.1:\d+/, 'QueueEndpoint=http://127.0.0.1:9');
    const services = createServices(loadConfig({ STORAGE_CONNECTION_STRING: storageConnectionString(), TABLE_PREFIX: uniqueName() }), {
      queue: new StorageQueueJobQueue(deadQueue, { deliveries: uniqueName('q'), deadLetters: uniqueName('d') }),
    });
    await services.tables.ensureCreated();
    useServices(services);
    try {
      const res = await health(new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }), new InvocationContext({ functionName: 'health' }));
      expect(res.status).toBe(503);
      expect((res.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      const body = res.jsonBody as { failing: string[]; dependencies: Record<string, string> };
      expect(body.failing).toEqual(['queue']);
      expect(body.dependencies.storage).toBe('ok');
      expect(JSON.stringify(body)).not.toMatch(/AccountKey|Eby8vdM02/);
    } finally {
      useServices(undefined);
    }
  }, 30_000);
});

describe('a job that fails on every delivery', () => {
  it('backs off, then ends failed retries-exhausted and is parked, not left pending', async () => {
    let calls = 0;
    const broken = {
      send: async () => {
        calls += 1;
        throw new Error('sender crashed');
      },
      createPersonalConversation: async () => {
        throw new Error('unused');
      },
      createChannelThread: async () => {
        throw new Error('unused');
      },
      listTeamMembers: async () => {
        throw new Error('unused');
      },
      updateMessage: async () => {
        throw new Error('unused');
      },
      deleteMessage: async () => {
        throw new Error('unused');
      },
    };
    const pipeline = await startTestPipeline({ env: { QUEUE_MAX_DELIVERY_COUNT: '3' }, sender: broken });
    try {
      await pipeline.services.conversations.saveUser({
        userId: '29:doomed',
        aadObjectId: 'doomed-aad',
        personalConversationId: 'a:doomed',
        serviceUrl: 'http://127.0.0.1:9/',
        tenantId: 't',
        botId: 'b',
        installed: true,
        updatedAt: new Date().toISOString(),
      });
      const res = await pipeline.api('/api/notifications', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: 'doomed-aad' }], message: { text: 'x' } }),
      });
      const { id } = (await res.json()) as { id: string };
      pipeline.startWorker();
      const status = await eventually(async () => {
        const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { status: string; recipients: { status: string; reason?: string; detail?: string }[] };
        return body.status === 'completed' ? body : undefined;
      }, 30_000, 'the give-up');
      expect(status.recipients[0]).toMatchObject({ status: 'failed', reason: 'retries-exhausted' });
      expect(status.recipients[0]?.detail).toMatch(/failed 3 times.*sender crashed/);
      expect(calls).toBe(3);
      const parked = (await pipeline.queue.deadLetters.peekMessages({ numberOfMessages: 10 })).peekedMessageItems.map(
        (m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as { reason: string },
      );
      expect(parked.map((p) => p.reason)).toEqual(['too-many-errors']);
    } finally {
      await pipeline.stop();
    }
  }, 40_000);
});
