/**
 * Proves test/support/fakeConnector.ts against the REAL botbuilder client (CloudAdapter with no
 * app id → no auth), and pins down how botbuilder surfaces the connector's answers.
 */
import {
  Activity,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  ConversationAccount,
  ConversationParameters,
  ConversationReference,
  MessageFactory,
  TeamsInfo,
  TurnContext,
} from 'botbuilder';
// botframework-connector is botbuilder's own dependency (same version); only its types are used here.
import type { ConnectorClient } from 'botframework-connector';
import { performance } from 'node:perf_hooks';
import { type FakeConnector, startFakeConnector } from '../support/fakeConnector';

jest.setTimeout(20_000);

/** What botbuilder throws for a non-2xx answer: @azure/core-rest-pipeline's RestError. */
interface RestErrorLike extends Error {
  name: string;
  statusCode?: number;
  code?: string;
  details?: unknown;
  response?: {
    status: number;
    bodyAsText?: string | null;
    parsedBody?: unknown;
    headers: { get(name: string): string | undefined };
  };
}

let fake: FakeConnector;
let adapter: CloudAdapter;

beforeAll(async () => {
  fake = await startFakeConnector();
  adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.close();
});

function reference(conversationId: string, extra: Partial<ConversationReference> = {}): Partial<ConversationReference> {
  return {
    serviceUrl: fake.serviceUrl,
    channelId: 'msteams',
    conversation: { id: conversationId } as ConversationAccount,
    bot: { id: 'bot', name: 'bot' },
    ...extra,
  };
}

async function send(conversationId: string, text = 'hi', botAppId = ''): Promise<string | undefined> {
  let id: string | undefined;
  await adapter.continueConversationAsync(botAppId, reference(conversationId), async (ctx) => {
    id = (await ctx.sendActivity(text))?.id;
  });
  return id;
}

async function failure(p: Promise<unknown>): Promise<RestErrorLike> {
  try {
    await p;
  } catch (e) {
    return e as RestErrorLike;
  }
  throw new Error('expected the call to fail');
}

function connectorOf(ctx: TurnContext): ConnectorClient {
  const client = ctx.turnState.get<ConnectorClient>(adapter.ConnectorClientKey);
  if (!client) throw new Error('no connector client in turn state');
  return client;
}

/** botbuilder's connector retries 408/429/5xx itself (defaultRetryPolicy, 3 retries); this removes it. */
function withoutRetries(client: ConnectorClient): ConnectorClient {
  const inner = client as unknown as { client: { pipeline: { removePolicy(o: { name: string }): unknown } } };
  inner.client.pipeline.removePolicy({ name: 'defaultRetryPolicy' });
  return client;
}

describe('sending through CloudAdapter.continueConversationAsync', () => {
  it('arrives with no auth, decoded conversation id, recorded as delivered', async () => {
    const id = await send('19:abc@thread.tacv2');

    expect(fake.calls).toHaveLength(1);
    const call = fake.calls[0]!;
    // sendActivity in a continued conversation always sets replyToId (= the random id of the
    // continuation event), so botbuilder POSTs .../activities/{uuid}: replyToActivity.
    expect(call.op).toBe('replyToActivity');
    expect(call.method).toBe('POST');
    expect(call.path).toMatch(/^\/v3\/conversations\/19%3Aabc%40thread\.tacv2\/activities\/[0-9a-f-]{36}$/);
    expect(call.conversationId).toBe('19:abc@thread.tacv2');
    expect(call.status).toBe(201);
    expect(call.headers.authorization).toBeUndefined();

    const delivered = fake.delivered('19:abc@thread.tacv2');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.activity).toMatchObject({ type: 'message', text: 'hi' });
    expect(id).toBe(delivered[0]!.activityId);
  });

  it('also works with a non-empty bot app id when the configuration has none', async () => {
    await send('a:user-1', 'hello', 'bot');
    expect(fake.calls[0]!.headers.authorization).toBeUndefined();
    expect(fake.delivered('a:user-1')).toHaveLength(1);
  });

  it('uses sendToConversation when the connector client is called directly, and decodes ";"', async () => {
    const thread = '19:c@thread.tacv2;messageid=1700000000001';
    let id: string | undefined;
    await adapter.continueConversationAsync('', reference(thread), async (ctx) => {
      id = (await connectorOf(ctx).conversations.sendToConversation(thread, { type: 'message', text: 'reply' })).id;
    });
    expect(fake.calls[0]).toMatchObject({ op: 'sendToConversation', conversationId: thread, status: 201 });
    expect(fake.calls[0]!.path).toContain('19%3Ac%40thread.tacv2%3Bmessageid%3D1700000000001');
    expect(fake.delivered('19:c@thread.tacv2').map((d) => d.activityId)).toEqual([id]);
  });
});

