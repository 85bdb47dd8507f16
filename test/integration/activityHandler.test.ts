/**
 * The bot's core (TeamsActivityHandler) over the real Table stores on Azurite, fed activities shaped
 * like the ones Teams sends (Microsoft Learn: "Conversation events in your Teams bot",
 * "installationUpdate", "Handle bot events in Microsoft Teams"): what it stores and what it answers.
 */
import { resolveTarget } from '../../shared/delivery/resolveTarget';
import { randomUUID } from 'node:crypto';
import { TeamsActivityHandler } from '../../shared/bot/activityHandler';
import { DEFAULT_APP_NAME } from '../../shared/config';
import type { ChannelAccount, IncomingActivity } from '../../shared/bot/incomingActivity';
import { conversationSubject, userSubject } from '../../shared/domain/optOut';
import type { LogFields, Logger } from '../../shared/logger';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { TableOptOutStore } from '../../shared/stores/optOutStore';
import { Tables, tableKey } from '../../shared/stores/tables';
import { TableWelcomeStore } from '../../shared/stores/welcomeStore';
import { TableReadReceiptStore } from '../../shared/stores/readReceiptStore';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import type { ConversationAddress, OutgoingMessage, TeamsSender } from '../../shared/teams/teamsSender';
import { Welcomes } from '../../shared/bot/welcomes';
import { DEFAULT_DELIVERY_OPTIONS } from '../../shared/delivery/deliveryWorker';
import { SendBudget } from '../../shared/delivery/sendBudget';
import type { SendOutcome } from '../../shared/domain/outcome';
import { TenantPacer } from '../../shared/pacing/tenantPacer';
import { DEFAULT_PACING_POLICY } from '../../shared/pacing/tenantTimeline';
import type { JobQueue } from '../../shared/queue/jobQueue';
import { TableTimelineStore } from '../../shared/stores/timelineStore';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { LOCAL_SERVICE_URL_TRUST } from '../../shared/teams/trustedServiceUrl';

const APP = DEFAULT_APP_NAME;
const SERVICE_URL = 'https://smba.trafficmanager.net/emea/';
const NEW_SERVICE_URL = 'https://smba.trafficmanager.net/amer/';
const BOT: ChannelAccount = { id: '28:5e2f8a1c-7d41-4b8e-9a3f-0c6d2e1b4a77', name: APP };

/** Each line as its message and its fields (JSON), so a test can look for a tenant in either. */
class RecordingLogger implements Logger {
  readonly lines: { level: 'log' | 'warn' | 'error'; text: string }[] = [];
  log(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'log', text: `${message} ${JSON.stringify(fields ?? {})}` });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'warn', text: `${message} ${JSON.stringify(fields ?? {})}` });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: 'error', text: `${message} ${JSON.stringify(fields ?? {})}` });
  }
  warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.text);
  }
}

let tables: Tables;
let conversations: TableConversationStore;
let optOuts: TableOptOutStore;
let welcomes: TableWelcomeStore;

beforeAll(async () => {
  tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
  await tables.ensureCreated();
  conversations = new TableConversationStore(tables);
  optOuts = new TableOptOutStore(tables);
  welcomes = new TableWelcomeStore(tables);
});

/**
 * Welcomes go out through the Teams sender on the tenant's budget, not as replies in the turn;
 * this one records them, and each `handle` below returns them with the turn's replies.
 */
class RecordingSender implements TeamsSender {
  readonly unclaimed: { to: ConversationAddress; message: OutgoingMessage }[] = [];
  async send(to: ConversationAddress, message: OutgoingMessage): Promise<SendOutcome> {
    this.unclaimed.push({ to, message });
    return { kind: 'delivered', activityId: `act-${this.unclaimed.length}`, conversationId: to.conversationId };
  }
  createPersonalConversation(): never {
    throw new Error('not used by the bot');
  }
  createChannelThread(): never {
    throw new Error('not used by the bot');
  }
  listTeamMembers(): never {
    throw new Error('not used by the bot');
  }
  updateMessage(): never {
    throw new Error('not used by the bot');
  }
  deleteMessage(): never {
    throw new Error('not used by the bot');
  }
  /** The welcomes sent to this conversation, each handed out once (to whichever turn ends first). */
  take(conversationId: string): OutgoingMessage[] {
    const mine = this.unclaimed.filter((s) => s.to.conversationId === conversationId);
    for (const sent of mine) this.unclaimed.splice(this.unclaimed.indexOf(sent), 1);
    return mine.map((s) => s.message);
  }
}

