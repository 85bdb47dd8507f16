import { randomUUID } from 'node:crypto';
import type { QueueClient } from '@azure/storage-queue';
import type { UserReference } from '../../shared/domain/reference';
import { mapLimit } from '../../shared/mapLimit';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { startGraphTestPeer, type GraphTestPeer } from '../support/graphTestPeer';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

/*
 * Reaching people the bot has never seen, end to end on the local pipeline: Azurite, the Azurite
 * queue trigger, the fake Bot Connector, and a Graph test peer on loopback (its own module) that
 * serves installs, chats, groups, the organization's users and $count.
 */

const T1 = 'aaaaaaaa-1111-4111-8111-000000000001';
const T2 = 'bbbbbbbb-2222-4222-8222-000000000002';
const CATALOG_APP = 'c0ffee00-0000-4000-8000-000000000abc';
const GUARD = 1_000;
const BOT = 'bot-1';
/** Members of the 2,500 group who already have the app; the rest are installed for through Graph. */
const KNOWN_MEMBERS = 2_000;

interface Status {
  status: string;
  counts: { total: number; pending: number; delivered: number; failed: number; skipped: number };
  recipients: { recipient: Record<string, string>; status: string; reason?: string; detail?: string; conversationId?: string }[];
  continuationToken?: string;
}