describe('errors as botbuilder surfaces them', () => {
  it('403 ConversationBlockedByUser: RestError with statusCode and code, not retried', async () => {
    fake.script({ op: 'send', conversationId: 'a:blocked' }, [{ status: 403, code: 'ConversationBlockedByUser' }]);
    const err = await failure(send('a:blocked'));

    expect(err.name).toBe('RestError');
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('ConversationBlockedByUser');
    expect(err.message).toBe('User blocked the conversation with the bot.');
    expect(err.details).toEqual({
      error: { code: 'ConversationBlockedByUser', message: 'User blocked the conversation with the bot.' },
    });
    expect(err.response?.status).toBe(403);
    expect(err.response?.parsedBody).toMatchObject({ error: { code: 'ConversationBlockedByUser' } });
    expect(JSON.parse(err.response?.bodyAsText ?? '')).toEqual(err.details);
    expect(fake.calls).toHaveLength(1);
    expect(fake.delivered()).toHaveLength(0);
  });

  it('403 with subCode MessageWritesBlocked: Teams documented body, no err.code, subCode in the body text', async () => {
    fake.script({ op: 'send' }, [{ status: 403, subCode: 'MessageWritesBlocked' }]);
    const err = await failure(send('a:writes-blocked'));

    expect(err.statusCode).toBe(403);
    expect(err.code).toBeUndefined();
    expect(err.details).toMatchObject({ errorCode: 209 });
    // the body's "message" is itself JSON text; botbuilder copies it into err.message
    expect(JSON.parse(err.message)).toMatchObject({ subCode: 'MessageWritesBlocked' });
    expect(err.response?.bodyAsText).toContain('MessageWritesBlocked');
  });

  it('429 with Retry-After 2: retried by botbuilder 3 times honouring Retry-After, then thrown', async () => {
    fake.script({ op: 'send' }, Array(4).fill({ status: 429, retryAfterSeconds: 2 }));
    const t0 = performance.now();
    const err = await failure(send('a:throttled'));

    expect(err.statusCode).toBe(429);
    expect(err.code).toBe('Throttled');
    expect(err.response?.headers.get('retry-after')).toBe('2');
    expect(fake.calls.map((c) => c.status)).toEqual([429, 429, 429, 429]);
    const gaps = fake.calls.slice(1).map((c, i) => c.at - fake.calls[i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(1_950);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(5_900);
    expect(fake.delivered()).toHaveLength(0);
  });

  it('a single 429 (and a single 500) is retried transparently and then succeeds', async () => {
    fake.script({ op: 'send', conversationId: 'a:t1' }, [{ status: 429, retryAfterSeconds: 1 }]);
    fake.script({ op: 'send', conversationId: 'a:t2' }, [{ status: 500 }]);
    await send('a:t1');
    await send('a:t2');
    expect(fake.calls.map((c) => [c.conversationId, c.status])).toEqual([
      ['a:t1', 429],
      ['a:t1', 201],
      ['a:t2', 500],
      ['a:t2', 201],
    ]);
    expect(fake.calls[1]!.at - fake.calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(fake.delivered()).toHaveLength(2);
  });

  it('with the retry policy removed, the first 429 surfaces at once', async () => {
    fake.script({ op: 'send' }, [{ status: 429, retryAfterSeconds: 30 }]);
    const t0 = performance.now();
    const err = await failure(
      adapter.continueConversationAsync('', reference('a:t3'), async (ctx) => {
        withoutRetries(connectorOf(ctx));
        await ctx.sendActivity('hi');
      }),
    );
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(err.statusCode).toBe(429);
    expect(err.response?.headers.get('retry-after')).toBe('30');
    expect(fake.calls).toHaveLength(1);
  });

  it('always(): every matching call answers the same until cleared', async () => {
    const clear = fake.always({ conversationId: 'a:removed' }, { status: 403, code: 'BotNotInConversationRoster' });
    expect((await failure(send('a:removed'))).code).toBe('BotNotInConversationRoster');
    expect((await failure(send('a:removed'))).code).toBe('BotNotInConversationRoster');
    await send('a:other');
    clear();
    await send('a:removed');
    expect(fake.calls.map((c) => c.status)).toEqual([403, 403, 201, 201]);
  });
});

describe('timeouts', () => {
  it('botbuilder has no request timeout: a 3 s hang just waits, then succeeds', async () => {
    fake.script({ op: 'send' }, [{ delayMs: 3_000 }]);
    const t0 = performance.now();
    await send('a:slow');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2_950);
    expect(fake.calls).toHaveLength(1);
    expect(fake.delivered('a:slow')).toHaveLength(1);
  });

  it('a per-call timeout on the connector client aborts (AbortError, no retry); Teams may still deliver', async () => {
    fake.script({ op: 'send' }, [{ delayMs: 800 }]);
    let caught: unknown;
    await adapter.continueConversationAsync('', reference('a:timeout'), async (ctx) => {
      try {
        await connectorOf(ctx).conversations.sendToConversation(
          'a:timeout',
          { type: 'message', text: 'late' },
          { timeout: 200 },
        );
      } catch (e) {
        caught = e;
      }
    });
    expect((caught as Error).name).toBe('AbortError');
    expect(fake.calls).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 900));
    expect(fake.calls[0]!.aborted).toBe(true);
    // the fake, like Teams, completes the post although nobody hears the answer
    expect(fake.delivered('a:timeout')).toHaveLength(1);
  });

  it('an AbortSignal passed to the connector client also aborts a hang that never answers', async () => {
    fake.script({ op: 'send' }, [{ delayMs: Infinity }]);
    let caught: unknown;
    await adapter.continueConversationAsync('', reference('a:hang'), async (ctx) => {
      try {
        await connectorOf(ctx).conversations.sendToConversation(
          'a:hang',
          { type: 'message', text: 'never' },
          { abortSignal: AbortSignal.timeout(200) },
        );
      } catch (e) {
        caught = e;
      }
    });
    expect((caught as Error).name).toBe('AbortError');
    expect(fake.delivered('a:hang')).toHaveLength(0);
  });
});

