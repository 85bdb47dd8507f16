import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

/*
 * After the send: PATCH puts a new version in place of what Teams has, and recall deletes it, through
 * the queue and the tenant's budget, against the fake Bot Connector (which serves PUT and DELETE on
 * activities and keeps what each message now says).
 */

const TENANT = 'amend-tenant';
const BOT = 'bot-1';

interface Row {
  recipient: Record<string, string>;
  status: string;
  version?: number;
  editFailure?: { reason: string; detail: string };
  recallFailure?: { reason: string; detail: string };
  conversationId?: string;
  readReceipts?: string;
}
interface Status {
  status: string;
  counts: Record<string, number>;
  edits?: { version: number; delivered: Record<string, number>; failed: number };
  recipients: Row[];
}

describe('edit and recall what was sent', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let n = 0;

  beforeAll(async () => {
    connector = await startFakeConnector();
    pipeline = await startTestPipeline({ env: { SEND_RATE_PER_SECOND: '200' }, delivery: { backoff: { baseMs: 200, maxMs: 1_000 } } });
    pipeline.startWorker();
    await pipeline.services.conversations.saveTeam({ serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, teamId: '19:team@thread.tacv2', generalChannelId: '19:team@thread.tacv2', installed: true, updatedAt: new Date().toISOString() });
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  async function users(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      n += 1;
      const userId = `29:amend-${n}`;
      await pipeline.services.conversations.saveUser({ serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, userId, personalConversationId: `a:amend-${n}`, installed: true, hasPersonalApp: true, updatedAt: new Date().toISOString() });
      ids.push(userId);
    }
    return ids;
  }

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    return pipeline.api(path, { method, ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  }

  async function status(id: string): Promise<Status> {
    return (await (await pipeline.api(`/api/notifications/${id}`)).json()) as Status;
  }

  async function sent(userIds: readonly string[], text: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call('POST', '/api/notifications', { recipients: userIds.map((userId) => ({ type: 'user', userId })), message: { text }, ...extra });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    if (extra.sendAt === undefined) await eventually(async () => ((await status(id)).status === 'completed' ? true : undefined), 20_000, 'sent');
    return id;
  }

  const text = (conversationId: string): unknown[] => connector.delivered(conversationId).map((m) => m.activity.text);

  it('PATCH replaces the message in place for everyone who has it, with no new post, and the status says which version Teams has', async () => {
    const people = await users(3);
    const res0 = await call('POST', '/api/notifications', { recipients: [...people.map((userId) => ({ type: 'user', userId })), { type: 'team', teamId: '19:team@thread.tacv2' }], message: { text: 'Deploy at 5' } });
    const { id } = (await res0.json()) as { id: string };
    await eventually(async () => ((await status(id)).status === 'completed' ? true : undefined), 20_000, 'sent');
    const posts = connector.delivered().length;

    const patch = await call('PATCH', `/api/notifications/${id}`, { message: { text: 'Deploy at 6 (moved)' } });
    expect(patch.status).toBe(202);
    expect(await patch.json()).toMatchObject({ id, version: 2 });
    const done = await eventually(async () => {
      const s = await status(id);
      return s.edits?.delivered['2'] === 4 ? s : undefined;
    }, 30_000, 'every recipient at version 2');
    expect(done.edits).toEqual({ version: 2, delivered: { '2': 4 }, failed: 0 });
    expect(done.recipients.every((r) => r.version === 2)).toBe(true);
    expect(connector.delivered()).toHaveLength(posts); // edited in place: no new message
    for (const person of people) expect(text(`a:amend-${people.indexOf(person) + n - 2}`)).toEqual(['Deploy at 6 (moved)']);
    expect(connector.delivered('19:team@thread.tacv2').map((m) => [m.activity.text, m.edits])).toEqual([['Deploy at 6 (moved)', 1]]);
    expect(connector.calls.filter((c) => c.op === 'updateActivity')).toHaveLength(4);
    // Channel posts never get read receipts, and the status says so.
    expect(done.recipients.find((r) => r.recipient.type === 'team')?.readReceipts).toBe('not-in-channels-or-group-chats');
  });

  it('two quick edits end with the newest everywhere, and a recipient sent after an edit gets the new version', async () => {
    const people = await users(4);
    const id = await sent(people, 'v1');
    expect((await call('PATCH', `/api/notifications/${id}`, { message: { text: 'v2' } })).status).toBe(202);
    expect((await call('PATCH', `/api/notifications/${id}`, { message: { text: 'v3' } })).status).toBe(202);
    await eventually(async () => ((await status(id)).edits?.delivered['3'] === 4 ? true : undefined), 40_000, 'version 3 everywhere');
    // Nothing older arrives later.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    for (const m of connector.delivered()) expect(m.activity.text).toBe('v3');

    // Scheduled, edited before its time: sent as the new version, nothing to edit afterwards.
    connector.reset();
    const later = await users(1);
    const scheduled = await sent(later, 'old', { sendAt: new Date(Date.now() + 3_000).toISOString() });
    expect((await call('PATCH', `/api/notifications/${scheduled}`, { message: { text: 'new' } })).status).toBe(202);
    const s = await eventually(async () => {
      const now = await status(scheduled);
      return now.status === 'completed' ? now : undefined;
    }, 30_000, 'the scheduled send');
    expect(s.recipients[0]?.version).toBe(2);
    expect(connector.delivered().map((m) => m.activity.text)).toEqual(['new']);
    expect(connector.calls.filter((c) => c.op === 'updateActivity')).toHaveLength(0);
  }, 90_000);

  it('edits under 429 and 404 end in true statuses: retried after Retry-After, or recorded as failed with the reason', async () => {
    const [slow, gone, fine] = await users(3);
    const id = await sent([slow as string, gone as string, fine as string], 'before');
    const slowChat = `a:amend-${n - 2}`;
    const goneChat = `a:amend-${n - 1}`;
    connector.script({ op: 'updateActivity', conversationId: slowChat }, [{ status: 429, retryAfterSeconds: 1 }]);
    connector.script({ op: 'updateActivity', conversationId: goneChat }, [{ status: 404, code: 'ConversationNotFound' }]);
    expect((await call('PATCH', `/api/notifications/${id}`, { message: { text: 'after' } })).status).toBe(202);
    const s = await eventually(async () => {
      const now = await status(id);
      return now.edits !== undefined && now.edits.delivered['2'] === 2 && now.edits.failed === 1 ? now : undefined;
    }, 30_000, 'the edits settled');
    const byChat = new Map(s.recipients.map((r) => [r.conversationId, r]));
    expect(byChat.get(goneChat)).toMatchObject({ version: 1, editFailure: { reason: 'conversation-not-found' } });
    expect(byChat.get(slowChat)).toMatchObject({ version: 2 });
    expect(byChat.get(slowChat)?.editFailure).toBeUndefined();
    expect(text(slowChat)).toEqual(['after']);
    expect(connector.calls.filter((c) => c.op === 'updateActivity' && c.conversationId === slowChat).map((c) => c.status)).toEqual([429, 200]);
  });

  it('recall deletes every delivered message, skips what was not sent, says why a delete failed, and asked again deletes nothing twice', async () => {
    const [a, b, c, d] = await users(4);
    const id = await sent([a as string, b as string, c as string], 'oops');
    const bChat = `a:amend-${n - 2}`;
    const cChat = `a:amend-${n - 1}`;
    connector.script({ op: 'deleteActivity', conversationId: bChat }, [{ status: 429, retryAfterSeconds: 1 }]);
    connector.script({ op: 'deleteActivity', conversationId: cChat }, [{ status: 403, code: 'Forbidden' }]);
    const scheduled = await sent([d as string], 'not yet', { sendAt: new Date(Date.now() + 60_000).toISOString() });

    const recall = await call('POST', `/api/notifications/${id}/recall`);
    expect(recall.status).toBe(202);
    expect(await recall.json()).toMatchObject({ id, status: 'recalled' });
    const s = await eventually(async () => {
      const now = await status(id);
      return now.counts.recalled === 2 && now.recipients.some((r) => r.recallFailure !== undefined) ? now : undefined;
    }, 30_000, 'the recall settled');
    expect(s.status).toBe('recalled');
    expect(s.recipients.find((r) => r.conversationId === cChat)).toMatchObject({ status: 'delivered', recallFailure: { reason: 'not-installed' } });
    expect(connector.delivered().filter((m) => m.deleted).map((m) => m.conversationId).sort()).toEqual([`a:amend-${n - 3}`, bChat].sort());
    // Again: what is recalled is not deleted twice; the one whose delete failed is tried again.
    const deletesOf = (chat: string) => connector.calls.filter((x) => x.op === 'deleteActivity' && x.conversationId === chat).length;
    const before = [deletesOf(`a:amend-${n - 3}`), deletesOf(bChat)];
    expect((await call('POST', `/api/notifications/${id}/recall`)).status).toBe(202);
    await eventually(async () => ((await status(id)).counts.recalled === 3 ? true : undefined), 20_000, 'the failed delete tried again');
    expect([deletesOf(`a:amend-${n - 3}`), deletesOf(bChat)]).toEqual(before);
    // An edit after the recall is refused.
    expect((await call('PATCH', `/api/notifications/${id}`, { message: { text: 'x' } })).status).toBe(409);

    // Not sent yet: a recall skips it, and nothing ever reaches Teams.
    expect((await call('POST', `/api/notifications/${scheduled}/recall`)).status).toBe(202);
    // Its recipient ends skipped in the background (the recall's cancel pass, on the queue).
    const never = await eventually(async () => {
      const now = await status(scheduled);
      return now.recipients[0]?.status === 'skipped' ? now : undefined;
    }, 10_000, 'the scheduled recipient skipped');
    expect(never.status).toBe('recalled');
    expect(never.recipients[0]).toMatchObject({ status: 'skipped' });
  });

  it('a read receipt marks exactly the messages up to the one it names as read; receipts for other messages mark nothing', async () => {
    const [reader] = await users(1);
    const chat = `a:amend-${n}`;
    const first = await sent([reader as string], 'first');
    const second = await sent([reader as string], 'second');
    const idOf = async (id: string): Promise<string> => {
      const row = (await status(id)).recipients[0] as Row & { activityId: string };
      return row.activityId;
    };
    const receipt = (lastReadMessageId: string, conversationType = 'personal') => ({
      type: 'event',
      name: 'application/vnd.microsoft.readReceipt',
      value: { lastReadMessageId },
      id: `f:${n}-${lastReadMessageId}`,
      channelId: 'msteams',
      serviceUrl: connector.serviceUrl,
      from: { id: reader },
      recipient: { id: BOT },
      conversation: { id: chat, conversationType, tenantId: TENANT },
      channelData: { tenant: { id: TENANT } },
    });
    const post = async (activity: unknown) => (await pipeline.api('/api/messages', { method: 'POST', key: null, headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) })).status;

    // An id older than both: nothing this service sent is covered.
    expect(await post(receipt('1000'))).toBeLessThan(300);
    expect((await status(first)).counts.read).toBe(0);

    expect(await post(receipt(await idOf(first)))).toBeLessThan(300);
    const a = await status(first);
    expect(a.counts.read).toBe(1);
    expect((a.recipients[0] as Row & { readAt?: string }).readAt).toMatch(/^\d{4}-/);
    expect((await status(second)).counts.read).toBe(0);

    // A later receipt covers the second; the first keeps the time it was read.
    const readAt = (a.recipients[0] as Row & { readAt?: string }).readAt;
    expect(await post(receipt(await idOf(second)))).toBeLessThan(300);
    expect((await status(second)).counts.read).toBe(1);
    expect(((await status(first)).recipients[0] as Row & { readAt?: string }).readAt).toBe(readAt);
  });

  it('retry re-sends only to the failed whose reason can change, never to the delivered, and once per request', async () => {
    const [ok, flaky, blocked] = await users(3);
    const flakyChat = `a:amend-${n - 1}`;
    const blockedChat = `a:amend-${n}`;
    const stopFailing = connector.always({ op: 'send', conversationId: flakyChat }, { status: 503 });
    connector.always({ op: 'send', conversationId: blockedChat }, { status: 403, code: 'ConversationBlockedByUser' });
    const id = await sent([ok as string, flaky as string, blocked as string], 'hello');
    const before = await status(id);
    expect(before.counts).toMatchObject({ delivered: 1, failed: 2 });
    expect(before.recipients.map((r) => (r as Row & { reason?: string }).reason).sort()).toEqual(['blocked-by-user', 'retries-exhausted', undefined].sort());

    stopFailing();
    connector.reset();
    connector.always({ op: 'send', conversationId: blockedChat }, { status: 403, code: 'ConversationBlockedByUser' });
    const retry = await pipeline.api(`/api/notifications/${id}/retry`, { method: 'POST', headers: { 'idempotency-key': `retry-${id}` } });
    expect(retry.status).toBe(202);
    const after = await eventually(async () => {
      const now = await status(id);
      return now.status === 'completed' && now.counts.delivered === 2 ? now : undefined;
    }, 30_000, 'the resend');
    expect(after.counts).toMatchObject({ delivered: 2, failed: 1 });
    // Only the one that had failed for a reason that can change was sent again.
    expect(connector.calls.filter((c) => c.op === 'sendToConversation').map((c) => c.conversationId)).toEqual([flakyChat]);

    // The same request again starts nothing.
    const again = await pipeline.api(`/api/notifications/${id}/retry`, { method: 'POST', headers: { 'idempotency-key': `retry-${id}` } });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(connector.calls.filter((c) => c.op === 'sendToConversation')).toHaveLength(1);
    expect((await pipeline.api(`/api/notifications/${id}/retry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"expiresAt":"2000-01-01T00:00:00Z"}' })).status).toBe(400);
  }, 60_000);

  it('answers 400 naming the field for a bad edit, 404 for an unknown notification, and writes nothing', async () => {
    const [p] = await users(1);
    const id = await sent([p as string], 'ok');
    const bad = await call('PATCH', `/api/notifications/${id}`, { message: {} });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0]?.path).toMatch(/^message/);
    const extra = await call('PATCH', `/api/notifications/${id}`, { message: { text: 'x' }, recipients: [] });
    expect(extra.status).toBe(400);
    expect((await status(id)).edits).toBeUndefined();
    expect((await call('PATCH', '/api/notifications/n0000000000000000000000', { message: { text: 'x' } })).status).toBe(404);
    expect((await call('POST', '/api/notifications/n0000000000000000000000/recall')).status).toBe(404);
  });
});