/** Every test uses a tenant of its own, so each welcome's send time is now: it goes out inline. */
const noQueue: JobQueue = {
  enqueue: () => Promise.reject(new Error('a welcome on a quiet tenant is not queued')),
  deadLetter: () => Promise.resolve(),
  ensureCreated: () => Promise.resolve(),
  ping: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

interface Bot {
  /** The turn's replies, and the welcome it sent if any. */
  handle(activity: IncomingActivity): Promise<readonly OutgoingMessage[]>;
}

function build(allowedTenants: readonly string[] = []): { bot: Bot; log: RecordingLogger } {
  const log = new RecordingLogger();
  const sender = new RecordingSender();
  const settings = { appName: APP };
  const welcomer = new Welcomes({
    welcomes,
    sender,
    pacer: new TenantPacer(new TableTimelineStore(tables), { ...DEFAULT_PACING_POLICY, maxRate: 50 }),
    budget: new SendBudget(50),
    queue: noQueue,
    settings,
    options: DEFAULT_DELIVERY_OPTIONS,
  });
  const handler = new TeamsActivityHandler({
    conversations,
    optOuts,
    welcomes,
    welcomer,
    settings,
    allowedTenants,
    log,
    receipts: new TableReadReceiptStore(tables),
    deliveries: new TableDeliveryStore(tables),
    // Activities here name loopback and Teams' hosts.
    serviceUrls: LOCAL_SERVICE_URL_TRUST,
  });
  const bot: Bot = {
    async handle(activity) {
      const replies = await handler.handle(activity);
      return [...replies, ...sender.take(activity.conversation.id)];
    },
  };
  return { bot, log };
}

/** Fresh ids per test: every test shares the tables, none shares a user, chat or team. */
interface World {
  readonly tenantId: string;
  readonly user: ChannelAccount & { readonly aadObjectId: string; readonly name: string };
  readonly personalId: string;
  readonly teamId: string;
  readonly teamName: string;
  readonly groupChatId: string;
}

function world(tenantId: string = randomUUID()): World {
  const n = uniqueName('');
  return {
    tenantId,
    user: { id: `29:1Xq${n}-userGuidLikeTeamsSends`, aadObjectId: randomUUID(), name: 'Adele Vance' },
    personalId: `a:1${n}Kx9vPqS2_personal-chat-id`,
    teamId: `19:${n}f3b1c2d4e5@thread.tacv2`,
    teamName: 'Contoso Ops',
    groupChatId: `19:${n}_group-chat@thread.v2`,
  };
}

type Overrides = { serviceUrl?: string; tenantId?: string };

function tenantData(w: World, o: Overrides): { tenant: { id: string } } {
  return { tenant: { id: o.tenantId ?? w.tenantId } };
}

/** Personal scope install / uninstall (installationUpdate; Teams sends no display name here). */
function personalInstallation(w: World, action: 'add' | 'remove', o: Overrides = {}): IncomingActivity {
  return {
    type: 'installationUpdate',
    id: `f:${randomUUID()}`,
    action,
    channelId: 'msteams',
    serviceUrl: o.serviceUrl ?? SERVICE_URL,
    from: { id: w.user.id, aadObjectId: w.user.aadObjectId },
    recipient: BOT,
    conversation: { id: w.personalId, conversationType: 'personal', tenantId: o.tenantId ?? w.tenantId },
    channelData: { ...tenantData(w, o), source: { name: 'message' } },
  };
}

/** The conversationUpdate Teams sends in the personal chat along with the install. */
function personalBotAdded(w: World): IncomingActivity {
  return {
    type: 'conversationUpdate',
    id: `f:${randomUUID()}`,
    channelId: 'msteams',
    serviceUrl: SERVICE_URL,
    from: { id: w.user.id, aadObjectId: w.user.aadObjectId },
    recipient: BOT,
    conversation: { id: w.personalId, conversationType: 'personal', tenantId: w.tenantId },
    channelData: tenantData(w, {}),
    membersAdded: [{ id: BOT.id }],
  };
}

function personalMessage(w: World, text: string | undefined, o: Overrides & { value?: unknown } = {}): IncomingActivity {
  return {
    type: 'message',
    id: String(Date.now()),
    channelId: 'msteams',
    serviceUrl: o.serviceUrl ?? SERVICE_URL,
    ...(text !== undefined && { text }),
    ...(o.value !== undefined && { value: o.value }),
    from: { id: w.user.id, name: w.user.name, aadObjectId: w.user.aadObjectId },
    recipient: BOT,
    conversation: { id: w.personalId, conversationType: 'personal', tenantId: o.tenantId ?? w.tenantId },
    channelData: tenantData(w, o),
  };
}

const INSTALLER = { id: '29:1InstallerMeganBowen', aadObjectId: 'b0b0b0b0-1111-2222-3333-444455556666', name: 'Megan Bowen' };

/** conversationUpdate in the team's General channel (its id is the team id). */
function teamUpdate(
  w: World,
  extra: { eventType: string; teamName?: string; membersAdded?: readonly ChannelAccount[]; membersRemoved?: readonly ChannelAccount[] },
  o: Overrides & { from?: ChannelAccount } = {},
): IncomingActivity {
  return {
    type: 'conversationUpdate',
    id: `f:${randomUUID()}`,
    channelId: 'msteams',
    serviceUrl: o.serviceUrl ?? SERVICE_URL,
    from: o.from ?? INSTALLER,
    recipient: BOT,
    conversation: { id: w.teamId, conversationType: 'channel', isGroup: true, tenantId: o.tenantId ?? w.tenantId },
    channelData: {
      team: { id: w.teamId, name: extra.teamName ?? w.teamName, aadGroupId: randomUUID() },
      eventType: extra.eventType,
      ...tenantData(w, o),
    },
    ...(extra.membersAdded !== undefined && { membersAdded: extra.membersAdded }),
    ...(extra.membersRemoved !== undefined && { membersRemoved: extra.membersRemoved }),
  };
}

const teamInstall = (w: World, o: Overrides & { from?: ChannelAccount } = {}) =>
  teamUpdate(w, { eventType: 'teamMemberAdded', membersAdded: [{ id: BOT.id }] }, o);

type MessageOptions = Overrides & { from?: ChannelAccount; value?: unknown; threadId?: string };

/**
 * A message in a channel thread, mentioning the bot (Teams delivers no other), or a card's submit
 * (`value`, no text) in the thread the card started. The General channel's id is the team id.
 */
function channelMessage(w: World, text: string | undefined, o: MessageOptions = {}): IncomingActivity {
  const thread = o.threadId ?? '1714000000000';
  return {
    type: 'message',
    id: `${thread}1`,
    channelId: 'msteams',
    serviceUrl: o.serviceUrl ?? SERVICE_URL,
    ...(text !== undefined && { text }),
    ...(o.value !== undefined && { value: o.value }),
    from: o.from ?? { id: w.user.id, name: w.user.name, aadObjectId: w.user.aadObjectId },
    recipient: BOT,
    conversation: { id: `${w.teamId};messageid=${thread}`, conversationType: 'channel', isGroup: true, tenantId: w.tenantId },
    channelData: { team: { id: w.teamId }, channel: { id: w.teamId }, ...tenantData(w, o) },
  };
}

function groupChatMessage(w: World, text: string | undefined, o: MessageOptions = {}): IncomingActivity {
  return {
    type: 'message',
    id: String(Date.now()),
    channelId: 'msteams',
    serviceUrl: SERVICE_URL,
    ...(text !== undefined && { text }),
    ...(o.value !== undefined && { value: o.value }),
    from: o.from ?? { id: w.user.id, name: w.user.name, aadObjectId: w.user.aadObjectId },
    recipient: BOT,
    conversation: { id: w.groupChatId, conversationType: 'groupChat', isGroup: true, tenantId: w.tenantId },
    channelData: tenantData(w, {}),
  };
}

function groupChatInstall(w: World): IncomingActivity {
  return {
    type: 'conversationUpdate',
    id: `f:${randomUUID()}`,
    channelId: 'msteams',
    serviceUrl: SERVICE_URL,
    from: INSTALLER,
    recipient: BOT,
    conversation: { id: w.groupChatId, conversationType: 'groupChat', isGroup: true, tenantId: w.tenantId },
    channelData: tenantData(w, {}),
    membersAdded: [{ id: BOT.id }],
  };
}

/** Everything a user can read in a reply: its text, or the text blocks of its card. */
function readable(reply: OutgoingMessage): string {
  const body = reply.card?.body;
  const blocks = Array.isArray(body)
    ? body.flatMap((b: unknown) => {
        const text = typeof b === 'object' && b !== null ? (b as { text?: unknown }).text : undefined;
        return typeof text === 'string' ? [text] : [];
      })
    : [];
  return [reply.text ?? '', ...blocks].join('\n');
}

/** The single reply; fails the test when there is not exactly one. */
function only(replies: readonly OutgoingMessage[]): OutgoingMessage {
  expect(replies).toHaveLength(1);
  return replies[0] as OutgoingMessage;
}

function isoNow(value: string | undefined): void {
  expect(value).toBeDefined();
  expect(Math.abs(Date.parse(value as string) - Date.now())).toBeLessThan(60_000);
}

function expectPersonalWelcome(replies: readonly OutgoingMessage[]): void {
  const welcome = only(replies);
  expect(welcome.card).toMatchObject({ type: 'AdaptiveCard' });
  const text = readable(welcome);
  expect(text).toContain(`Welcome to ${APP}`);
  expect(text).toMatch(/seeing this because .*installed for you/i); // why
  expect(text).toMatch(/sends you notifications/i); // what
  expect(text).toMatch(/\*\*help\*\*/); // one thing to try
}

describe('personal install', () => {
  it('stores the user (by userId and aadObjectId) and the chat, and welcomes exactly once', async () => {
    const { bot } = build();
    const w = world();

    expectPersonalWelcome(await bot.handle(personalInstallation(w, 'add')));

    const expectedUser = {
      serviceUrl: SERVICE_URL,
      tenantId: w.tenantId,
      botId: BOT.id,
      userId: w.user.id,
      aadObjectId: w.user.aadObjectId,
      personalConversationId: w.personalId,
      installed: true,
      hasPersonalApp: true,
      updatedAt: expect.any(String) as unknown,
    };
    const byId = await conversations.findUser({ type: 'user', userId: w.user.id });
    expect(byId).toEqual(expectedUser);
    isoNow(byId?.updatedAt);
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toEqual(expectedUser);
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId.toUpperCase() })).toEqual(expectedUser);

    expect(await conversations.findConversation(w.personalId)).toEqual({
      serviceUrl: SERVICE_URL,
      tenantId: w.tenantId,
      botId: BOT.id,
      conversationId: w.personalId,
      kind: 'personal',
      userId: w.user.id,
      active: true,
      updatedAt: expect.any(String) as unknown,
    });

    // Teams redelivers, and follows up with conversationUpdate(membersAdded: bot): no second welcome.
    expect(await bot.handle(personalInstallation(w, 'add'))).toEqual([]);
    expect(await bot.handle(personalBotAdded(w))).toEqual([]);
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toEqual(expectedUser);
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ kind: 'personal', active: true });
  });

  it('welcomes once when conversationUpdate arrives before installationUpdate', async () => {
    const { bot } = build();
    const w = world();
    expectPersonalWelcome(await bot.handle(personalBotAdded(w)));
    expect(await bot.handle(personalInstallation(w, 'add'))).toEqual([]);
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ personalConversationId: w.personalId, installed: true });
  });

  it('welcomes once when the install activities arrive at the same time', async () => {
    const { bot } = build();
    const w = world();
    const all = await Promise.all([bot.handle(personalInstallation(w, 'add')), bot.handle(personalBotAdded(w)), bot.handle(personalInstallation(w, 'add'))]);
    expectPersonalWelcome(all.flat());
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toMatchObject({ installed: true, personalConversationId: w.personalId });
  });

  it('takes the tenant from channelData.tenant.id, and from conversation.tenantId when channelData has none', async () => {
    const { bot } = build();
    const w = world();
    const a = personalInstallation(w, 'add');
    await bot.handle({ ...a, conversation: { id: w.personalId, conversationType: 'personal' } });
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ tenantId: w.tenantId });

    const v = world();
    const b = personalInstallation(v, 'add');
    await bot.handle({ ...b, channelData: { source: { name: 'message' } } });
    expect(await conversations.findConversation(v.personalId)).toMatchObject({ tenantId: v.tenantId, kind: 'personal' });
  });
});