describe('createConversation', () => {
  const params = (userId: string): ConversationParameters =>
    ({ isGroup: false, bot: { id: 'bot', name: 'bot' }, members: [{ id: userId, name: '' }], tenantId: 'tenant-1' }) as ConversationParameters;

  async function create(userId: string, botAppId = ''): Promise<string> {
    let id = '';
    await adapter.createConversationAsync(botAppId, 'msteams', fake.serviceUrl, '', params(userId), async (ctx) => {
      id = ctx.activity.conversation.id;
    });
    return id;
  }

  it('1:1: deterministic id per user, the same on every create', async () => {
    expect(await create('29:user-1')).toBe('a:fake-29:user-1');
    expect(await create('29:user-1', 'bot')).toBe('a:fake-29:user-1');
    expect(await create('29:user-2')).toBe('a:fake-29:user-2');
    expect(fake.calls.map((c) => [c.op, c.userId, c.conversationId, c.status])).toEqual([
      ['createConversation', '29:user-1', 'a:fake-29:user-1', 201],
      ['createConversation', '29:user-1', 'a:fake-29:user-1', 201],
      ['createConversation', '29:user-2', 'a:fake-29:user-2', 201],
    ]);
    expect(fake.calls[0]!.body).toMatchObject({ isGroup: false, tenantId: 'tenant-1', members: [{ id: '29:user-1' }] });
    expect(fake.delivered()).toHaveLength(0);
  });

  it('errors from createConversationAsync are the same RestError (scripted by user id)', async () => {
    fake.script({ op: 'createConversation', userId: '29:off' }, [{ status: 403, code: 'BotDisabledByAdmin' }]);
    const err = await failure(create('29:off'));
    expect(err.statusCode).toBe(403);
    expect(err.code).toBe('BotDisabledByAdmin');
    expect(await create('29:on')).toBe('a:fake-29:on');
  });

  it('channel thread via TeamsInfo.sendMessageToTeamsChannel: "C;messageid=<activityId>"', async () => {
    const channel = '19:general@thread.tacv2';
    let result: [ConversationReference, string] | undefined;
    await adapter.continueConversationAsync('', reference(channel), async (ctx) => {
      // with CloudAdapter it needs a non-empty botAppId (else it calls adapter.createConnectorClient, absent)
      result = await TeamsInfo.sendMessageToTeamsChannel(ctx, MessageFactory.text('announcement') as Activity, channel, 'bot');
    });
    const [ref, returnedId] = result!;
    const created = fake.calls.find((c) => c.op === 'createConversation')!;
    expect(created).toMatchObject({ conversationId: channel, status: 201 });
    const delivered = fake.delivered(channel);
    expect(delivered).toHaveLength(1);
    const { activityId } = delivered[0]!;
    expect(delivered[0]!.conversationId).toBe(`${channel};messageid=${activityId}`);
    expect(delivered[0]!.activity).toMatchObject({ text: 'announcement' });
    expect(ref.conversation.id).toBe(`${channel};messageid=${activityId}`);
    // botbuilder quirk (CloudAdapter path): the "activity id" it returns is the new conversation id
    expect(returnedId).toBe(ref.conversation.id);
  });
});

