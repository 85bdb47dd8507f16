import { QueueServiceClient } from '@azure/storage-queue';
import { startFunctionHost, type RunningFunctionHost } from '../../local/functionHost';
import { loadConfig } from '../../shared/config';
import type { DeliverJob, PlanJob, SliceJob } from '../../shared/domain/job';
import { recipientKey, type TargetRecipient } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import type { DeadLetters } from '../../shared/queue/deadLetters';
import type { JobQueue } from '../../shared/queue/jobQueue';
import { StorageQueueDeadLetters } from '../../shared/queue/storageQueueDeadLetters';
import { decodeQueueBody, encodeQueueBody, StorageQueueJobQueue } from '../../shared/queue/storageQueueJobQueue';
import { redriveDeadLetter, redriveNotification } from '../../shared/requests/redriveDeadLetters';
import { createServices } from '../../shared/services';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

/**
 * Dead letters on the local transport (Azurite queues, the index table), through the local host
 * with the admin key, redriven and then delivered by the real worker against the fake connector.
 */

jest.setTimeout(60_000);

const TENANT = 'tenant-dl';
const ADMIN_KEY = `admin-${uniqueName()}`;

interface Listed {
  items: { id: string; reason: string; description: string; notificationId?: string; recipientKey?: string; recipientKeys: string[]; jobKind?: string; deadLetteredAt: string }[];
  continuationToken?: string;
  next?: string;
}