const aad = (prefix: string, n: number): string => `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function queueLength(queue: QueueClient): Promise<number> {
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

describe('reach through Microsoft Graph: proactive install, groups, the organization, dry run and the audience guard', () => {
  let connector: FakeConnector;
  let graph: GraphTestPeer;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    connector = await startFakeConnector();
    graph = await startGraphTestPeer();
    pipeline = await startTestPipeline({
      env: {
        GRAPH_ENDPOINT: graph.url,
        GRAPH_PROACTIVE_INSTALL: 'true',
        TEAMS_APP_CATALOG_ID: CATALOG_APP,
        ALLOWED_TENANT_IDS: `${T1},${T2}`,
        AUDIENCE_GUARD: String(GUARD),
        SEND_RATE_PER_SECOND: '1000',
        GRAPH_RATE_PER_SECOND: '1000',
      },
    });
    // Where each tenant is reached, as the bot learnt from earlier activities there.
    for (const tenantId of [T1, T2]) await pipeline.services.conversations.saveTenantAddress({ serviceUrl: connector.serviceUrl, tenantId, botId: BOT });
  });
  afterAll(async () => {
    await pipeline.stop();
    await graph.close();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  async function post(body: unknown, query = ''): Promise<Response> {
    return pipeline.api(`/api/notifications${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  async function accepted(body: unknown): Promise<string> {
    const res = await post(body);
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  async function finished(id: string, timeoutMs = 30_000): Promise<Status> {
    return eventually(async () => {
      const res = await pipeline.api(`/api/notifications/${id}`);
      const body = (await res.json()) as Status;
      return body.status === 'completed' ? body : undefined;
    }, timeoutMs, `notification ${id} to complete`);
  }

  async function allRecipients(id: string): Promise<Status['recipients']> {
    const rows: Status['recipients'] = [];
    let token: string | undefined;
    do {
      const res = await pipeline.api(`/api/notifications/${id}${token !== undefined ? `?continuationToken=${encodeURIComponent(token)}` : ''}`);
      const page = (await res.json()) as Status;
      rows.push(...page.recipients);
      token = page.continuationToken;
    } while (token !== undefined);
    return rows;
  }

  async function knownUser(tenantId: string, aadObjectId: string, n: number): Promise<UserReference> {
    const user: UserReference = {
      serviceUrl: connector.serviceUrl,
      tenantId,
      botId: BOT,
      userId: `29:known-${n}`,
      aadObjectId,
      personalConversationId: `a:known-${n}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt: new Date().toISOString(),
    };
    await pipeline.services.conversations.saveUser(user);
    return user;
  }

  function messagesPerConversation(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const m of connector.delivered()) counts.set(m.conversationId, (counts.get(m.conversationId) ?? 0) + 1);
    return counts;
  }

  it('installs the app for a user who never had it, sends one message that says why, and Teams\' install event adds no welcome', async () => {
    const person = aad('10000000', 1);
    graph.addUsers([{ id: person, displayName: 'Nestor Wilke' }]);
    const worker = pipeline.startWorker();
    try {
      const id = await accepted({
        recipients: [{ type: 'user', aadObjectId: person, tenantId: T1 }],
        message: { template: 'notification', data: { title: 'Expense report approved', whatHappened: 'Your report #118 was approved.', triggeredBy: 'Finance' } },
      });
      const status = await finished(id);
      expect(status.counts).toMatchObject({ total: 1, delivered: 1 });

      // Graph: installed once for the catalog app, then the chat found through the installation.
      const installs = graph.callsTo('installForUser', person);
      expect(installs).toHaveLength(1);
      expect(JSON.stringify(installs[0]?.body)).toContain(`/appCatalogs/teamsApps/${CATALOG_APP}`);
      expect(installs.every((c) => !c.authorized)).toBe(true); // loopback Graph: no token
      const chat = graph.chatIdFor(person);
      expect(status.recipients[0]?.conversationId).toBe(chat);

      // One message, in the chat Graph gave, opening with why it comes; the card keeps its opt-out.
      const messages = connector.delivered();
      expect(messages).toHaveLength(1);
      expect(messages[0]?.conversationId).toBe(chat);
      const card = JSON.stringify(messages[0]?.activity);
      expect(card).toContain('Your organization added');
      expect(card).toContain('Expense report approved');
      expect(card).toContain('Stop these notifications');

      // Teams then tells the bot of the install, as it does after a Graph install: no welcome on top.
      const teamsChat = `a:teams-${randomUUID()}`;
      const activity = {
        type: 'installationUpdate',
        action: 'add',
        id: randomUUID(),
        channelId: 'msteams',
        serviceUrl: connector.serviceUrl,
        from: { id: '29:nestor', aadObjectId: person, name: 'Nestor Wilke' },
        recipient: { id: BOT },
        conversation: { id: teamsChat, conversationType: 'personal', tenantId: T1 },
        channelData: { tenant: { id: T1 } },
      };
      const bot = await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
      expect(bot.status).toBeLessThan(300);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(connector.delivered()).toHaveLength(1);

      // The next notification, naming the person by the Teams id the bot now knows, goes to the same
      // person (one row by Entra object id) without the introduction.
      connector.reset();
      const second = await finished(await accepted({ recipients: [{ type: 'user', userId: '29:nestor' }, { type: 'user', aadObjectId: person }], message: { text: 'Second' } }));
      expect(second.counts).toMatchObject({ total: 1, delivered: 1 });
      expect(connector.delivered()).toHaveLength(1);
      expect(connector.delivered()[0]?.activity.text).toBe('Second');
      expect(graph.callsTo('installForUser', person)).toHaveLength(1);

      // Their "stop" holds for what reaches them through Graph as for anyone: a group send skips them.
      const stop = { ...activity, type: 'message', id: randomUUID(), text: 'stop', action: undefined };
      expect((await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(stop) })).status).toBeLessThan(300);
      const group = randomUUID();
      graph.addGroup(group, [person]);
      connector.reset();
      const third = await finished(await accepted({ recipients: [{ type: 'group', groupId: group, tenantId: T1 }], message: { text: 'Third' } }));
      expect(third.recipients.find((r) => r.recipient.aadObjectId === person)).toMatchObject({ status: 'skipped', reason: 'opted-out' });
      expect(connector.delivered().filter((m) => m.activity.text === 'Third')).toHaveLength(0);
    } finally {
      await worker.stop();
    }
  });

  it('ends install-not-permitted with Graph\'s code, and user-not-found for nobody, and frees the welcome it had set aside', async () => {
    const forbidden = aad('20000000', 1);
    const nobody = aad('20000000', 2);
    graph.addUsers([{ id: forbidden }]);
    graph.forbid(forbidden, 'AppInstallationPolicyDenied');
    const worker = pipeline.startWorker();
    try {
      const status = await finished(
        await accepted({ recipients: [{ type: 'user', aadObjectId: forbidden, tenantId: T1 }, { type: 'user', aadObjectId: nobody, tenantId: T1 }], message: { text: 'hi' } }),
      );
      const byUser = new Map(status.recipients.map((r) => [r.recipient.aadObjectId, r]));
      expect(byUser.get(forbidden)).toMatchObject({ status: 'failed', reason: 'install-not-permitted' });
      expect(byUser.get(forbidden)?.detail).toContain('AppInstallationPolicyDenied');
      expect(byUser.get(nobody)).toMatchObject({ status: 'failed', reason: 'user-not-found' });
      expect(connector.calls).toHaveLength(0);
      // A later install by the user themselves still gets its welcome.
      expect(await pipeline.services.welcomes.claim(`personal:${forbidden}`)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('sends a group of 2,500 across 3 Graph pages plus all users exactly one message each; the guard asks for maxAudience first', async () => {
    const group = randomUUID();
    const members = Array.from({ length: 2_500 }, (_, i) => aad('30000000', i));
    graph.addUsers(members.map((id) => ({ id })));
    graph.addGroup(group, members);
    // 2,000 of them already have the app; 100 more people have it and are not in the group; the
    // last 500 members are installed for through Graph.
    const known = [...members.slice(0, KNOWN_MEMBERS).map((m, i) => ({ id: m, n: 10_000 + i })), ...Array.from({ length: 100 }, (_, i) => ({ id: aad('31000000', i), n: 20_000 + i }))];
    await mapLimit(known, 16, ({ id: aadObjectId, n }) => knownUser(T1, aadObjectId, n));

    const body = { recipients: [{ type: 'group', groupId: group, tenantId: T1 }, { type: 'allUsers' }], message: { text: 'All hands at 3' } };
    const before = await queueLength(pipeline.queue.deliveries);
    const refused = await post(body);
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await refused.json()) as { detail: string; audience: number; errors: { path: string }[] };
    expect(problem.audience).toBeGreaterThan(GUARD);
    expect(problem.detail).toContain('AUDIENCE_GUARD');
    expect(problem.errors[0]?.path).toBe('maxAudience');
    expect(await queueLength(pipeline.queue.deliveries)).toBe(before);

    const worker = pipeline.startWorker({ concurrency: 16 });
    try {
      // A person both entries reach counts twice against the cap: 2,500 + 2,101.
      const id = await accepted({ ...body, maxAudience: 5_000 });
      const status = await finished(id, 240_000);
      // Everyone known before this test (earlier tests' people too) plus the group: each once.
      const rows = await allRecipients(id);
      const people = new Set(rows.map((r) => r.recipient.aadObjectId));
      expect(people.size).toBe(status.counts.total);
      // Every member was sent to; the only others not sent to said "stop" in an earlier test.
      const delivered = new Set(rows.filter((r) => r.status === 'delivered').map((r) => r.recipient.aadObjectId));
      for (const member of members) expect(delivered.has(member)).toBe(true);
      expect(rows.filter((r) => r.status !== 'delivered').map((r) => r.reason).filter((reason) => reason !== 'opted-out')).toEqual([]);

      const perConversation = messagesPerConversation();
      expect([...perConversation.values()].every((n) => n === 1)).toBe(true);
      expect(perConversation.size).toBe(status.counts.delivered);
      expect(graph.callsTo('groupUsers', group)).toHaveLength(3);
      // Only the 500 who lacked the app were installed for.
      const installed = new Set(graph.callsTo('installForUser').filter((c) => c.status === 201).map((c) => c.id));
      expect(members.slice(KNOWN_MEMBERS).every((m) => installed.has(m))).toBe(true);
      expect(members.slice(0, KNOWN_MEMBERS).some((m) => installed.has(m))).toBe(false);
    } finally {
      await worker.stop();
    }
  }, 300_000);

  it('a dry run answers the audience per entry and changes nothing: no rows, no jobs, no connector or install calls', async () => {
    const group = randomUUID();
    const members = Array.from({ length: 30 }, (_, i) => aad('40000000', i));
    graph.addUsers(members.map((id) => ({ id })));
    graph.addGroup(group, members);
    for (let i = 0; i < 10; i++) await knownUser(T2, members[i] as string, 5_000 + i);
    const gone = await knownUser(T2, members[10] as string, 5_010);
    await pipeline.services.conversations.saveUser({ ...gone, installed: false }); // removed the app: never installed again

    const rows = async (): Promise<number> => {
      let n = 0;
      for (const table of ['notifications', 'deliveries', 'conversations', 'welcomes', 'idempotency'] as const) {
        for await (const _ of pipeline.services.tables.client(table).listEntities()) n += 1;
      }
      return n;
    };
    const rowsBefore = await rows();
    const jobsBefore = await queueLength(pipeline.queue.deliveries);
    const installsBefore = graph.callsTo('installForUser').length;

    const res = await post(
      { recipients: [{ type: 'group', groupId: group, tenantId: T2 }, { type: 'user', aadObjectId: aad('41000000', 1), tenantId: T2 }, { type: 'organization', tenantId: T2 }], message: { text: 'x' } },
      '?dryRun=true',
    );
    expect(res.status).toBe(200);
    const { audience, guard } = (await res.json()) as {
      audience: { total: number; known: number; toInstall: number; unreachable: number; entries: { index: number; type: string; total: number; known: number; toInstall: number; unreachable: number }[] };
      guard: { audienceGuard: number; maxAudienceRequired: boolean; wouldRefuse?: string };
    };
    expect(audience.entries[0]).toMatchObject({ index: 0, type: 'group', total: 30, known: 10, toInstall: 19, unreachable: 1 });
    expect(audience.entries[1]).toMatchObject({ index: 1, type: 'user', total: 1, known: 0, toInstall: 1, unreachable: 0 });
    expect(audience.entries[2]?.type).toBe('organization');
    expect(audience.total).toBe(audience.entries.reduce((n, e) => n + e.total, 0));
    const required = audience.entries[0]!.total + audience.entries[2]!.total > GUARD;
    expect(guard).toEqual({ audienceGuard: GUARD, maxAudienceRequired: required, ...(required && { wouldRefuse: 'guard' }) });
    // With a maxAudience below what it reaches, the dry run says the send would be refused for it.
    const capped = await post({ recipients: [{ type: 'group', groupId: group, tenantId: T2 }], message: { text: 'x' }, maxAudience: 5 }, '?dryRun=true');
    expect(((await capped.json()) as { guard: unknown }).guard).toEqual({ audienceGuard: GUARD, maxAudienceRequired: false, wouldRefuse: 'maxAudience' });
    // Counted through Graph's $count (with the header it needs), listed only because it is small.
    expect(graph.callsTo('count', group).some((c) => c.consistencyLevel === 'eventual')).toBe(true);

    expect(await rows()).toBe(rowsBefore);
    expect(await queueLength(pipeline.queue.deliveries)).toBe(jobsBefore);
    expect(connector.calls).toHaveLength(0);
    expect(graph.callsTo('installForUser')).toHaveLength(installsBefore);
  });

  it('stops an expansion at maxAudience when the group grew past it, and skips the rest with audience-exceeded', async () => {
    const group = randomUUID();
    const members = Array.from({ length: 150 }, (_, i) => aad('50000000', i));
    graph.addUsers(members.map((id) => ({ id })));
    graph.addGroup(group, members);
    graph.countOverride(group, 80); // Graph's $count is eventually consistent: it has not seen the last 70 yet
    const worker = pipeline.startWorker();
    try {
      const id = await accepted({ recipients: [{ type: 'group', groupId: group, tenantId: T1 }], message: { text: 'capped' }, maxAudience: 100 });
      const status = await finished(id, 60_000);
      const rows = await allRecipients(id);
      const sent = rows.filter((r) => r.status === 'delivered');
      const skipped = rows.filter((r) => r.reason === 'audience-exceeded');
      expect(sent).toHaveLength(100);
      // The 50 past the cap, and the group entry itself, which says where it stopped.
      expect(skipped.filter((r) => r.recipient.type === 'user')).toHaveLength(50);
      expect(skipped.find((r) => r.recipient.type === 'group')?.detail).toContain('maxAudience (100)');
      expect(status.counts.delivered).toBe(100);
      expect(connector.delivered()).toHaveLength(100);
    } finally {
      await worker.stop();
    }
  });

  it('a Graph 429 delays only its tenant: the other tenant\'s new users get their messages meanwhile', async () => {
    const slow = Array.from({ length: 5 }, (_, i) => aad('60000000', i));
    const fast = Array.from({ length: 5 }, (_, i) => aad('61000000', i));
    graph.addUsers([...slow, ...fast].map((id) => ({ id })));
    for (const id of slow) graph.failNext({ op: 'installForUser', id, times: 1, status: 429, retryAfterSeconds: 3 });
    const worker = pipeline.startWorker();
    try {
      const id = await accepted({
        recipients: [...slow.map((a) => ({ type: 'user', aadObjectId: a, tenantId: T1 })), ...fast.map((a) => ({ type: 'user', aadObjectId: a, tenantId: T2 }))],
        message: { text: 'tenant pacing' },
      });
      const status = await finished(id, 60_000);
      expect(status.counts).toMatchObject({ total: 10, delivered: 10 });

      const firstThrottle = Math.min(...graph.calls.filter((c) => c.op === 'installForUser' && c.status === 429).map((c) => c.at));
      const sendAt = (aadObjectId: string): number => {
        const chat = graph.chatIdFor(aadObjectId);
        const call = connector.calls.find((c) => c.op === 'sendToConversation' && c.conversationId === chat && c.status === 201);
        if (call === undefined) throw new Error(`no send to ${aadObjectId}`);
        return call.at;
      };
      // Tenant 2 went on at once; tenant 1's installs waited out Graph's Retry-After.
      for (const a of fast) expect(sendAt(a) - firstThrottle).toBeLessThan(2_500);
      for (const a of slow) expect(sendAt(a) - firstThrottle).toBeGreaterThanOrEqual(2_900);
      const retried = graph.callsTo('installForUser').filter((c) => slow.includes(c.id as string) && c.status === 201);
      expect(retried.every((c) => c.at - firstThrottle >= 2_900)).toBe(true);
    } finally {
      await worker.stop();
    }
  });

  it('installs the app in a team named by its Entra group id, posts in its General channel, and then knows the team by either id', async () => {
    const group = randomUUID();
    const general = `19:${randomUUID()}@thread.tacv2`;
    graph.addTeam({ groupId: group, primaryChannelId: general, displayName: 'Retail' });
    const worker = pipeline.startWorker();
    try {
      const first = await finished(await accepted({ recipients: [{ type: 'team', aadGroupId: group, tenantId: T1 }], message: { text: 'Store 12 opens early' } }));
      expect(first.counts).toMatchObject({ total: 1, delivered: 1 });
      expect(graph.callsTo('installInTeam', group)).toHaveLength(1);
      const posts = connector.delivered(general);
      expect(posts).toHaveLength(1);
      expect(String(posts[0]?.activity.text)).toMatch(/^Your organization added \*\*.+\*\* to this team/);

      connector.reset();
      const second = await finished(await accepted({ recipients: [{ type: 'team', teamId: general }, { type: 'team', aadGroupId: group }], message: { text: 'Again' } }));
      expect(second.counts).toMatchObject({ total: 1, delivered: 1 });
      expect(connector.delivered(general).map((m) => m.activity.text)).toEqual(['Again']);
      expect(graph.callsTo('installInTeam', group)).toHaveLength(1);
    } finally {
      await worker.stop();
    }
  });

  it('refuses a group entry without a tenant when several are allowed, and a tenant outside the allow-list, naming the field', async () => {
    const missing = await post({ recipients: [{ type: 'organization' }], message: { text: 'x' } });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('recipients[0].tenantId');
    const foreign = await post({ recipients: [{ type: 'group', groupId: randomUUID(), tenantId: randomUUID() }], message: { text: 'x' } });
    expect(foreign.status).toBe(400);
    expect(((await foreign.json()) as { errors: { path: string; message: string }[] }).errors[0]).toMatchObject({ path: 'recipients[0].tenantId' });
  });
});
