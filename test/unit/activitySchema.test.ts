import type { TurnContext } from 'botbuilder';
import { checkActivity } from '../../shared/bot/activitySchema';
import type { ActivityHandler, ReplyPacing } from '../../shared/bot/botEndpoint';
import type { IncomingActivity } from '../../shared/bot/incomingActivity';
import { jsonShapeProblem, MAX_JSON_DEPTH } from '../../shared/http/jsonShape';
import { silentLogger } from '../../shared/logger';
import { BotbuilderBotEndpoint } from '../../shared/teams/botbuilder/botbuilderBotEndpoint';
import type { TeamsCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';

/** A personal-chat message as Teams sends it, with fields the core never reads. */
function teamsMessage(): Record<string, unknown> {
  return {
    type: 'message',
    id: '1700000000000',
    timestamp: '2026-12-02T05:00:00.000Z',
    serviceUrl: 'https://smba.trafficmanager.net/emea/',
    channelId: 'msteams',
    from: { id: '29:1abc', name: 'Ada', aadObjectId: '00000000-0000-0000-0000-000000000001' },
    recipient: { id: '28:bot-app-id', name: 'teams-notify' },
    conversation: { id: 'a:1xyz', conversationType: 'personal', tenantId: 'tenant-1' },
    channelData: { tenant: { id: 'tenant-1' }, settings: { selectedChannel: { id: '19:x' } } },
    entities: [{ type: 'clientInfo', locale: 'en-US' }],
    text: 'help',
    locale: 'en-US',
  };
}

function pathsOf(body: unknown): string[] {
  const checked = checkActivity(body);
  return checked.ok ? [] : checked.errors.map((e) => e.path);
}

describe('the activity schema (what the bot reads, checked at the edge)', () => {
  it('takes a Teams activity and keeps the fields it does not name (botbuilder reads them)', () => {
    const checked = checkActivity(teamsMessage());
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.activity.entities).toEqual([{ type: 'clientInfo', locale: 'en-US' }]);
    expect((checked.activity.channelData as Record<string, unknown>).settings).toEqual({ selectedChannel: { id: '19:x' } });
  });

  it('{} is refused naming every field the bot needs', () => {
    expect(pathsOf({}).sort()).toEqual(['channelId', 'conversation', 'from', 'recipient', 'serviceUrl', 'type']);
  });

  it.each([
    ['a non-string recipient.id', 'recipient', { id: 42 }, 'recipient.id'],
    ['type given as an array', 'type', ['message'], 'type'],
    ['an empty type', 'type', '', 'type'],
    ['a javascript: serviceUrl', 'serviceUrl', 'javascript:alert(1)', 'serviceUrl'],
    ['an ftp serviceUrl', 'serviceUrl', 'ftp://example.com/', 'serviceUrl'],
    ['a serviceUrl that is no URL', 'serviceUrl', 'not a url', 'serviceUrl'],
    ['a numeric serviceUrl', 'serviceUrl', 7, 'serviceUrl'],
    ['a non-string from.id', 'from', { id: ['29:1'] }, 'from.id'],
    ['a null conversation', 'conversation', null, 'conversation'],
    ['text as an object', 'text', { a: 1 }, 'text'],
    ['a numeric tenant id', 'channelData', { tenant: { id: 5 } }, 'channelData.tenant.id'],
    ['membersAdded that is not a list', 'membersAdded', 'bot', 'membersAdded'],
    ['a member without an id', 'membersAdded', [{ name: 'x' }], 'membersAdded[0].id'],
    ['a timestamp that is no date', 'timestamp', 'yesterday', 'timestamp'],
    ['a numeric locale (copied into every reply)', 'locale', 12, 'locale'],
    ['isGroup as a string', 'conversation', { id: 'c', isGroup: 'yes' }, 'conversation.isGroup'],
  ])('%s is refused, naming the field', (_what, field, value, path) => {
    expect(pathsOf({ ...teamsMessage(), [field]: value })).toEqual([path]);
  });

  it('http and https serviceUrls pass (which hosts to trust is checked on top of this)', () => {
    expect(checkActivity({ ...teamsMessage(), serviceUrl: 'http://127.0.0.1:3978/' }).ok).toBe(true);
    expect(checkActivity({ ...teamsMessage(), serviceUrl: 'https://smba.trafficmanager.net/amer/' }).ok).toBe(true);
  });

  it('a body that is not an object is refused at the root', () => {
    for (const body of [null, [], 'message', 1]) expect(pathsOf(body)).toEqual(['']);
  });
});

describe('JSON bodies every handler refuses before reading them', () => {
  it('prototype keys anywhere are refused with their path', () => {
    expect(jsonShapeProblem(JSON.parse('{"a":{"__proto__":{"polluted":true}}}'))).toEqual({ path: 'a.__proto__', message: expect.any(String) });
    expect(jsonShapeProblem(JSON.parse('{"list":[{"constructor":{"prototype":{}}}]}'))?.path).toBe('list[0].constructor');
    expect(jsonShapeProblem(teamsMessage())).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('nesting past the limit is refused, and checking a very deep body does not overflow the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(jsonShapeProblem(deep)?.message).toMatch(/deeper than 64/);
    const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });
    expect(jsonShapeProblem(nested(MAX_JSON_DEPTH - 1))).toBeUndefined();
    expect(jsonShapeProblem(nested(MAX_JSON_DEPTH + 1))).toBeDefined();
  });
});

describe('the bot endpoint refuses a malformed activity before botbuilder sees it', () => {
  const turns: unknown[] = [];
  // Records what would reach botbuilder; an activity that gets here was authenticated and is run.
  const adapter = {
    runTurn: async (_auth: string, activity: unknown, logic: (context: TurnContext) => Promise<void>) => {
      turns.push(activity);
      await logic({ activity } as unknown as TurnContext);
      return undefined;
    },
  } as unknown as TeamsCloudAdapter;
  const handled: IncomingActivity[] = [];
  const handler: ActivityHandler = {
    handle: async (activity) => {
      handled.push(activity);
      return [];
    },
  };
  const pacing: ReplyPacing = { beforeReply: async () => undefined, throttled: async () => undefined };
  const endpoint = new BotbuilderBotEndpoint(adapter, handler, silentLogger, pacing);

  beforeEach(() => {
    turns.length = 0;
    handled.length = 0;
  });

  it.each([
    ['{}', {}],
    ['a non-string recipient.id', { ...teamsMessage(), recipient: { id: 42 } }],
    ['type as an array', { ...teamsMessage(), type: ['message'] }],
    ['a javascript: serviceUrl', { ...teamsMessage(), serviceUrl: 'javascript:alert(1)' }],
  ])('%s: 400 with the field errors, and no turn is run', async (_what, body) => {
    const response = await endpoint.process({ method: 'POST', headers: { authorization: 'Bearer a-valid-token' }, body });
    expect(response.status).toBe(400);
    expect((response.body as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
    expect(turns).toEqual([]);
    expect(handled).toEqual([]);
  });

  it('a valid activity runs its turn, with its timestamp as a Date as botbuilder expects', async () => {
    const response = await endpoint.process({ method: 'POST', headers: {}, body: teamsMessage() });
    expect(response.status).toBe(200);
    expect(turns).toHaveLength(1);
    expect((turns[0] as { timestamp: unknown }).timestamp).toBeInstanceOf(Date);
    expect(handled[0]?.recipient.id).toBe('28:bot-app-id');
  });
});