describe('team install', () => {
  it('stores the team with its General channel and installer, and posts one welcome naming both', async () => {
    const { bot } = build();
    const w = world();

    const install = teamInstall(w);
    const replies = await bot.handle(install);
    expect(replies).toHaveLength(1);
    expect(only(replies).card).toBeUndefined();
    expect(only(replies).text).toContain(`${INSTALLER.name} added **${APP}** to **${w.teamName}**.`);
    // Both ways to stop: one member for themselves, or anyone for the whole channel.
    expect(only(replies).text).toContain(`send **stop** to ${APP} in a personal chat`);
    expect(only(replies).text).toContain(`To mute this channel for everyone, @mention ${APP} here with **stop**`);

    const team = await conversations.findTeam(w.teamId);
    expect(team).toEqual({
      serviceUrl: SERVICE_URL,
      tenantId: w.tenantId,
      botId: BOT.id,
      teamId: w.teamId,
      name: w.teamName,
      aadGroupId: install.channelData?.team?.aadGroupId,
      generalChannelId: w.teamId,
      installed: true,
      // When the install was seen: a 403 from a send that started before it does not undo it.
      installedAsOf: expect.any(String) as unknown,
      installedBy: INSTALLER.name,
      updatedAt: expect.any(String) as unknown,
    });
    isoNow(team?.updatedAt);
    isoNow(team?.installedAsOf);
    // A `team` recipient named by the team's Entra group id finds the same team.
    expect(await conversations.findTeamByGroup((install.channelData?.team?.aadGroupId as string).toUpperCase())).toEqual(team);
    expect(await conversations.findConversation(w.teamId)).toMatchObject({ kind: 'channel', teamId: w.teamId, active: true, tenantId: w.tenantId });

    // Redelivery, and the installationUpdate Teams also sends for a team install: no second welcome.
    expect(await bot.handle(teamInstall(w))).toEqual([]);
    const alsoInstallation: IncomingActivity = { ...teamInstall(w), type: 'installationUpdate', action: 'add', membersAdded: undefined };
    expect(await bot.handle(alsoInstallation)).toEqual([]);
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: true, name: w.teamName });
  });

  it('names the installer from an earlier activity when the install carries no name', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(personalInstallation(w, 'add'));
    await bot.handle(personalMessage(w, 'help')); // messages carry the display name
    const replies = await bot.handle(teamInstall(w, { from: { id: w.user.id, aadObjectId: w.user.aadObjectId } }));
    expect(replies).toHaveLength(1);
    expect(only(replies).text).toContain(`${w.user.name} added **${APP}** to **${w.teamName}**.`);
  });
});