describe('team roster', () => {
  const team = '19:team@thread.tacv2';
  const members = [
    { id: '29:a', aadObjectId: 'aad-a', name: 'A' },
    { id: '29:b', aadObjectId: 'aad-b', name: 'B' },
    { id: '29:c', aadObjectId: 'aad-c', name: 'C' },
  ];

  it('getPagedTeamMembers pages through two pages honouring pageSize', async () => {
    fake.setTeamMembers(team, members);
    const pages: { ids: string[]; aad: (string | undefined)[]; token?: string }[] = [];
    await adapter.continueConversationAsync('', reference(team), async (ctx) => {
      let token: string | undefined;
      do {
        const page = await TeamsInfo.getPagedTeamMembers(ctx, team, 2, token);
        pages.push({ ids: page.members.map((m) => m.id), aad: page.members.map((m) => m.aadObjectId), token: page.continuationToken });
        token = page.continuationToken;
      } while (token);
    });
    expect(pages).toEqual([
      { ids: ['29:a', '29:b'], aad: ['aad-a', 'aad-b'], token: expect.any(String) },
      { ids: ['29:c'], aad: ['aad-c'], token: undefined },
    ]);
    expect(fake.calls.map((c) => [c.op, c.conversationId])).toEqual([
      ['getPagedMembers', team],
      ['getPagedMembers', team],
    ]);
    expect(fake.calls[0]!.path).toContain('pageSize=2');
  });

  it('getTeamMember finds a member, 404 MemberNotFoundInConversation otherwise', async () => {
    fake.setTeamMembers(team, members);
    await adapter.continueConversationAsync('', reference(team), async (ctx) => {
      expect(await TeamsInfo.getTeamMember(ctx, team, '29:b')).toMatchObject({ id: '29:b', aadObjectId: 'aad-b', name: 'B' });
      const err = await failure(TeamsInfo.getTeamMember(ctx, team, '29:zz'));
      expect(err.statusCode).toBe(404);
      expect(err.code).toBe('MemberNotFoundInConversation');
    });
    expect(fake.calls.map((c) => [c.op, c.userId, c.status])).toEqual([
      ['getMember', '29:b', 200],
      ['getMember', '29:zz', 404],
    ]);
  });
});

describe('bookkeeping', () => {
  it('reset() forgets calls, scripts and deliveries', async () => {
    fake.script({ op: 'send' }, [{ status: 403, code: 'ConversationBlockedByUser' }, { status: 403 }]);
    await failure(send('a:x'));
    fake.reset();
    expect(fake.calls).toHaveLength(0);
    await send('a:x');
    expect(fake.calls.map((c) => c.status)).toEqual([201]);
    expect(fake.delivered()).toHaveLength(1);
  });
});
