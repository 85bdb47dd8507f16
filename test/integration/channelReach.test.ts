import { randomUUID } from 'node:crypto';
import type { RecipientStatus } from '../../shared/domain/outcome';
import type { UserReference } from '../../shared/domain/reference';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const TENANT = 'tenant-reach';
const BOT = '28:bot-reach';

interface RecipientRow {
  recipient: Record<string, string>;
  status: RecipientStatus;
  reason?: string;
  detail?: string;
}

/** The pipeline with its worker running, at a rate no test here waits on. */
async function workingPipeline(requestTimeoutMs: number): Promise<TestPipeline> {
  const pipeline = await startTestPipeline({
    env: { SEND_RATE_PER_SECOND: '1000' },
    sender: new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '', requestTimeoutMs }),
  });
  pipeline.startWorker();
  return pipeline;
}

describe('a channel is not a team', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    connector = await startFakeConnector();
    // Long enough for a post Teams holds while an activity comes in (see `refusedLate`).
    pipeline = await workingPipeline(20_000);
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  /** A team with the app installed, as an install leaves it: the General channel's id is the team's. */
  async function installedTeam(): Promise<string> {
    const teamId = `19:team-${randomUUID()}@thread.tacv2`;
    await pipeline.services.conversations.saveTeam({ teamId, generalChannelId: teamId, serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, installed: true, updatedAt: new Date().toISOString() });
    return teamId;
  }

  const channel = () => `19:channel-${randomUUID()}@thread.tacv2`;

  /** Sends one notification and waits for every recipient's outcome, in request order. */
  async function notify(recipients: object[]): Promise<RecipientRow[]> {
    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients, message: { text: `Standup moved ${randomUUID()}` } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const body = await eventually(async () => {
      const status = (await (await pipeline.api(`/api/notifications/${id}?pageSize=100`)).json()) as { status: string; recipients: RecipientRow[] };
      return status.status === 'completed' ? status : undefined;
    }, 30_000, `notification ${id} to complete`);
    const key = (r: Record<string, string>) => `${r.type}\n${r.teamId ?? ''}\n${r.channelId ?? ''}\n${r.conversationId ?? ''}`;
    return recipients.map((r) => {
      const row = body.recipients.find((x) => key(x.recipient) === key(r as Record<string, string>));
      if (row === undefined) throw new Error(`no row for ${JSON.stringify(r)}`);
      return row;
    });
  }

  /** An activity Teams sends from a team: a post in a channel thread, or a team event in General. */
  async function activityFrom(teamId: string, where: { channelId: string; thread?: boolean; eventType?: string }): Promise<void> {
    const conversationId = where.thread === true ? `${where.channelId};messageid=${Date.now()}` : where.channelId;
    const activity = {
      type: where.eventType === undefined ? 'message' : 'conversationUpdate',
      id: randomUUID(),
      channelId: 'msteams',
      serviceUrl: connector.serviceUrl,
      from: { id: `29:${randomUUID()}`, aadObjectId: randomUUID() },
      recipient: { id: BOT },
      conversation: { id: conversationId, conversationType: 'channel', isGroup: true, tenantId: TENANT },
      channelData: { tenant: { id: TENANT }, team: { id: teamId, name: 'Ops' }, channel: { id: where.channelId }, ...(where.eventType !== undefined && { eventType: where.eventType }) },
    };
    const res = await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
    expect(res.status).toBe(200);
  }

  const postsTo = (channelId: string) => connector.calls.filter((c) => c.op === 'createConversation' && c.conversationId === channelId);

  it('a 403 in a private channel closes that channel only; the team and its other channels still get their posts', async () => {
    const teamId = await installedTeam();
    const privateChannel = channel();
    const standard = channel();
    connector.script({ op: 'createConversation', conversationId: privateChannel }, [{ status: 403, code: 'BotNotInConversationRoster' }]);

    const [first] = await notify([{ type: 'channel', teamId, channelId: privateChannel }]);
    expect(first).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: true });
    expect(await pipeline.services.conversations.findConversation(privateChannel)).toMatchObject({ reachable: false, kind: 'channel', teamId });

    connector.reset();
    const [closed, team, other, byId] = await notify([
      { type: 'channel', teamId, channelId: privateChannel },
      { type: 'team', teamId },
      { type: 'channel', teamId, channelId: standard },
      { type: 'conversation', conversationId: privateChannel },
    ]);
    for (const refused of [closed, byId]) {
      expect(refused).toMatchObject({ status: 'failed', reason: 'not-installed' });
      expect(refused?.detail).toContain('cannot post in this channel');
    }
    expect(team).toMatchObject({ status: 'delivered' });
    expect(other).toMatchObject({ status: 'delivered' });
    // The closed channel costs Teams nothing; the others got one post each.
    expect(postsTo(privateChannel)).toHaveLength(0);
    expect(connector.delivered(teamId)).toHaveLength(1);
    expect(connector.delivered(standard)).toHaveLength(1);
  });

  it('a post from the channel reopens it (the app was added there)', async () => {
    const teamId = await installedTeam();
    const privateChannel = channel();
    connector.script({ op: 'createConversation', conversationId: privateChannel }, [{ status: 403, code: 'BotNotInConversationRoster' }]);
    expect((await notify([{ type: 'channel', teamId, channelId: privateChannel }]))[0]).toMatchObject({ status: 'failed' });

    await activityFrom(teamId, { channelId: privateChannel, thread: true });
    expect(await pipeline.services.conversations.findConversation(privateChannel)).toMatchObject({ reachable: true, active: true });
    expect((await notify([{ type: 'channel', teamId, channelId: privateChannel }]))[0]).toMatchObject({ status: 'delivered' });
    expect(connector.delivered(privateChannel)).toHaveLength(1);
  });

  it('a 403 in General means the app left the team; any activity from the team brings it back', async () => {
    const teamId = await installedTeam();
    const standard = channel();
    connector.script({ op: 'createConversation', conversationId: teamId }, [{ status: 403, code: 'BotNotInConversationRoster' }]);
    expect((await notify([{ type: 'team', teamId }]))[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: false });

    connector.reset();
    const [team, other] = await notify([{ type: 'team', teamId }, { type: 'channel', teamId, channelId: standard }]);
    expect(team).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(other).toMatchObject({ status: 'failed', reason: 'not-installed', detail: 'the app was removed from this team' });
    expect(connector.calls).toHaveLength(0);

    // Teams sends a team event only while the app is in the team.
    await activityFrom(teamId, { channelId: teamId, eventType: 'teamRenamed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: true, name: 'Ops' });
    const [again, otherAgain] = await notify([{ type: 'team', teamId }, { type: 'channel', teamId, channelId: standard }]);
    expect(again).toMatchObject({ status: 'delivered' });
    expect(otherAgain).toMatchObject({ status: 'delivered' });
  });

  it('a 403 for the whole app (BotDisabledByAdmin) in any channel closes the team', async () => {
    const teamId = await installedTeam();
    const standard = channel();
    connector.script({ op: 'createConversation', conversationId: standard }, [{ status: 403, code: 'BotDisabledByAdmin' }]);
    expect((await notify([{ type: 'channel', teamId, channelId: standard }]))[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: false });
  });

  it('a 403 on a channel named by its conversation id closes the channel, as for a channel recipient, not as if it were deleted', async () => {
    const teamId = await installedTeam();
    const privateChannel = channel();
    await activityFrom(teamId, { channelId: privateChannel });
    connector.script({ op: 'send', conversationId: privateChannel }, [{ status: 403, code: 'BotNotInConversationRoster' }]);
    expect((await notify([{ type: 'conversation', conversationId: privateChannel }]))[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findConversation(privateChannel)).toMatchObject({ active: true, reachable: false });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: true });

    connector.reset();
    const [byChannel] = await notify([{ type: 'channel', teamId, channelId: privateChannel }]);
    expect(byChannel).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(byChannel?.detail).toContain('cannot post in this channel');
    expect(connector.calls).toHaveLength(0);
  });

  it('a 403 in General named by its conversation id means the app left the team: no channel of it is sent to', async () => {
    const teamId = await installedTeam();
    const standard = channel();
    await activityFrom(teamId, { channelId: teamId, eventType: 'teamRenamed' });
    await activityFrom(teamId, { channelId: standard });
    connector.script({ op: 'send', conversationId: teamId }, [{ status: 403, code: 'BotNotInConversationRoster' }]);
    expect((await notify([{ type: 'conversation', conversationId: teamId }]))[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: false });

    connector.reset();
    const [team, byId] = await notify([{ type: 'team', teamId }, { type: 'conversation', conversationId: standard }]);
    for (const refused of [team, byId]) expect(refused).toMatchObject({ status: 'failed', reason: 'not-installed', detail: 'the app was removed from this team' });
    expect(connector.calls).toHaveLength(0);
  });

  /** Sends to one recipient whose post Teams holds 4 s and then refuses with 403; resolves once the post is on the wire. */
  async function refusedLate(recipient: object, postedTo: string): Promise<{ outcome: Promise<RecipientRow[]> }> {
    connector.script({ op: 'createConversation', conversationId: postedTo }, [{ delayMs: 4_000, then: { status: 403, code: 'BotNotInConversationRoster' } }]);
    const outcome = notify([recipient]);
    await eventually(async () => (postsTo(postedTo).length > 0 ? true : undefined), 20_000, 'the post to be on the wire');
    // Wrapped: an async function would wait for a promise it returns.
    return { outcome };
  }

  it('a 403 that lands after the channel reopened does not close it again: the reopening is newer evidence', async () => {
    const teamId = await installedTeam();
    const privateChannel = channel();
    const refused = await refusedLate({ type: 'channel', teamId, channelId: privateChannel }, privateChannel);
    // While the post hangs, the app is added to the channel and someone posts there.
    await activityFrom(teamId, { channelId: privateChannel, thread: true });
    expect(postsTo(privateChannel)[0]?.status).toBe(0); // still unanswered: the 403 lands after the activity
    expect((await refused.outcome)[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findConversation(privateChannel)).toMatchObject({ reachable: true });

    connector.reset();
    expect((await notify([{ type: 'channel', teamId, channelId: privateChannel }]))[0]).toMatchObject({ status: 'delivered' });
  });

  it('a 403 in General that lands after the team was seen again does not mark it uninstalled', async () => {
    const teamId = await installedTeam();
    const refused = await refusedLate({ type: 'team', teamId }, teamId);
    await activityFrom(teamId, { channelId: teamId, eventType: 'teamRenamed' });
    expect(postsTo(teamId)[0]?.status).toBe(0); // still unanswered: the 403 lands after the activity
    expect((await refused.outcome)[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(await pipeline.services.conversations.findTeam(teamId)).toMatchObject({ installed: true });
  });

  it('evidence is ordered by when it was seen, whichever write lands last', async () => {
    const store = pipeline.services.conversations;
    const teamId = await installedTeam();
    const privateChannel = channel();
    const address = { serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, channelId: privateChannel, teamId };
    const [earlier, later] = ['2026-01-01T10:00:00.000Z', '2026-01-01T10:00:01.000Z'];
    await store.setChannelReachable(address, true, later);
    await store.setChannelReachable(address, false, earlier);
    expect(await store.findConversation(privateChannel)).toMatchObject({ reachable: true, reachableAsOf: later });
    await store.setChannelReachable(address, false, '2026-01-01T10:00:02.000Z');
    expect(await store.findConversation(privateChannel)).toMatchObject({ reachable: false });

    await store.patchTeam(teamId, { installed: true, installedAsOf: later });
    await store.patchTeam(teamId, { installed: false, installedAsOf: earlier });
    expect(await store.findTeam(teamId)).toMatchObject({ installed: true, installedAsOf: later });
  });

  it('a team added where Teams\' own activity stored it first keeps what Teams said', async () => {
    const store = pipeline.services.conversations;
    const teamId = await installedTeam();
    const added = await store.addTeam({ teamId, generalChannelId: teamId, serviceUrl: 'https://smba.trafficmanager.net/teams/', tenantId: TENANT, botId: BOT, installed: true, updatedAt: new Date().toISOString() });
    expect(added).toBe(false);
    expect(await store.findTeam(teamId)).toMatchObject({ serviceUrl: connector.serviceUrl });
  });
});

describe('user references are written under ETags, never from a stale read', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await workingPipeline(10_000);
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });

  function user(): UserReference & { userId: string; aadObjectId: string } {
    const id = randomUUID();
    return { serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, userId: `29:${id}`, aadObjectId: id, installed: true, hasPersonalApp: true, updatedAt: new Date().toISOString() };
  }

  it('an uninstall that lands while a delivery creates the user\'s chat survives the delivery\'s write', async () => {
    const person = user();
    await pipeline.services.conversations.saveUser(person);
    // The delivery has read the user (installed) and is creating their 1:1 chat when the uninstall comes.
    connector.script({ op: 'createConversation', userId: person.userId }, [{ delayMs: 3_000 }]);
    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: [{ type: 'user', aadObjectId: person.aadObjectId }], message: { text: 'Laptop refresh' } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await eventually(async () => (connector.calls.some((c) => c.op === 'createConversation' && c.userId === person.userId) ? true : undefined), 20_000, 'the chat to be created');

    const uninstall = {
      type: 'installationUpdate',
      action: 'remove',
      id: randomUUID(),
      channelId: 'msteams',
      serviceUrl: connector.serviceUrl,
      from: { id: person.userId, aadObjectId: person.aadObjectId },
      recipient: { id: BOT },
      conversation: { id: `a:fake-${person.userId}`, conversationType: 'personal', tenantId: TENANT },
      channelData: { tenant: { id: TENANT } },
    };
    expect((await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(uninstall) })).status).toBe(200);
    expect(await pipeline.services.conversations.findUser({ type: 'user', aadObjectId: person.aadObjectId })).toMatchObject({ installed: false });

    await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { status: string };
      return body.status === 'completed' ? body : undefined;
    }, 30_000, 'the notification to complete');
    // The chat id the delivery learnt is kept; the uninstall is not undone, under either key.
    for (const key of [{ type: 'user', userId: person.userId }, { type: 'user', aadObjectId: person.aadObjectId }] as const) {
      expect(await pipeline.services.conversations.findUser(key)).toMatchObject({ installed: false, hasPersonalApp: false, personalConversationId: `a:fake-${person.userId}` });
    }
  });

  it('updateUser asks its change again with what another writer stored between its read and its write, under either key', async () => {
    const store = pipeline.services.conversations;
    // Another process (another worker instance, the bot endpoint) writing the same user.
    const elsewhere = new TableConversationStore(pipeline.services.tables);
    for (const key of ['userId', 'aadObjectId'] as const) {
      const person = user();
      await store.saveUser({ ...person, personalConversationId: `a:chat-${person.userId}` });
      const seen: boolean[] = [];
      await store.updateUser({ [key]: person[key] }, async (current) => {
        if (current === undefined) throw new Error('the user was stored');
        seen.push(current.installed);
        // The first round's read is stale by the time it writes: the user blocked the bot meanwhile.
        if (seen.length === 1) await elsewhere.clearPersonalConversation(person, { installed: false });
        return { ...current, name: 'Adele Vance', updatedAt: new Date().toISOString() };
      });
      expect(seen).toEqual([true, false]);
      for (const by of [{ type: 'user', userId: person.userId }, { type: 'user', aadObjectId: person.aadObjectId }] as const) {
        const stored = await store.findUser(by);
        expect(stored).toMatchObject({ installed: false, name: 'Adele Vance' });
        expect(stored?.personalConversationId).toBeUndefined();
      }
    }
  });
});