describe('users added to a team', () => {
  it('remembers them by aadObjectId, without a personal chat, installed', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    const members = [
      { id: '29:1MemberOne', aadObjectId: randomUUID() },
      { id: '29:1MemberTwo', aadObjectId: randomUUID() },
    ];
    const replies = await bot.handle(teamUpdate(w, { eventType: 'teamMemberAdded', membersAdded: members }));
    expect(replies).toEqual([]);
    for (const m of members) {
      const stored = await conversations.findUser({ type: 'user', aadObjectId: m.aadObjectId });
      expect(stored).toEqual({
        serviceUrl: SERVICE_URL,
        tenantId: w.tenantId,
        botId: BOT.id,
        userId: m.id,
        aadObjectId: m.aadObjectId,
        installed: true,
        updatedAt: expect.any(String) as unknown,
      });
      expect(stored?.personalConversationId).toBeUndefined();
    }
  });

  it('never revives a user who removed the app; a personal message does', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(personalInstallation(w, 'add'));
    await bot.handle(personalInstallation(w, 'remove'));
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toMatchObject({ installed: false });

    await bot.handle(teamInstall(w));
    await bot.handle(teamUpdate(w, { eventType: 'teamMemberAdded', membersAdded: [{ id: w.user.id, aadObjectId: w.user.aadObjectId }] }));
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toMatchObject({ installed: false });
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ installed: false });
    // Nor by talking in a channel.
    await bot.handle(channelMessage(w, `<at>${APP}</at> hello`));
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ installed: false });

    await bot.handle(personalMessage(w, 'hi'));
    const revived = await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId });
    expect(revived).toMatchObject({ installed: true, personalConversationId: w.personalId, name: w.user.name });
  });
});

