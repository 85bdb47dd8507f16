import type { DeliverJob } from '../../shared/domain/job';
import { conversationSubject, userSubject } from '../../shared/domain/optOut';
import type { RecipientStatus } from '../../shared/domain/outcome';
import { recipientKey } from '../../shared/domain/recipient';
import { decodeQueueBody, encodeQueueBody } from '../../shared/queue/storageQueueJobQueue';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import { startFakeConnector, type ConnectorCall, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

const TENANT = 'tenant-d';
const BACKOFF_BASE_MS = 1000;
const MAX_ATTEMPTS = 3;

/** The job the HTTP function enqueues for a user recipient, as a broker would deliver it again. */
function firstJob(notificationId: string, aadObjectId: string): DeliverJob {
  const recipient = { type: 'user', aadObjectId } as const;
  return { v: 1, kind: 'deliver', notificationId, recipientKey: recipientKey(recipient), recipient, attempt: 0, throttled: 0 };
}

interface RecipientRow {
  recipient: Record<string, string>;
  status: RecipientStatus;
  reason?: string;
  detail?: string;
  attempts: number;
  activityId?: string;
  conversationId?: string;
}
interface StatusBody {
  status: string;
  counts: Record<RecipientStatus | 'total', number>;
  recipients: RecipientRow[];
  continuationToken?: string;
}

describe('delivery engine: every recipient ends in a true status, once', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let userSeq = 0;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({
      env: { SEND_RATE_PER_SECOND: '1000', MAX_DELIVERY_ATTEMPTS: String(MAX_ATTEMPTS) },
      sender: new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '', requestTimeoutMs: 1500, membersPageSize: 2 }),
      // random() = 1: the full backoff step, so the spacing of retries is predictable.
      delivery: { backoff: { baseMs: BACKOFF_BASE_MS, maxMs: 8000 }, random: () => 1, maxThrottles: 8, leaseMs: 10_000 },
    });
    pipeline.startWorker();
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());
  afterEach(() => {
    // Whatever a test scripted, no conversation may have received the same message twice.
    const seen = new Set<string>();
    for (const m of connector.delivered()) {
      const key = `${m.conversationId}\n${JSON.stringify(m.activity.text ?? m.activity.attachments)}`;
      expect(seen.has(key) ? key : undefined).toBeUndefined();
      seen.add(key);
    }
  });

  /** A user the bot knows (installed, no 1:1 chat yet unless given). */
  async function knownUser(options: { chat?: boolean } = {}) {
    userSeq += 1;
    const user = {
      aadObjectId: `00000000-0000-0000-0000-${String(userSeq).padStart(12, '0')}`,
      userId: `29:user-${userSeq}`,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot-1',
      installed: true,
      updatedAt: new Date().toISOString(),
      ...(options.chat === true && { personalConversationId: `a:fake-29:user-${userSeq}` }),
    };
    await pipeline.services.conversations.saveUser(user);
    return user;
  }

  /** A team with the app installed; its General channel's id is the team id, as in Teams. */
  async function knownTeam(teamId: string, name?: string) {
    await pipeline.services.conversations.saveTeam({
      teamId,
      generalChannelId: teamId,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot-1',
      installed: true,
      updatedAt: new Date().toISOString(),
      ...(name !== undefined && { name }),
    });
  }

  async function notify(recipients: unknown[], extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
    const res = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ recipients, message: { text: 'Deploy finished' }, ...extra }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  async function status(id: string): Promise<StatusBody> {
    return (await (await pipeline.api(`/api/notifications/${id}?pageSize=1000`)).json()) as StatusBody;
  }

  async function completed(id: string, timeoutMs = 30_000): Promise<StatusBody> {
    return eventually(async () => {
      const body = await status(id);
      return body.status === 'completed' ? body : undefined;
    }, timeoutMs, `notification ${id} to complete`);
  }

  const sendsTo = (conversationId: string): ConnectorCall[] =>
    connector.calls.filter((c) => (c.op === 'sendToConversation' || c.op === 'replyToActivity') && c.conversationId === conversationId);

  it('honours Retry-After on 429 without spending the retry budget, then delivers once', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    // More 429s than MAX_ATTEMPTS: throttling must not exhaust the transient budget.
    connector.script({ op: 'send', conversationId: chat }, Array.from({ length: MAX_ATTEMPTS + 1 }, () => ({ status: 429, retryAfterSeconds: 1 })));
    const id = await notify([{ type: 'user', aadObjectId: user.aadObjectId }]);
    const done = await completed(id, 40_000);

    expect(done.recipients[0]).toMatchObject({ status: 'delivered', attempts: MAX_ATTEMPTS + 2 });
    const calls = sendsTo(chat);
    expect(calls.map((c) => c.status)).toEqual([...Array.from({ length: MAX_ATTEMPTS + 1 }, () => 429), 201]);
    for (let i = 1; i < calls.length; i++) expect((calls[i]?.at ?? 0) - (calls[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(connector.delivered(chat)).toHaveLength(1);
  }, 60_000);

  it('a 429 slows every send to the tenant, not just the throttled message', async () => {
    const first = await knownUser({ chat: true });
    const others = await Promise.all([knownUser({ chat: true }), knownUser({ chat: true }), knownUser({ chat: true })]);
    connector.script({ op: 'send', conversationId: first.personalConversationId as string }, [{ status: 429, retryAfterSeconds: 2 }]);
    const throttledId = await notify([{ type: 'user', aadObjectId: first.aadObjectId }]);
    await eventually(async () => (sendsTo(first.personalConversationId as string).length > 0 ? true : undefined), 10_000, 'the 429');
    const throttledAt = sendsTo(first.personalConversationId as string)[0]?.at ?? 0;
    const laterId = await notify(others.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })));
    await completed(laterId);
    await completed(throttledId);
    for (const u of others) {
      const [call] = sendsTo(u.personalConversationId as string);
      expect((call?.at ?? 0) - throttledAt).toBeGreaterThanOrEqual(1900);
    }
  }, 60_000);

  it('retries 412/502/503/504 with growing backoff, then fails retries-exhausted and dead-letters the job', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    connector.script({ op: 'send', conversationId: chat }, [{ status: 502 }, { status: 412 }, { status: 504 }, { status: 503 }]);
    const id = await notify([{ type: 'user', aadObjectId: user.aadObjectId }]);
    const done = await completed(id, 40_000);

    expect(done.recipients[0]).toMatchObject({ status: 'failed', reason: 'retries-exhausted', attempts: MAX_ATTEMPTS });
    const calls = sendsTo(chat);
    expect(calls.map((c) => c.status)).toEqual([502, 412, 504]);
    const gaps = calls.slice(1).map((c, i) => c.at - (calls[i]?.at ?? 0));
    // Backoff steps of 1 s then 2 s (base 1 s, doubling; jitter pinned to the full step).
    expect(gaps[0]).toBeGreaterThanOrEqual(1000);
    expect(gaps[1]).toBeGreaterThanOrEqual(2000);
    expect(connector.delivered(chat)).toHaveLength(0);

    const letters = await pipeline.queue.deadLetters.peekMessages({ numberOfMessages: 32 });
    const parked = letters.peekedMessageItems
      .map((m) => JSON.parse(decodeQueueBody(m.messageText)) as { reason: string; body: string })
      .filter((l) => l.reason === 'retries-exhausted' && (JSON.parse(l.body) as DeliverJob).notificationId === id);
    expect(parked).toHaveLength(1);
  }, 60_000);

  it.each([
    [500, undefined, 'rejected'],
    [400, 'BadArgument', 'rejected'],
    [413, 'MessageSizeTooBig', 'rejected'],
    [403, 'ConversationBlockedByUser', 'blocked-by-user'],
    [403, 'BotNotInConversationRoster', 'not-installed'],
    [403, 'BotDisabledByAdmin', 'not-installed'],
  ])('answers %s %s with failed %s after one call, no retry', async (statusCode, code, reason) => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    connector.script({ op: 'send', conversationId: chat }, [{ status: statusCode, ...(code !== undefined && { code }) }]);
    const done = await completed(await notify([{ type: 'user', aadObjectId: user.aadObjectId }]));
    expect(done.recipients[0]).toMatchObject({ status: 'failed', reason, attempts: 1 });
    expect(sendsTo(chat)).toHaveLength(1);
  });

  it('MessageWritesBlocked counts as blocked, and the next notification to that user makes no connector call', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    connector.script({ op: 'send', conversationId: chat }, [{ status: 403, subCode: 'MessageWritesBlocked' }]);
    const first = await completed(await notify([{ type: 'user', aadObjectId: user.aadObjectId }]));
    expect(first.recipients[0]).toMatchObject({ status: 'failed', reason: 'blocked-by-user' });

    const callsBefore = connector.calls.length;
    const second = await completed(await notify([{ type: 'user', userId: user.userId }]));
    expect(second.recipients[0]).toMatchObject({ status: 'failed', reason: 'not-installed', attempts: 0 });
    expect(connector.calls.length).toBe(callsBefore);
  });

  it('on 404 drops the stored chat, re-creates it once and delivers; a second 404 ends conversation-not-found', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    connector.script({ op: 'send', conversationId: chat }, [{ status: 404, code: 'ConversationNotFound' }]);
    const done = await completed(await notify([{ type: 'user', aadObjectId: user.aadObjectId }]));
    expect(done.recipients[0]).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(connector.calls.map((c) => c.op)).toEqual(['sendToConversation', 'createConversation', 'sendToConversation']);

    connector.reset();
    connector.always({ op: 'send', conversationId: chat }, { status: 404, code: 'ConversationNotFound' });
    const gone = await completed(await notify([{ type: 'user', aadObjectId: user.aadObjectId }]));
    expect(gone.recipients[0]).toMatchObject({ status: 'failed', reason: 'conversation-not-found' });
    expect(connector.calls.filter((c) => c.op === 'createConversation')).toHaveLength(1);
  });

  it('a connector that does not answer counts as transient: retried, and delivered once', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    // Hang past the 1.5 s client deadline, then fail: the abandoned request posts nothing.
    connector.script({ op: 'send', conversationId: chat }, [{ delayMs: 2500, then: { status: 503 } }]);
    const done = await completed(await notify([{ type: 'user', aadObjectId: user.aadObjectId }]));
    expect(done.recipients[0]).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(connector.delivered(chat)).toHaveLength(1);
  }, 40_000);

  it('a new channel thread whose create call hangs is aborted, retried, and posted once', async () => {
    const teamId = '19:slow-team@thread.tacv2';
    await knownTeam(teamId);
    connector.script({ op: 'createConversation' }, [{ delayMs: 2500, then: { status: 503 } }]);
    const done = await completed(await notify([{ type: 'team', teamId }]));
    expect(done.recipients[0]).toMatchObject({ status: 'delivered', attempts: 2 });
    const creates = connector.calls.filter((c) => c.op === 'createConversation');
    expect(creates).toHaveLength(2);
    expect(creates[0]?.aborted).toBe(true);
    expect(connector.delivered(teamId)).toHaveLength(1);
  }, 40_000);

  it('fails expired when expiresAt passes while the recipient waits for a retry', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    connector.script({ op: 'send', conversationId: chat }, [{ status: 429, retryAfterSeconds: 4 }]);
    const id = await notify([{ type: 'user', aadObjectId: user.aadObjectId }], { expiresAt: new Date(Date.now() + 2500).toISOString() });
    const done = await completed(id, 20_000);
    expect(done.recipients[0]).toMatchObject({ status: 'failed', reason: 'expired' });
    expect(sendsTo(chat)).toHaveLength(1);
    expect(connector.delivered(chat)).toHaveLength(0);
  }, 30_000);

  it('sends nothing more when copies of a finished job arrive again, five at once', async () => {
    const users = await Promise.all([knownUser({ chat: true }), knownUser({ chat: true })]);
    const id = await notify(users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })));
    await completed(id);
    const job = (u: { aadObjectId: string }) => firstJob(id, u.aadObjectId);
    // Redeliver after completion: five copies of each job, as a broker would after lost locks.
    for (const u of users) {
      await Promise.all(Array.from({ length: 5 }, () => pipeline.queue.deliveries.sendMessage(encodeQueueBody(job(u)))));
    }
    await eventually(async () => ((await pipeline.queue.deliveries.getProperties()).approximateMessagesCount === 0 ? true : undefined), 20_000, 'queue drained');
    for (const u of users) expect(connector.delivered(u.personalConversationId as string)).toHaveLength(1);
  });

  it('with duplicate jobs racing before the first send, still exactly one message per recipient', async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    // A slow connector widens the window in which both copies are in flight.
    connector.script({ op: 'send', conversationId: chat }, [{ delayMs: 700, then: { ok: true } }]);
    const id = await notify([{ type: 'user', aadObjectId: user.aadObjectId }]);
    const copy = firstJob(id, user.aadObjectId);
    await Promise.all(Array.from({ length: 4 }, () => pipeline.queue.deliveries.sendMessage(encodeQueueBody(copy))));
    await completed(id);
    await eventually(async () => ((await pipeline.queue.deliveries.getProperties()).approximateMessagesCount === 0 ? true : undefined), 30_000, 'queue drained');
    expect(connector.delivered(chat)).toHaveLength(1);
  }, 40_000);

  it('posts to a team (new thread in General), a channel, and replies in a thread', async () => {
    const team = { teamId: '19:team-general@thread.tacv2', generalChannelId: '19:team-general@thread.tacv2' };
    await knownTeam(team.teamId, 'Ops');
    const id = await notify([
      { type: 'team', teamId: team.teamId },
      { type: 'channel', teamId: team.teamId, channelId: '19:alerts@thread.tacv2' },
      { type: 'channel', teamId: team.teamId, channelId: '19:alerts@thread.tacv2', replyToId: '1700000000000' },
    ]);
    const done = await completed(id);
    expect(done.counts).toMatchObject({ total: 3, delivered: 3 });
    const creates = connector.calls.filter((c) => c.op === 'createConversation');
    expect(creates.map((c) => (c.body as { channelData: { channel: { id: string } } }).channelData.channel.id).sort()).toEqual([
      '19:alerts@thread.tacv2',
      team.generalChannelId,
    ]);
    expect(sendsTo('19:alerts@thread.tacv2;messageid=1700000000000')).toHaveLength(1);
    const general = done.recipients.find((r) => r.recipient.type === 'team');
    expect(general?.conversationId).toMatch(/^19:team-general@thread\.tacv2;messageid=.+/);
    expect(general?.activityId).toBe(general?.conversationId?.split(';messageid=')[1]);
  });

  it("an opted-out user's personal chat named by conversation id is skipped too", async () => {
    const user = await knownUser({ chat: true });
    const chat = user.personalConversationId as string;
    await pipeline.services.conversations.saveConversation({
      conversationId: chat,
      kind: 'personal',
      userId: user.userId,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot-1',
      active: true,
      updatedAt: new Date().toISOString(),
    });
    await pipeline.services.optOuts.optOut(userSubject(TENANT, user.userId));
    const done = await completed(await notify([{ type: 'conversation', conversationId: chat }]));
    expect(done.recipients[0]).toMatchObject({ status: 'skipped', reason: 'opted-out', attempts: 0 });
    expect(connector.calls).toHaveLength(0);
  });

  it('a muted team, channel or group chat ends skipped / opted-out with zero connector calls; the others still get it', async () => {
    const teamId = '19:muted-general@thread.tacv2';
    await knownTeam(teamId, 'Muted');
    const groupChat = '19:muted-group-chat@thread.v2';
    const storedChannel = '19:muted-stored-channel@thread.tacv2';
    for (const [conversationId, kind] of [[groupChat, 'groupChat'], [storedChannel, 'channel']] as const) {
      await pipeline.services.conversations.saveConversation({
        conversationId,
        kind,
        ...(kind === 'channel' && { teamId }),
        serviceUrl: connector.serviceUrl,
        tenantId: TENANT,
        botId: 'bot-1',
        active: true,
        updatedAt: new Date().toISOString(),
      });
    }
    // Muted the way the bot mutes them: from a message in some thread of the channel, or in the chat.
    await pipeline.services.optOuts.optOut(conversationSubject(TENANT, `${teamId};messageid=1700000000001`), { userId: '29:megan', name: 'Megan Bowen' });
    await pipeline.services.optOuts.optOut(conversationSubject(TENANT, '19:muted-alerts@thread.tacv2;messageid=1700000000002'));
    await pipeline.services.optOuts.optOut(conversationSubject(TENANT, groupChat));
    await pipeline.services.optOuts.optOut(conversationSubject(TENANT, storedChannel));

    const done = await completed(
      await notify([
        { type: 'team', teamId },
        { type: 'channel', teamId, channelId: '19:muted-alerts@thread.tacv2' },
        { type: 'channel', teamId, channelId: '19:muted-alerts@thread.tacv2', replyToId: '1700000000003' },
        { type: 'conversation', conversationId: groupChat },
        { type: 'conversation', conversationId: storedChannel },
      ]),
    );
    expect(done.counts).toMatchObject({ total: 5, skipped: 5, delivered: 0 });
    for (const r of done.recipients) {
      expect(r).toMatchObject({ status: 'skipped', reason: 'opted-out', attempts: 0 });
      expect(r.detail).toMatch(/muted this (channel|group chat).*"stop".*"start"/);
    }
    expect(done.recipients.find((r) => r.recipient.type === 'conversation' && r.recipient.conversationId === groupChat)?.detail).toMatch(/group chat/);
    expect(connector.calls).toHaveLength(0);

    // Another channel of the same team is not muted; and once unmuted, General gets it again.
    await pipeline.services.optOuts.optIn(conversationSubject(TENANT, teamId));
    const after = await completed(await notify([{ type: 'team', teamId }, { type: 'channel', teamId, channelId: '19:loud@thread.tacv2' }]));
    expect(after.counts).toMatchObject({ total: 2, delivered: 2 });
  });

  it('the notification card says how to stop it where it lands: a personal chat, a channel, a group chat', async () => {
    const user = await knownUser({ chat: true });
    const teamId = '19:footer-general@thread.tacv2';
    await knownTeam(teamId);
    const groupChat = '19:footer-group-chat@thread.v2';
    await pipeline.services.conversations.saveConversation({
      conversationId: groupChat,
      kind: 'groupChat',
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot-1',
      active: true,
      updatedAt: new Date().toISOString(),
    });
    const done = await completed(
      await notify([{ type: 'user', aadObjectId: user.aadObjectId }, { type: 'team', teamId }, { type: 'conversation', conversationId: groupChat }], {
        message: { template: 'notification', data: { title: 'Disk almost full', whatHappened: 'db-1 is at 91%.' } },
      }),
    );
    expect(done.counts).toMatchObject({ delivered: 3 });
    const button = (conversationPrefix: string) => {
      const message = connector.delivered().find((m) => m.conversationId.startsWith(conversationPrefix));
      const attachments = message?.activity.attachments as { content: { actions: { type: string; title: string }[] } }[] | undefined;
      expect(message?.activity.summary).toBe('Disk almost full');
      return attachments?.[0]?.content.actions.find((a) => a.type === 'Action.Submit')?.title;
    };
    expect(button(user.personalConversationId as string)).toBe('Stop these notifications');
    expect(button(teamId)).toBe('Mute this channel for everyone');
    expect(button(groupChat)).toBe('Mute this chat for everyone');
  });

  it('an unknown user or team ends not-installed without any connector call', async () => {
    const id = await notify([
      { type: 'user', aadObjectId: '99999999-9999-9999-9999-999999999999' },
      { type: 'team', teamId: '19:unknown@thread.tacv2' },
      { type: 'conversation', conversationId: 'a:never-seen' },
    ]);
    const done = await completed(id);
    expect(done.recipients.map((r) => r.reason)).toEqual(['not-installed', 'not-installed', 'not-installed']);
    expect(connector.calls).toHaveLength(0);
  });

  it('expands teamMembers page by page into 1:1 messages, one per member', async () => {
    const teamId = '19:roster@thread.tacv2';
    await knownTeam(teamId);
    const members = Array.from({ length: 5 }, (_, i) => ({ id: `29:member-${i}`, aadObjectId: `aad-member-${i}`, name: `Member ${i}` }));
    connector.setTeamMembers(teamId, members);
    const id = await notify([{ type: 'teamMembers', teamId }]);
    const done = await eventually(async () => {
      const body = await status(id);
      return body.status === 'completed' && body.counts.total === 5 ? body : undefined;
    }, 30_000, 'five members delivered');
    expect(done.counts).toMatchObject({ total: 5, delivered: 5, pending: 0 });
    expect(connector.calls.filter((c) => c.op === 'getPagedMembers')).toHaveLength(3);
    for (const m of members) expect(connector.delivered(`a:fake-${m.id}`)).toHaveLength(1);
  });

  it('a team roster does not bring back someone who removed the app: the row kept by Entra id stays uninstalled', async () => {
    const teamId = '19:roster-removed@thread.tacv2';
    await knownTeam(teamId);
    const aadObjectId = 'aad-removed-member';
    // Known only by Entra id (as after a proactive install), then they removed the app.
    await pipeline.services.conversations.saveUser({ aadObjectId, tenantId: TENANT, serviceUrl: connector.serviceUrl, botId: 'bot-1', installed: false, updatedAt: new Date().toISOString() });
    connector.setTeamMembers(teamId, [{ id: '29:removed-member', aadObjectId, name: 'Removed' }]);
    const id = await notify([{ type: 'teamMembers', teamId }]);
    const done = await eventually(async () => {
      const body = await status(id);
      return body.status === 'completed' && body.counts.total === 1 ? body : undefined;
    }, 30_000, 'the roster planned');
    expect(done.recipients[0]).toMatchObject({ status: 'failed', reason: 'not-installed' });
    expect(connector.delivered('a:fake-29:removed-member')).toHaveLength(0);
    expect(await pipeline.services.conversations.findUser({ type: 'user', userId: '29:removed-member' })).toMatchObject({ installed: false, aadObjectId });
  });

  it('dead-letters a poison message at once, with its reason, and never retries it', async () => {
    await pipeline.queue.deliveries.sendMessage(encodeQueueBody('{"this is": "not a job"'));
    await pipeline.queue.deliveries.sendMessage(encodeQueueBody({ v: 1, kind: 'deliver', notificationId: 'n1' }));
    const letters = await eventually(async () => {
      const peeked = await pipeline.queue.deadLetters.peekMessages({ numberOfMessages: 32 });
      const poison = peeked.peekedMessageItems
        .map((m) => JSON.parse(decodeQueueBody(m.messageText)) as { reason: string; description: string; body: string })
        .filter((l) => l.reason === 'invalid-job');
      return poison.length >= 2 ? poison : undefined;
    }, 20_000, 'poison dead-lettered');
    expect(letters.map((l) => l.description).join('\n')).toMatch(/not JSON/);
    expect(letters.map((l) => l.description).join('\n')).toMatch(/recipientKey|recipient/);
    await eventually(async () => ((await pipeline.queue.deliveries.getProperties()).approximateMessagesCount === 0 ? true : undefined), 10_000, 'queue drained');
  });

  it('DELETE cancels a scheduled notification: every recipient skipped (cancelled), nothing sent', async () => {
    const users = await Promise.all([knownUser({ chat: true }), knownUser({ chat: true })]);
    const id = await notify(
      users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })),
      { sendAt: new Date(Date.now() + 3000).toISOString() },
    );
    expect((await status(id)).status).toBe('scheduled');
    const res = await pipeline.api(`/api/notifications/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id, status: 'cancelled', statusUrl: `/api/notifications/${id}` });
    expect((await status(id)).status).toBe('cancelled');
    // The recipients end skipped in the background (a cancel pass on the queue).
    const body = await eventually(async () => {
      const now = await status(id);
      return now.counts.skipped === 2 ? now : undefined;
    }, 10_000, 'both skipped');
    expect(body.status).toBe('cancelled');
    expect(body.counts).toMatchObject({ total: 2, skipped: 2, pending: 0 });
    expect(body.recipients.map((r) => r.reason)).toEqual(['cancelled', 'cancelled']);
    // The scheduled jobs still come due: they find the recipients settled and send nothing.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect(connector.calls).toHaveLength(0);
    expect((await pipeline.api('/api/notifications/n0000000000unknown', { method: 'DELETE' })).status).toBe(404);
  }, 20_000);

  it('a fan-out cancelled before it expands sends to nobody', async () => {
    await knownUser({ chat: true });
    const id = await notify([{ type: 'allUsers' }], { sendAt: new Date(Date.now() + 2000).toISOString() });
    expect((await pipeline.api(`/api/notifications/${id}`, { method: 'DELETE' })).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const body = await status(id);
    expect(body.status).toBe('cancelled');
    expect(body.counts).toMatchObject({ total: 1, skipped: 1, delivered: 0 });
    expect(connector.calls).toHaveLength(0);
  }, 20_000);

  it('Idempotency-Key: concurrent identical requests make one notification and one send', async () => {
    const user = await knownUser({ chat: true });
    const key = `deploy-${userSeq}`;
    const body = { recipients: [{ type: 'user', aadObjectId: user.aadObjectId }], message: { text: 'Once only' } };
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 8 }, () => 202));
    const ids = new Set(await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id)));
    expect(ids.size).toBe(1);
    await completed([...ids][0] as string);
    expect(connector.delivered(user.personalConversationId as string)).toHaveLength(1);

    const conflict = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ ...body, message: { text: 'Something else' } }),
    });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe('tenant allow-list on delivery', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({ env: { ALLOWED_TENANT_IDS: 'Tenant-OK, tenant-also-ok' } });
    pipeline.startWorker();
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });

  it('refuses targets in other tenants with tenant-not-allowed and no connector call; allUsers reaches only allowed personal installs', async () => {
    const save = (n: number, tenantId: string, hasPersonalApp = true) =>
      pipeline.services.conversations.saveUser({
        userId: `29:allow-${n}`,
        aadObjectId: `allow-aad-${n}`,
        personalConversationId: `a:allow-${n}`,
        serviceUrl: connector.serviceUrl,
        tenantId,
        botId: 'bot-1',
        installed: true,
        hasPersonalApp,
        updatedAt: new Date().toISOString(),
      });
    await save(1, 'tenant-ok');
    await save(2, 'tenant-elsewhere');
    // Only a member of a team with the app: reachable one to one, but not an installation of its own.
    await save(3, 'tenant-ok', false);
    const post = async (recipients: unknown[]) => {
      const res = await pipeline.api('/api/notifications', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ recipients, message: { text: 'allow-list' } }),
      });
      return ((await res.json()) as { id: string }).id;
    };
    const done = async (id: string) =>
      eventually(async () => {
        const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as StatusBody;
        return body.status === 'completed' ? body : undefined;
      });

    const direct = await done(await post([{ type: 'user', aadObjectId: 'allow-aad-1' }, { type: 'user', aadObjectId: 'allow-aad-2' }]));
    expect(direct.recipients.map((r) => [r.status, r.reason])).toEqual([
      ['delivered', undefined],
      ['failed', 'tenant-not-allowed'],
    ]);
    expect(connector.calls.filter((c) => c.conversationId === 'a:allow-2')).toHaveLength(0);

    const everyone = await done(await post([{ type: 'allUsers' }]));
    expect(everyone.counts).toMatchObject({ total: 1, delivered: 1 });
    expect(connector.delivered('a:allow-2')).toHaveLength(0);
    expect(connector.delivered('a:allow-3')).toHaveLength(0);
  });
});

describe('a fan-out that finds nobody', () => {
  it('completes with zero recipients instead of staying in sending', async () => {
    const pipeline = await startTestPipeline();
    try {
      pipeline.startWorker();
      const res = await pipeline.api('/api/notifications', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ recipients: [{ type: 'allTeams' }], message: { text: 'to nobody' } }),
      });
      const { id } = (await res.json()) as { id: string };
      const done = await eventually(async () => {
        const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as StatusBody;
        return body.status === 'completed' ? body : undefined;
      }, 15_000, 'completed');
      expect(done.counts).toEqual({ total: 0, pending: 0, delivered: 0, failed: 0, skipped: 0, recalled: 0, read: 0 });
      expect(done.recipients).toEqual([]);
    } finally {
      await pipeline.stop();
    }
  });
});