describe('dead letters on Azurite: listed, redriven where safe, delivered once', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let host: RunningFunctionHost;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline();
    host = await startFunctionHost({ port: 0, functionKey: pipeline.functionKey, adminKey: ADMIN_KEY, log: silentLogger });
  });
  afterAll(async () => {
    await host.close();
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  const admin = (path: string, init: RequestInit & { key?: string | null } = {}): Promise<Response> => {
    const { key, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key !== null) headers.set('x-functions-key', key ?? ADMIN_KEY);
    return fetch(`${host.url}${path}`, { ...rest, headers });
  };

  /** A user the bot knows, with a 1:1 chat: a send goes straight to `a:chat-<name>`. */
  async function knownUser(name: string): Promise<TargetRecipient> {
    const aadObjectId = `aad-${name}`;
    await pipeline.services.conversations.saveUser({
      userId: `29:${name}`,
      aadObjectId,
      personalConversationId: `a:chat-${name}`,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot',
      installed: true,
      updatedAt: new Date().toISOString(),
    });
    return { type: 'user', aadObjectId };
  }

  /** A notification with a pending row per recipient, and the deliver job of each. */
  async function notification(recipients: readonly TargetRecipient[], extra: { recipients?: TargetRecipient[]; planning?: boolean } = {}): Promise<{ id: string; jobs: DeliverJob[] }> {
    const id = `n${uniqueName()}`;
    await pipeline.services.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: `hello from ${id}` }, requestedRecipients: recipients.length, ...extra });
    await pipeline.services.deliveries.createPending(id, recipients.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient })));
    return { id, jobs: recipients.map((recipient) => ({ v: 1, kind: 'deliver', notificationId: id, recipientKey: recipientKey(recipient), recipient, attempt: 0, throttled: 0 })) };
  }

  /** What the queue function does on the last delivery the queue allows (functions/handlers/deliverJob.ts). */
  const giveUp = (job: object, why = 'the job failed on all 3 deliveries; last error: table unavailable'): Promise<void> => pipeline.services.jobs.giveUp(job, why, silentLogger);

  async function list(query: string): Promise<Listed> {
    const res = await admin(`/api/deadletters${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Listed;
  }

  async function runWorkerUntil<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
    const worker = pipeline.startWorker();
    try {
      return await eventually(check, 20_000, what);
    } finally {
      await worker.stop();
    }
  }

  const statusOf = async (notificationId: string, key: string): Promise<string | undefined> => (await pipeline.services.deliveries.get(notificationId, key))?.status;

  it('a job given up after its retries is listed with its reason, description, notification, recipient and time', async () => {
    const user = await knownUser(uniqueName('u'));
    const { id, jobs } = await notification([user]);
    const job = jobs[0] as DeliverJob;
    const before = Date.now();
    await giveUp(job);

    // The recipient's row ended failed because of it.
    expect(await pipeline.services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'failed', reason: 'retries-exhausted' });
    const { items, continuationToken } = await list(`?notificationId=${id}`);
    expect(continuationToken).toBeUndefined();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      reason: 'max-delivery-count',
      description: 'the job failed on all 3 deliveries; last error: table unavailable',
      notificationId: id,
      recipientKey: job.recipientKey,
      recipientKeys: [job.recipientKey],
      jobKind: 'deliver',
    });
    expect(Date.parse(items[0]?.deadLetteredAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(items[0]?.id).toMatch(/^[A-Za-z0-9-]+$/);
  });

  it('a redriven letter resets the failed row, and the worker then delivers it exactly once; a second redrive finds nothing', async () => {
    const name = uniqueName('u');
    const user = await knownUser(name);
    const { id, jobs } = await notification([user]);
    const job = jobs[0] as DeliverJob;
    await giveUp(job);
    const [letter] = (await list(`?notificationId=${id}`)).items;

    const res = await admin(`/api/deadletters/${letter?.id ?? ''}/redrive`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ id: letter?.id, status: 'redriven', jobKind: 'deliver', notificationId: id, recipients: [{ recipientKey: job.recipientKey, action: 'reset', status: 'failed' }], letter: 'removed' });
    expect(await statusOf(id, job.recipientKey)).toBe('pending');
    // Taken out of the dead letters: listed no more, and a second redrive is a 404, not a second send.
    expect((await list(`?notificationId=${id}`)).items).toEqual([]);
    expect((await admin(`/api/deadletters/${letter?.id ?? ''}/redrive`, { method: 'POST' })).status).toBe(404);

    await runWorkerUntil(async () => ((await statusOf(id, job.recipientKey)) === 'delivered' ? true : undefined), 'delivered');
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
    expect(connector.delivered(`a:chat-${name}`)[0]?.activity.text).toBe(`hello from ${id}`);
  });

  it('never resets a delivered recipient: the redrive is refused (409) and nothing is sent again', async () => {
    const name = uniqueName('u');
    const user = await knownUser(name);
    const { id, jobs } = await notification([user]);
    const job = jobs[0] as DeliverJob;
    await pipeline.queue.enqueue([{ job }]);
    await runWorkerUntil(async () => ((await statusOf(id, job.recipientKey)) === 'delivered' ? true : undefined), 'delivered');
    // A copy of the same job parked later (a lost lock, then its retries ran out).
    await giveUp(job);
    expect(await statusOf(id, job.recipientKey)).toBe('delivered');
    const [letter] = (await list(`?notificationId=${id}`)).items;

    const res = await admin(`/api/deadletters/${letter?.id ?? ''}/redrive`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 409, recipients: [{ recipientKey: job.recipientKey, action: 'left', status: 'delivered' }] });
    expect(await statusOf(id, job.recipientKey)).toBe('delivered');
    // Still parked for the operator to see.
    expect((await list(`?notificationId=${id}`)).items.map((i) => i.id)).toEqual([letter?.id]);
    // Give a stray job a moment: there is none; the recipient has its one message.
    const worker = pipeline.startWorker();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await worker.stop();
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('a slice is redriven for its eligible recipients only: the failed one is sent, the delivered one is not', async () => {
    const [a, b] = [uniqueName('u'), uniqueName('u')];
    const users = [await knownUser(a), await knownUser(b)];
    const { id, jobs } = await notification(users);
    const [first, second] = jobs as [DeliverJob, DeliverJob];
    await pipeline.queue.enqueue([{ job: first }]);
    await runWorkerUntil(async () => ((await statusOf(id, first.recipientKey)) === 'delivered' ? true : undefined), 'first delivered');
    const slice: SliceJob = {
      v: 1,
      kind: 'slice',
      notificationId: id,
      tenantId: TENANT,
      sliceId: 'plan@0:0',
      sends: jobs.map((job) => ({ recipientKey: job.recipientKey, recipient: job.recipient, at: Date.now() })),
    };
    await giveUp(slice);
    expect(await statusOf(id, second.recipientKey)).toBe('failed');

    const [letter] = (await list(`?notificationId=${id}`)).items;
    expect(letter).toMatchObject({ jobKind: 'slice', recipientKeys: [first.recipientKey, second.recipientKey] });
    const res = await admin(`/api/deadletters/${letter?.id ?? ''}/redrive`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { recipients: unknown[] }).recipients).toEqual([
      { recipientKey: first.recipientKey, action: 'left', status: 'delivered' },
      { recipientKey: second.recipientKey, action: 'reset', status: 'failed', reason: 'retries-exhausted' },
    ]);
    await runWorkerUntil(async () => ((await statusOf(id, second.recipientKey)) === 'delivered' ? true : undefined), 'second delivered');
    expect(connector.delivered(`a:chat-${a}`)).toHaveLength(1);
    expect(connector.delivered(`a:chat-${b}`)).toHaveLength(1);
  });

  it('a plan job is safe to redrive: its rows are created only where absent, and each recipient gets one message', async () => {
    const name = uniqueName('u');
    const user = await knownUser(name);
    const id = `n${uniqueName()}`;
    await pipeline.services.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'planned' }, requestedRecipients: 1, recipients: [user], planning: true });
    const plan: PlanJob = { v: 1, kind: 'plan', notificationId: id, offset: 0 };
    await giveUp(plan);
    // Giving up marked it planned: the sweeper could now take it out of its index.
    expect((await pipeline.services.notifications.get(id))?.planning).toBe(false);
    const [letter] = (await list(`?notificationId=${id}`)).items;
    expect(letter).toMatchObject({ jobKind: 'plan', recipientKeys: [] });

    const res = await admin(`/api/deadletters/${letter?.id ?? ''}/redrive`, { method: 'POST' });
    expect(res.status).toBe(202);
    // Planning again until the redriven plan has created its rows: the sweeper keeps the index row.
    expect((await pipeline.services.notifications.get(id))?.planning).toBe(true);
    await runWorkerUntil(async () => ((await statusOf(id, recipientKey(user))) === 'delivered' ? true : undefined), 'delivered');
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('a poison body is listed with why, and refused on redrive (nothing to send)', async () => {
    await pipeline.queue.deliveries.sendMessage(encodeQueueBody('{"kind":"deliver", not json'));
    await runWorkerUntil(async () => {
      const { items } = await list('?limit=200');
      return items.find((i) => i.reason === 'invalid-job' && i.description === 'body is not JSON');
    }, 'the poison letter');
    const { items } = await list('?limit=200');
    const poison = items.find((i) => i.reason === 'invalid-job');
    expect(poison).toMatchObject({ recipientKeys: [] });
    expect(poison?.notificationId).toBeUndefined();
    const res = await admin(`/api/deadletters/${poison?.id ?? ''}/redrive`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail: string }).detail).toContain('not a notification job');
  });

  it('pages through more than 32 letters of one notification (limit, continuationToken, next) and filters by notification', async () => {
    const id = `n${uniqueName()}`;
    const other = `n${uniqueName()}`;
    await pipeline.services.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'x' }, requestedRecipients: 40 });
    const park = (notificationId: string, i: number): Promise<void> =>
      pipeline.queue.deadLetter({
        body: JSON.stringify({ v: 1, kind: 'deliver', notificationId, recipientKey: `user:id:29:p${i}`, recipient: { type: 'user', userId: `29:p${i}` }, attempt: 0, throttled: 0 }),
        reason: 'too-many-errors',
        description: `letter ${i}`,
      });
    for (let i = 0; i < 40; i++) await park(id, i);
    for (let i = 0; i < 3; i++) await park(other, i);

    const seen: string[] = [];
    const sizes: number[] = [];
    let path: string | undefined = `/api/deadletters?notificationId=${id}&limit=15`;
    while (path !== undefined) {
      const res = await admin(path);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Listed;
      sizes.push(page.items.length);
      for (const item of page.items) {
        expect(item.notificationId).toBe(id);
        seen.push(item.id);
      }
      expect(page.next === undefined).toBe(page.continuationToken === undefined);
      path = page.next;
    }
    expect(sizes.slice(0, 2)).toEqual([15, 15]);
    expect(seen).toHaveLength(40);
    expect(new Set(seen).size).toBe(40);
    // `pageSize` is the same as `limit`.
    expect((await list(`?notificationId=${other}&pageSize=2`)).items).toHaveLength(2);
  });

  it('redrives every letter of one notification, and each recipient is delivered once', async () => {
    const names = [uniqueName('u'), uniqueName('u'), uniqueName('u')];
    const users = await Promise.all(names.map((name) => knownUser(name)));
    const { id, jobs } = await notification(users);
    for (const job of jobs) await giveUp(job);
    // Another notification's letter stays where it is.
    const bystander = await notification([await knownUser(uniqueName('u'))]);
    await giveUp(bystander.jobs[0] as DeliverJob);

    const res = await admin('/api/deadletters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ notificationId: id }) });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ notificationId: id, redriven: 3, refused: 0 });
    expect((await list(`?notificationId=${id}`)).items).toEqual([]);
    expect((await list(`?notificationId=${bystander.id}`)).items).toHaveLength(1);

    await runWorkerUntil(async () => {
      const statuses = await Promise.all(jobs.map((job) => statusOf(id, job.recipientKey)));
      return statuses.every((s) => s === 'delivered') ? true : undefined;
    }, 'all delivered');
    for (const name of names) expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
    expect(await statusOf(bystander.id, (bystander.jobs[0] as DeliverJob).recipientKey)).toBe('failed');

    // The query form works too, and with nothing left it redrives nothing.
    const again = await admin(`/api/deadletters/redrive?notificationId=${id}`, { method: 'POST' });
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ redriven: 0, refused: 0 });
  });

  it('needs the admin key: 401 without a key and with the function key; the key works as ?code= too', async () => {
    for (const [path, method] of [['/api/deadletters', 'GET'], ['/api/deadletters/abc/redrive', 'POST'], ['/api/deadletters/redrive?notificationId=nabc', 'POST']] as const) {
      const none = await admin(path, { method, key: null });
      expect(none.status).toBe(401);
      expect(none.headers.get('content-type')).toContain('application/problem+json');
      const functionKey = await admin(path, { method, key: pipeline.functionKey });
      expect(functionKey.status).toBe(401);
    }
    expect((await admin(`/api/deadletters?code=${encodeURIComponent(ADMIN_KEY)}`, { key: null })).status).toBe(200);
    // As Azure's master key, the admin key opens the function-level endpoints too.
    expect((await admin('/api/notifications/n0')).status).toBe(404);
    // The pipeline's own host has no admin key: nobody opens the admin endpoints there.
    expect((await pipeline.api('/api/deadletters')).status).toBe(401);
  });

  it('answers 404 for an unknown id and 400 problem+json for bad input', async () => {
    const unknown = await admin('/api/deadletters/00000000-0000-0000-0000-000000000000/redrive', { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/problem+json');

    const bad: [string, RequestInit][] = [
      ['/api/deadletters?limit=0', {}],
      ['/api/deadletters?limit=201', {}],
      ['/api/deadletters?limit=ten', {}],
      ['/api/deadletters?notificationId=NOT%20AN%20ID', {}],
      ['/api/deadletters?continuationToken=%2F%2F', {}],
      ['/api/deadletters?continuationToken=bm90LWEtdG9rZW4', {}],
      // Our wrapper, around something that is not a table continuation ({"t":"x"}).
      ['/api/deadletters?continuationToken=eyJ0IjoieCJ9', {}],
      ['/api/deadletters/redrive?notificationId=nabc&continuationToken=eyJ0IjoieCJ9', { method: 'POST' }],
      ['/api/deadletters/a.b/redrive', { method: 'POST' }],
      ['/api/deadletters/redrive', { method: 'POST' }],
      ['/api/deadletters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"notificationId":' }],
      ['/api/deadletters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"notificationId":"nabc","extra":1}' }],
      ['/api/deadletters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '["nabc"]' }],
      ['/api/deadletters/redrive?notificationId=nabc&limit=501', { method: 'POST' }],
    ];
    for (const [path, init] of bad) {
      const res = await admin(path, init);
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = (await res.json()) as { status: number; detail: string };
      expect(body.status).toBe(400);
    }
    const notJson = await admin('/api/deadletters/redrive', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'nabc' });
    expect(notJson.status).toBe(415);
  });

  it('a continuation token that wraps something else than a table continuation is a 400 naming continuationToken', async () => {
    for (const inner of ['x', 'eyJhIjoxfQ', Buffer.from('{"nextPartitionKey":5}').toString('base64'), Buffer.from('[]').toString('base64')]) {
      const token = Buffer.from(JSON.stringify({ t: inner })).toString('base64url');
      const res = await admin(`/api/deadletters?continuationToken=${token}`);
      expect([inner, res.status]).toEqual([inner, 400]);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = (await res.json()) as { errors: { path: string }[] };
      expect(body.errors[0]?.path).toContain('continuationToken');
    }
  });

  it('a letter that could not be removed is reported kept (202 letter: kept), and a redrive-all counts it and goes on', async () => {
    const users = [await knownUser(uniqueName('u')), await knownUser(uniqueName('u'))];
    const { id, jobs } = await notification(users);
    for (const job of jobs) await giveUp(job);
    const real = pipeline.services.deadLetters;
    // As Service Bus answers for a letter too deep to reach or locked by someone else.
    const keeping: DeadLetters = { list: (q) => real.list(q), get: (letterId) => real.get(letterId), remove: () => Promise.resolve(false) };
    const deps = { ...pipeline.services, deadLetters: keeping };
    const [first] = (await list(`?notificationId=${id}`)).items;

    expect(await redriveDeadLetter(first?.id ?? '', deps)).toMatchObject({ kind: 'redriven', letter: 'kept' });
    expect((await list(`?notificationId=${id}`)).items).toHaveLength(2);
    const all = await redriveNotification(id, { limit: 10 }, deps);
    expect(all).toMatchObject({ redriven: 2, kept: 2, refused: 0 });
    expect(all.results.map((r) => (r.kind === 'redriven' ? r.letter : r.kind))).toEqual(['kept', 'kept']);
    // With the real store the same letters are removed, and a second redrive of one is a 404.
    const removed = await redriveNotification(id, { limit: 10 }, pipeline.services);
    expect(removed).toMatchObject({ redriven: 2, kept: 0 });
    expect((await admin(`/api/deadletters/${first?.id ?? ''}/redrive`, { method: 'POST' })).status).toBe(404);
  });

  it('parks the index row before the queue message: a letter whose message never came is still listed, redriven and removed', async () => {
    const conn = storageConnectionString();
    const name = uniqueName('dl');
    const index = StorageQueueDeadLetters.indexClient(conn, name);
    await index.createTable();
    // A dead-letter queue that does not exist: the send fails, as a crash right after the row would leave it.
    const missing = QueueServiceClient.fromConnectionString(conn).getQueueClient(`${name}-missing`);
    const store = new StorageQueueDeadLetters(missing, index);
    const { id, jobs } = await notification([await knownUser(uniqueName('u'))]);
    const body = JSON.stringify(jobs[0]);
    await expect(store.park({ body, reason: 'too-many-errors', description: 'lost' }, (letterId) => encodeQueueBody({ id: letterId, body }))).rejects.toThrow();

    const page = await store.list({ notificationId: id, limit: 10 });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ reason: 'too-many-errors', description: 'lost', notificationId: id, jobKind: 'deliver', body });
    const letterId = page.items[0]?.id ?? '';
    expect(await store.get(letterId)).toMatchObject({ id: letterId });
    expect(await store.remove(letterId)).toBe(true);
    expect((await store.list({ notificationId: id, limit: 10 })).items).toEqual([]);
    expect(await store.remove(letterId)).toBe(false);
  });

  it('the queue copy of a letter carries the letter id the listing shows', async () => {
    const name = uniqueName('q');
    const own = new StorageQueueJobQueue(storageConnectionString(), { deliveries: `${name}-jobs`, deadLetters: `${name}-dead` });
    await own.ensureCreated();
    await own.deadLetter({ body: '{"not":"a job"}', reason: 'invalid-job', description: 'not a job' });
    const [letter] = (await own.deadLetterStore().list({ limit: 10 })).items;
    const peeked = await own.deadLetters.peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems.map((m) => JSON.parse(decodeQueueBody(m.messageText)) as unknown)).toEqual([
      { id: letter?.id, reason: 'invalid-job', description: 'not a job', body: '{"not":"a job"}', deadLetteredAt: letter?.deadLetteredAt },
    ]);
    await own.close();
  });

  it('a queue given without dead letters of its own is refused at wiring, unless dead letters come with it', () => {
    const bare: JobQueue = {
      enqueue: () => Promise.resolve(),
      deadLetter: () => Promise.resolve(),
      ensureCreated: () => Promise.resolve(),
      ping: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const config = loadConfig({ STORAGE_CONNECTION_STRING: storageConnectionString(), TABLE_PREFIX: uniqueName() });
    expect(() => createServices(config, { queue: bare, log: silentLogger })).toThrow(/dead letters/);
    expect(createServices(config, { queue: bare, deadLetters: pipeline.services.deadLetters, log: silentLogger }).deadLetters).toBe(pipeline.services.deadLetters);
  });
});