describe('team rename and serviceUrl refresh', () => {
  it('teamRenamed updates the stored name and keeps the rest', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    expect(await bot.handle(teamUpdate(w, { eventType: 'teamRenamed', teamName: 'Contoso Operations' }))).toEqual([]);
    expect(await conversations.findTeam(w.teamId)).toMatchObject({
      name: 'Contoso Operations',
      installed: true,
      installedBy: INSTALLER.name,
      generalChannelId: w.teamId,
    });
  });

  it('channelCreated / channelRenamed / channelDeleted keep the channel reference true', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    const channelId = `19:${randomUUID()}@thread.tacv2`;
    const channelEvent = (eventType: string, name: string): IncomingActivity => {
      const base = teamUpdate(w, { eventType });
      return { ...base, channelData: { ...base.channelData, channel: { id: channelId, name } } };
    };
    expect(await bot.handle(channelEvent('channelCreated', 'alerts'))).toEqual([]);
    expect(await conversations.findConversation(channelId)).toMatchObject({ kind: 'channel', teamId: w.teamId, name: 'alerts', active: true });
    await bot.handle(channelEvent('channelRenamed', 'alerts-prod'));
    expect(await conversations.findConversation(channelId)).toMatchObject({ name: 'alerts-prod', active: true });
    await bot.handle(channelEvent('channelDeleted', 'alerts-prod'));
    expect(await conversations.findConversation(channelId)).toMatchObject({ active: false });
    // The team itself is untouched by a channel going away.
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: true });
    const target = await resolveTarget({ type: 'channel', teamId: w.teamId, channelId }, conversations);
    expect(target).toMatchObject({ kind: 'unreachable', reason: 'conversation-not-found' });
    await bot.handle(channelEvent('channelRestored', 'alerts-prod'));
    expect(await resolveTarget({ type: 'channel', teamId: w.teamId, channelId }, conversations)).toMatchObject({ kind: 'new-thread', channelId });
  });

  it('a new serviceUrl on any activity refreshes the stored user, team and conversation', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(personalInstallation(w, 'add'));
    await bot.handle(teamInstall(w));

    await bot.handle(personalMessage(w, 'hello', { serviceUrl: NEW_SERVICE_URL }));
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ serviceUrl: NEW_SERVICE_URL });
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toMatchObject({ serviceUrl: NEW_SERVICE_URL });
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ serviceUrl: NEW_SERVICE_URL, active: true });
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ serviceUrl: SERVICE_URL });

    await bot.handle(teamUpdate(w, { eventType: 'teamRenamed' }, { serviceUrl: NEW_SERVICE_URL }));
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ serviceUrl: NEW_SERVICE_URL, installed: true });
    expect(await conversations.findConversation(w.teamId)).toMatchObject({ serviceUrl: NEW_SERVICE_URL, active: true });

    // An activity type the bot does not act on still refreshes what it carries.
    const third = 'https://smba.trafficmanager.net/apac/';
    await bot.handle({ ...personalMessage(w, undefined, { serviceUrl: third }), type: 'messageReaction' });
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ serviceUrl: third, installed: true });
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ serviceUrl: third });
  });
});

