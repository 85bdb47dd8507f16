import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PLAYGROUND_CONFIG, startPlayground, type RunningPlayground } from '../../local/playground';
import { conversationSubject, userSubject } from '../../shared/domain/optOut';
import { freePort } from '../support/freePort';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';
import { createPlaygroundDriver, type ConnectorActivity, type PlaygroundDriver } from '../support/playgroundDriver';

const teams = DEFAULT_PLAYGROUND_CONFIG;
const ALEX = teams.currentUser;
const PERSONAL_CHAT = teams.personalChat.id;
const TEAM = teams.team.id;
const MEGAN = teams.users[0];
const APP = teams.bot.name;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface StatusBody {
  status: string;
  counts: Record<string, number>;
  recipients: { status: string; reason?: string; detail?: string; attempts: number; activityId?: string; conversationId?: string }[];
}

/**
 * The pipeline end to end through the real Microsoft 365 Agents Playground (Microsoft's Teams
 * emulator): installs reach our bot endpoint, notifications go out through its mock Bot Connector.
 */
describe('end to end through the Agents Playground', () => {
  let pipeline: TestPipeline;
  let playground: RunningPlayground;
  let driver: PlaygroundDriver;
  let workDir: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    pipeline.startWorker();
    workDir = mkdtempSync(join(tmpdir(), 'teams-notify-e2e-'));
    playground = await startPlayground({ port: await freePort(), botEndpoint: `${pipeline.host.url}/api/messages`, cwd: workDir });
    driver = createPlaygroundDriver(playground);
  }, 60_000);
  afterAll(async () => {
    await playground?.stop();
    await pipeline?.stop();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  async function notify(body: Record<string, unknown>): Promise<string> {
    const res = await pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  async function completed(id: string): Promise<StatusBody> {
    return eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as StatusBody;
      return body.status === 'completed' ? body : undefined;
    }, 30_000, `notification ${id}`);
  }

  const inChat = async (conversationId: string): Promise<ConnectorActivity[]> =>
    (await driver.connectorActivities()).filter((a) => a.conversationId === conversationId || a.conversationId?.startsWith(`${conversationId};`));
  const texts = (activities: ConnectorActivity[]) => activities.map((a) => a.text ?? '').join('\n');
  const cardTexts = (activity: ConnectorActivity | undefined) => JSON.stringify(activity?.attachments ?? []);

  it('install welcomes the user once, even when the install activities come again', async () => {
    await driver.install(PERSONAL_CHAT);
    const welcome = await eventually(async () => {
      const sent = await inChat(PERSONAL_CHAT);
      return sent.find((a) => cardTexts(a).includes('Welcome to'));
    }, 15_000, 'the welcome card');
    expect(cardTexts(welcome)).toMatch(/installed for you/);
    expect(cardTexts(welcome)).toMatch(/help/);

    await driver.install(PERSONAL_CHAT);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const welcomes = (await inChat(PERSONAL_CHAT)).filter((a) => cardTexts(a).includes('Welcome to'));
    expect(welcomes).toHaveLength(1);

    // The install stored the reference: the user is known by aadObjectId with the personal chat.
    const user = await pipeline.services.conversations.findUser({ type: 'user', aadObjectId: ALEX.aadObjectId });
    expect(user).toMatchObject({ userId: ALEX.id, personalConversationId: PERSONAL_CHAT, tenantId: teams.tenantId, installed: true });
    expect(user?.serviceUrl).toBe(playground.serviceUrl);
  }, 40_000);

  it('a notification to the user arrives in the Playground and the status API says delivered', async () => {
    const before = (await inChat(PERSONAL_CHAT)).length;
    const id = await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { text: 'Build **42** passed' } });
    const done = await completed(id);
    expect(done.recipients[0]).toMatchObject({ status: 'delivered', conversationId: PERSONAL_CHAT });
    const sent = (await inChat(PERSONAL_CHAT)).slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.text).toBe('Build **42** passed');
    expect(sent[0]?.statusCode).toBe(201);
    expect(done.recipients[0]?.activityId).toBe(sent[0]?.responseId);
  }, 40_000);

  it('a card sent without summary is previewed by its first TextBlock', async () => {
    const card = {
      type: 'AdaptiveCard',
      version: '1.5',
      body: [
        { type: 'Container', items: [{ type: 'Image', url: 'https://example.com/logo.png' }, { type: 'TextBlock', text: 'Build **43**   passed\non main', weight: 'Bolder' }] },
        { type: 'TextBlock', text: 'All 312 tests passed.' },
      ],
    };
    const before = (await inChat(PERSONAL_CHAT)).length;
    const done = await completed(await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { card } }));
    expect(done.recipients[0]).toMatchObject({ status: 'delivered' });
    const sent = (await inChat(PERSONAL_CHAT)).slice(before);
    expect(sent).toHaveLength(1);
    // What the Playground's connector received: Teams shows this in the chat list and the notification.
    expect(sent[0]?.summary).toBe('Build **43** passed on main');
    expect(sent[0]?.text).toBeUndefined();
    expect(sent[0]?.attachments?.[0]?.content).toEqual(card);
  }, 40_000);

  it('stop opts the user out (next notification skipped), start opts back in', async () => {
    await driver.sendUserMessage(PERSONAL_CHAT, 'stop');
    await eventually(async () => (texts(await inChat(PERSONAL_CHAT)).includes("won't send you notifications") ? true : undefined), 15_000, 'the opt-out reply');
    expect(texts(await inChat(PERSONAL_CHAT))).toMatch(/send \*\*start\*\*/i);

    const before = (await inChat(PERSONAL_CHAT)).length;
    const skipped = await completed(await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { text: 'You should not see this' } }));
    expect(skipped.recipients[0]).toMatchObject({ status: 'skipped', reason: 'opted-out', attempts: 0 });
    expect(skipped.counts).toMatchObject({ skipped: 1, delivered: 0 });
    expect((await inChat(PERSONAL_CHAT)).length).toBe(before);

    await driver.sendUserMessage(PERSONAL_CHAT, 'start');
    await eventually(async () => (texts(await inChat(PERSONAL_CHAT)).includes('Welcome back') ? true : undefined), 15_000, 'the opt-in reply');
    const back = await completed(await notify({ recipients: [{ type: 'user', userId: ALEX.id }], message: { text: 'Back again' } }));
    expect(back.recipients[0]).toMatchObject({ status: 'delivered' });
    expect(texts(await inChat(PERSONAL_CHAT))).toContain('Back again');
  }, 60_000);

  it('help lists the commands', async () => {
    await driver.sendUserMessage(PERSONAL_CHAT, 'help');
    const help = await eventually(async () => (await inChat(PERSONAL_CHAT)).find((a) => (a.text ?? '').includes('Commands:')), 15_000, 'help');
    expect(help?.text).toMatch(/stop/);
    expect(help?.text).toMatch(/start/);
  }, 30_000);

  it('renders the notification template as an Adaptive Card whose opt-out button works', async () => {
    const id = await notify({
      recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }],
      message: {
        template: 'notification',
        data: {
          title: 'Deploy to production failed',
          whatHappened: 'The deploy of api v2.3.1 stopped at the health check.',
          result: 'Rolled back to v2.3.0',
          triggeredBy: 'Megan Bowen',
          actions: [{ title: 'Open the run', url: 'https://example.com/runs/7' }],
        },
      },
    });
    await completed(id);
    const card = await eventually(async () => (await inChat(PERSONAL_CHAT)).find((a) => cardTexts(a).includes('Deploy to production failed')), 15_000, 'the card');
    const attachment = card?.attachments?.[0] as { contentType: string; content: { body: { type: string; text?: string; facts?: { title: string; value: string }[] }[]; actions: { type: string; title: string; url?: string; data?: unknown }[] } };
    expect(attachment.contentType).toBe('application/vnd.microsoft.card.adaptive');
    const facts = attachment.content.body.find((b) => b.type === 'FactSet')?.facts;
    expect(facts).toEqual([
      { title: 'Result', value: 'Rolled back to v2.3.0' },
      { title: 'Triggered by', value: 'Megan Bowen' },
    ]);
    expect(attachment.content.actions.map((a) => a.type)).toEqual(['Action.OpenUrl', 'Action.Submit']);
    const optOut = attachment.content.actions[1];

    await driver.submitCard(PERSONAL_CHAT, card?.responseId ?? '', optOut?.data as Record<string, unknown>);
    await eventually(async () => ((await pipeline.services.optOuts.isOptedOut(userSubject(teams.tenantId, ALEX.id))) ? true : undefined), 15_000, 'opted out by the button');
    const skipped = await completed(await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { text: 'after the button' } }));
    expect(skipped.recipients[0]).toMatchObject({ status: 'skipped', reason: 'opted-out' });
    await driver.sendUserMessage(PERSONAL_CHAT, 'start');
    await eventually(async () => ((await pipeline.services.optOuts.isOptedOut(userSubject(teams.tenantId, ALEX.id))) ? undefined : true), 15_000, 'opted back in');
  }, 60_000);

  it('team install welcomes the team once in General; a team notification starts a new thread there', async () => {
    await driver.install(TEAM);
    const welcome = await eventually(async () => (await inChat(TEAM)).find((a) => (a.text ?? '').includes('added **')), 15_000, 'team welcome');
    expect(welcome?.text).toContain(teams.team.name);
    // The install activity carries no name; the one seen on Alex's earlier messages is used.
    expect(welcome?.text).toContain(ALEX.name);
    await driver.install(TEAM);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await inChat(TEAM)).filter((a) => (a.text ?? '').includes('added **'))).toHaveLength(1);

    const team = await pipeline.services.conversations.findTeam(TEAM);
    expect(team).toMatchObject({ teamId: TEAM, generalChannelId: TEAM, name: teams.team.name, installed: true, tenantId: teams.tenantId });

    const done = await completed(await notify({ recipients: [{ type: 'team', teamId: TEAM }], message: { text: 'Release 7 is out' } }));
    expect(done.recipients[0]?.conversationId).toMatch(new RegExp(`^${escapeRegExp(TEAM)};messageid=`));
    const thread = (await inChat(TEAM)).find((a) => a.text === 'Release 7 is out');
    expect(thread?.operation).toBe('create');
  }, 60_000);

  it('@mention stop in the team mutes its General channel: a team notification is skipped; start turns it back on', async () => {
    const { postConversationId } = await driver.mentionBot(TEAM, 'stop');
    expect(postConversationId).toMatch(new RegExp(`^${escapeRegExp(TEAM)};messageid=`));
    const muted = await eventually(async () => (await inChat(TEAM)).find((a) => (a.text ?? '').includes(`muted notifications from ${APP}`)), 15_000, 'the mute reply');
    // The answer goes in the thread of the message that asked, and names who muted it.
    expect(muted).toMatchObject({ conversationId: postConversationId, operation: 'reply', statusCode: 201 });
    expect(muted?.text).toBe(`${ALEX.name} muted notifications from ${APP} in this channel. @mention ${APP} with **start** to turn them back on.`);
    expect(await pipeline.services.optOuts.isOptedOut(conversationSubject(teams.tenantId, TEAM))).toBe(true);
    // Alex muted the channel, not their own notifications.
    expect(await pipeline.services.optOuts.isOptedOut(userSubject(teams.tenantId, ALEX.id))).toBe(false);

    const callsBefore = (await driver.connectorActivities()).length;
    const skipped = await completed(await notify({ recipients: [{ type: 'team', teamId: TEAM }], message: { text: 'nobody should see this in General' } }));
    expect(skipped.recipients[0]).toMatchObject({ status: 'skipped', reason: 'opted-out', attempts: 0 });
    expect(skipped.recipients[0]?.detail).toMatch(/muted this channel/);
    expect((await driver.connectorActivities()).length).toBe(callsBefore);

    await driver.mentionBot(TEAM, 'start');
    await eventually(async () => ((await inChat(TEAM)).some((a) => (a.text ?? '').includes(`back on in this channel`)) ? true : undefined), 15_000, 'the unmute reply');
    expect(await pipeline.services.optOuts.isOptedOut(conversationSubject(teams.tenantId, TEAM))).toBe(false);
    const delivered = await completed(await notify({ recipients: [{ type: 'team', teamId: TEAM }], message: { text: 'General hears again' } }));
    expect(delivered.recipients[0]).toMatchObject({ status: 'delivered' });
    expect((await inChat(TEAM)).some((a) => a.text === 'General hears again')).toBe(true);
  }, 60_000);

  it("a channel card's button mutes the channel for everyone, and the bot says in the thread who did", async () => {
    const done = await completed(
      await notify({
        recipients: [{ type: 'team', teamId: TEAM }],
        message: { template: 'notification', data: { title: 'Nightly backup failed', whatHappened: 'The backup of db-1 stopped at 40%.' } },
      }),
    );
    expect(done.recipients[0]).toMatchObject({ status: 'delivered' });
    const card = await eventually(async () => (await inChat(TEAM)).find((a) => cardTexts(a).includes('Nightly backup failed')), 15_000, 'the channel card');
    expect(card).toMatchObject({ operation: 'create', summary: 'Nightly backup failed' });
    const content = card?.attachments?.[0]?.content as { body: { text?: string }[]; actions: { type: string; title: string; data?: Record<string, unknown> }[] };
    expect(content.body.at(-1)?.text).toContain(`@mention ${APP} with **stop**`);
    const button = content.actions.find((a) => a.type === 'Action.Submit');
    expect(button?.title).toBe('Mute this channel for everyone');

    // Megan, not the person who set anything up, presses it in the card's thread.
    await driver.submitCard(card?.conversationId ?? '', card?.responseId ?? '', button?.data ?? {}, MEGAN.id);
    const reply = await eventually(async () => (await inChat(TEAM)).find((a) => (a.text ?? '').startsWith(`${MEGAN.name} muted`)), 15_000, 'the reply naming Megan');
    expect(reply).toMatchObject({ conversationId: card?.conversationId, operation: 'reply' });
    expect(reply?.text).toBe(`${MEGAN.name} muted notifications from ${APP} in this channel. @mention ${APP} with **start** to turn them back on.`);
    expect(await pipeline.services.optOuts.isOptedOut(conversationSubject(teams.tenantId, TEAM))).toBe(true);
    expect(await pipeline.services.optOuts.isOptedOut(userSubject(teams.tenantId, MEGAN.id))).toBe(false);
    const skipped = await completed(await notify({ recipients: [{ type: 'team', teamId: TEAM }], message: { text: 'muted by the button' } }));
    expect(skipped.recipients[0]).toMatchObject({ status: 'skipped', reason: 'opted-out', attempts: 0 });

    await driver.mentionBot(TEAM, 'start');
    await eventually(async () => ((await pipeline.services.optOuts.isOptedOut(conversationSubject(teams.tenantId, TEAM))) ? undefined : true), 15_000, 'unmuted');
  }, 60_000);

  it('after the app is removed, the next notification ends not-installed with zero connector calls', async () => {
    await driver.lifecycle(PERSONAL_CHAT, 'uninstall');
    await eventually(async () => {
      const user = await pipeline.services.conversations.findUser({ type: 'user', aadObjectId: ALEX.aadObjectId });
      return user?.installed === false ? true : undefined;
    }, 15_000, 'the uninstall to be recorded');
    const callsBefore = (await driver.connectorActivities()).length;
    const done = await completed(await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { text: 'nobody home' } }));
    expect(done.recipients[0]).toMatchObject({ status: 'failed', reason: 'not-installed', attempts: 0 });
    expect((await driver.connectorActivities()).length).toBe(callsBefore);

    // Installing again brings the user back, with a new welcome for the new installation.
    await driver.install(PERSONAL_CHAT);
    await eventually(async () => ((await inChat(PERSONAL_CHAT)).filter((a) => cardTexts(a).includes('Welcome to')).length === 2 ? true : undefined), 15_000, 'a second welcome');
    const again = await completed(await notify({ recipients: [{ type: 'user', aadObjectId: ALEX.aadObjectId }], message: { text: 'welcome back' } }));
    expect(again.recipients[0]).toMatchObject({ status: 'delivered' });
  }, 60_000);
});