describe('removal', () => {
  it('personal uninstall retires the user and chat and frees the welcome', async () => {
    const { bot } = build();
    const w = world();
    expectPersonalWelcome(await bot.handle(personalInstallation(w, 'add')));
    expect(await bot.handle(personalInstallation(w, 'remove'))).toEqual([]);

    for (const found of [
      await conversations.findUser({ type: 'user', userId: w.user.id }),
      await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId }),
    ]) {
      expect(found).toMatchObject({ userId: w.user.id, installed: false });
    }
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ kind: 'personal', active: false });

    expectPersonalWelcome(await bot.handle(personalInstallation(w, 'add')));
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ installed: true, personalConversationId: w.personalId });
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ active: true });
  });

  it('a personal message that revives the user also reactivates the personal chat', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(personalInstallation(w, 'add'));
    await bot.handle(personalInstallation(w, 'remove'));
    await bot.handle(personalMessage(w, 'hi'));
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toMatchObject({ installed: true });
    expect(await conversations.findConversation(w.personalId)).toMatchObject({ active: true });
  });

  it('bot removed from a team (membersRemoved) marks the team uninstalled and allows a new welcome', async () => {
    const { bot } = build();
    const w = world();
    expect(await bot.handle(teamInstall(w))).toHaveLength(1);
    expect(await bot.handle(teamUpdate(w, { eventType: 'teamMemberRemoved', membersRemoved: [{ id: BOT.id }] }))).toEqual([]);
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: false, name: w.teamName });
    expect(await conversations.findConversation(w.teamId)).toMatchObject({ active: false });

    const again = await bot.handle(teamInstall(w));
    expect(again).toHaveLength(1);
    expect(only(again).text).toContain(w.teamName);
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: true });
  });

  it('a team member (not the bot) leaving changes nothing about the team', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    await bot.handle(teamUpdate(w, { eventType: 'teamMemberRemoved', membersRemoved: [{ id: '29:1SomeoneElse' }] }));
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: true });
  });

  it('teamDeleted marks the team uninstalled', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    expect(await bot.handle(teamUpdate(w, { eventType: 'teamDeleted' }))).toEqual([]);
    expect(await conversations.findTeam(w.teamId)).toMatchObject({ installed: false });
  });
});

describe('group chat install', () => {
  it('stores a groupChat conversation and welcomes once', async () => {
    const { bot } = build();
    const w = world();
    const replies = await bot.handle(groupChatInstall(w));
    expect(replies).toHaveLength(1);
    expect(only(replies).text).toContain(`${INSTALLER.name} added **${APP}** to this chat.`);
    expect(only(replies).text).toContain(`send **stop** to ${APP} in a personal chat`);
    expect(only(replies).text).toContain(`To mute this chat for everyone, @mention ${APP} here with **stop**`);
    expect(await conversations.findConversation(w.groupChatId)).toEqual({
      serviceUrl: SERVICE_URL,
      tenantId: w.tenantId,
      botId: BOT.id,
      conversationId: w.groupChatId,
      kind: 'groupChat',
      active: true,
      updatedAt: expect.any(String) as unknown,
    });
    expect(await bot.handle(groupChatInstall(w))).toEqual([]);
    expect(await conversations.findTeam(w.groupChatId)).toBeUndefined();
  });
});

describe('commands', () => {
  async function installed(): Promise<{ bot: Bot; w: World }> {
    const { bot } = build();
    const w = world();
    await bot.handle(personalInstallation(w, 'add'));
    return { bot, w };
  }

  it.each(['stop', 'STOP.', 'unsubscribe', `<at>${APP}</at> stop`])('%j opts out and says how to come back', async (text) => {
    const { bot, w } = await installed();
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
    const replies = await bot.handle(personalMessage(w, text));
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(true);
    expect(replies).toHaveLength(1);
    expect(readable(only(replies))).toMatch(/won't send you notifications/);
    expect(readable(only(replies))).toContain('**start**');
  });

  it('start opts back in', async () => {
    const { bot, w } = await installed();
    await bot.handle(personalMessage(w, 'stop'));
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(true);
    const replies = await bot.handle(personalMessage(w, 'start'));
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
    expect(replies).toHaveLength(1);
    expect(readable(only(replies))).toMatch(/will send you notifications again/);
  });

  it('help lists the commands', async () => {
    const { bot, w } = await installed();
    const replies = await bot.handle(personalMessage(w, 'help'));
    expect(replies).toHaveLength(1);
    const text = readable(only(replies));
    for (const command of ['**stop**', '**unsubscribe**', '**start**', '**help**']) expect(text).toContain(command);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
  });

  it('unknown text: "don\'t understand" in the personal chat, silence in a channel', async () => {
    const { bot, w } = await installed();
    const replies = await bot.handle(personalMessage(w, 'what is the weather'));
    expect(replies).toHaveLength(1);
    expect(readable(only(replies))).toMatch(/don't understand/);
    expect(readable(only(replies))).toContain('**help**');

    await bot.handle(teamInstall(w));
    expect(await bot.handle(channelMessage(w, `<at>${APP}</at> what is the weather`))).toEqual([]);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
  });

  it('the card opt-out button (value, no text) opts out', async () => {
    const { bot, w } = await installed();
    const replies = await bot.handle(personalMessage(w, undefined, { value: { teamsNotify: 'optOut' } }));
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(true);
    expect(replies).toHaveLength(1);
    expect(readable(only(replies))).toContain('**start**');
  });

  it('a message with neither text nor a known value gets no reply and changes no opt-out', async () => {
    const { bot, w } = await installed();
    expect(await bot.handle(personalMessage(w, undefined, { value: { other: 1 } }))).toEqual([]);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
  });
});

describe('stop and start in a channel or group chat mute and unmute it', () => {
  const MEGAN: ChannelAccount = { id: '29:1MeganBowenTeamsId', name: 'Megan Bowen', aadObjectId: randomUUID() };

  async function inTeam(): Promise<{ bot: Bot; w: World }> {
    const { bot } = build();
    const w = world();
    await bot.handle(teamInstall(w));
    return { bot, w };
  }

  it.each([`<at>${APP}</at> stop`, `<at>${APP}</at> unsubscribe`])('%j in a thread mutes the whole channel, not the member, and says who did it', async (text) => {
    const { bot, w } = await inTeam();
    const replies = await bot.handle(channelMessage(w, text));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.teamId))).toBe(true);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
    expect(only(replies).text).toBe(`${w.user.name} muted notifications from ${APP} in this channel. @mention ${APP} with **start** to turn them back on.`);
  });

  it('start in any thread of the channel turns it back on, and says who did', async () => {
    const { bot, w } = await inTeam();
    await bot.handle(channelMessage(w, `<at>${APP}</at> stop`));
    const replies = await bot.handle(channelMessage(w, `<at>${APP}</at> start`, { from: MEGAN, threadId: '1715000000000' }));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.teamId))).toBe(false);
    expect(only(replies).text).toBe(`Megan Bowen turned notifications from ${APP} back on in this channel. @mention ${APP} with **stop** to mute them again.`);
  });

  it('the card button in a channel mutes it for everyone, whoever presses it, and the reply names them', async () => {
    const { bot, w } = await inTeam();
    const replies = await bot.handle(channelMessage(w, undefined, { from: MEGAN, value: { teamsNotify: 'optOut' }, threadId: '1716000000000' }));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.teamId))).toBe(true);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, MEGAN.id))).toBe(false);
    expect(only(replies).text).toMatch(/^Megan Bowen muted notifications from /);
    const row = await tables.client('optOuts').getEntity<Record<string, unknown>>(tableKey(w.tenantId), `conversation:${tableKey(w.teamId)}`);
    expect(row).toMatchObject({ conversationId: w.teamId, byUserId: MEGAN.id, byName: 'Megan Bowen', byAadObjectId: MEGAN.aadObjectId });
  });

  it('a member whose name the activity leaves out is named from an earlier activity, or as Someone', async () => {
    const { bot, w } = await inTeam();
    await bot.handle(channelMessage(w, `<at>${APP}</at> help`)); // messages carry the display name
    const replies = await bot.handle(channelMessage(w, `<at>${APP}</at> stop`, { from: { id: w.user.id } }));
    expect(only(replies).text).toMatch(new RegExp(`^${w.user.name} muted`));
    const stranger = await bot.handle(channelMessage(w, `<at>${APP}</at> start`, { from: { id: '29:1NeverSeenBefore' } }));
    expect(only(stranger).text).toMatch(/^Someone turned notifications/);
  });

  it('in a group chat, stop mutes that chat and start unmutes it', async () => {
    const { bot } = build();
    const w = world();
    await bot.handle(groupChatInstall(w));
    const muted = await bot.handle(groupChatMessage(w, `<at>${APP}</at> stop`));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.groupChatId))).toBe(true);
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
    expect(only(muted).text).toBe(`${w.user.name} muted notifications from ${APP} in this chat. @mention ${APP} with **start** to turn them back on.`);
    await bot.handle(groupChatMessage(w, undefined, { value: { teamsNotify: 'optOut' } }));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.groupChatId))).toBe(true);
    const unmuted = await bot.handle(groupChatMessage(w, `<at>${APP}</at> start`));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.groupChatId))).toBe(false);
    expect(only(unmuted).text).toMatch(/back on in this chat/);
  });

  it('a personal stop does not mute a channel, nor a channel stop opt anyone out', async () => {
    const { bot, w } = await inTeam();
    await bot.handle(personalInstallation(w, 'add'));
    await bot.handle(personalMessage(w, 'stop'));
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.teamId))).toBe(false);
    await bot.handle(personalMessage(w, 'start'));
    await bot.handle(channelMessage(w, `<at>${APP}</at> stop`));
    expect(await optOuts.isOptedOut(userSubject(w.tenantId, w.user.id))).toBe(false);
  });

  it('help in a channel lists the channel commands and points to the personal opt-out', async () => {
    const { bot, w } = await inTeam();
    const text = only(await bot.handle(channelMessage(w, `<at>${APP}</at> help`))).text ?? '';
    expect(text).toContain(`**${APP}** posts notifications to this channel.`);
    expect(text).toContain(`@mention ${APP}`);
    expect(text).toMatch(/\*\*stop\*\*.*mute notifications to this channel, for everyone/);
    expect(text).toMatch(/\*\*start\*\*: turn them back on/);
    expect(text).toMatch(/send it \*\*stop\*\* in a personal chat/);
    const inChat = only(await bot.handle(groupChatMessage(w, `<at>${APP}</at> help`))).text ?? '';
    expect(inChat).toMatch(/mute notifications to this chat, for everyone/);
    expect(await optOuts.isOptedOut(conversationSubject(w.tenantId, w.teamId))).toBe(false);
  });
});

describe('tenant allow-list', () => {
  it('ignores an activity from a tenant not in the list: nothing stored, no reply, a warning', async () => {
    const { bot, log } = build(['tenant-ok']);
    const w = world('tenant-other');
    expect(await bot.handle(personalInstallation(w, 'add'))).toEqual([]);
    expect(await bot.handle(personalMessage(w, 'stop'))).toEqual([]);
    expect(await bot.handle(teamInstall(w))).toEqual([]);

    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toBeUndefined();
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toBeUndefined();
    expect(await conversations.findConversation(w.personalId)).toBeUndefined();
    expect(await conversations.findTeam(w.teamId)).toBeUndefined();
    expect(await optOuts.isOptedOut(userSubject('tenant-other', w.user.id))).toBe(false);
    expect(log.warnings()).toHaveLength(3);
    for (const line of log.warnings()) expect(line).toContain('tenant-other');

    // Nor was the welcome slot taken: once allowed, the same chat is welcomed.
    expectPersonalWelcome(await build().bot.handle(personalInstallation(w, 'add')));
  });

  it('accepts a listed tenant in any case', async () => {
    const { bot, log } = build(['tenant-ok']);
    const w = world('TENANT-OK');
    expectPersonalWelcome(await bot.handle(personalInstallation(w, 'add')));
    expect(await conversations.findUser({ type: 'user', aadObjectId: w.user.aadObjectId })).toMatchObject({ installed: true, personalConversationId: w.personalId });
    expect(log.warnings()).toEqual([]);
  });

  it('ignores an activity that carries no tenant id at all', async () => {
    const { bot, log } = build();
    const w = world();
    const a = personalInstallation(w, 'add');
    const noTenant: IncomingActivity = { ...a, conversation: { id: w.personalId, conversationType: 'personal' }, channelData: { source: { name: 'message' } } };
    expect(await bot.handle(noTenant)).toEqual([]);
    expect(await conversations.findUser({ type: 'user', userId: w.user.id })).toBeUndefined();
    expect(await conversations.findConversation(w.personalId)).toBeUndefined();
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toMatch(/without a tenant id/);
    // The slot was not taken either.
    expectPersonalWelcome(await bot.handle(a));
  });
});
