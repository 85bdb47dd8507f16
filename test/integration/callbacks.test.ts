import { createHmac } from 'node:crypto';
import type { CallbackEvent } from '../../shared/callbacks/callbackEvent';
import { startCallbackReceiver, type CallbackReceiver } from '../support/callbackReceiver';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

/*
 * Signed callbacks end to end: the local pipeline, the fake Bot Connector, and a receiver on
 * loopback that checks every signature with the few lines the README shows.
 */

const KEY = 'k'.repeat(16) + '-callbacks-test-signing-key-0123456789';
const TENANT = 'callback-tenant';
const BOT = 'bot-1';

describe('signed callbacks', () => {
  let connector: FakeConnector;
  let pipeline: TestPipeline;
  let receiver: CallbackReceiver;
  let n = 0;

  beforeAll(async () => {
    connector = await startFakeConnector();
    receiver = await startCallbackReceiver({ key: KEY });
    pipeline = await startTestPipeline({ env: { CALLBACK_SIGNING_KEY: KEY, SEND_RATE_PER_SECOND: '200' }, delivery: { callbackWindowMs: 8_000, backoff: { baseMs: 200, maxMs: 1_000 } } });
    pipeline.startWorker();
  });
  afterAll(async () => {
    await pipeline.stop();
    await receiver.close();
    await connector.close();
  });
  beforeEach(() => connector.reset());

  async function user(): Promise<{ userId: string; chat: string }> {
    n += 1;
    const userId = `29:cb-${n}`;
    const chat = `a:cb-${n}`;
    await pipeline.services.conversations.saveUser({ serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: BOT, userId, personalConversationId: chat, installed: true, hasPersonalApp: true, updatedAt: new Date().toISOString() });
    return { userId, chat };
  }

  async function post(body: unknown): Promise<Response> {
    return pipeline.api('/api/notifications', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  const eventsOf = (id: string): CallbackEvent[] => receiver.events.filter((e) => e.notificationId === id);

  it('signs every event, says which recipient failed and when the notification completed, and a receiver that fails for a while still gets them', async () => {
    const ok = await user();
    const blocked = await user();
    connector.always({ op: 'send', conversationId: blocked.chat }, { status: 403, code: 'ConversationBlockedByUser' });
    receiver.failNext(2);
    const res = await post({ recipients: [{ type: 'user', userId: ok.userId }, { type: 'user', userId: blocked.userId }], message: { text: 'hello' }, callbackUrl: `${receiver.url}/hooks/teams` });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    const events = await eventually(async () => {
      const got = eventsOf(id);
      return got.some((e) => e.type === 'notification.completed') && got.some((e) => e.type === 'recipient.failed') ? got : undefined;
    }, 30_000, 'both events');
    const failed = events.find((e) => e.type === 'recipient.failed');
    expect(failed).toMatchObject({ type: 'recipient.failed', recipient: { type: 'user', userId: blocked.userId }, reason: 'blocked-by-user' });
    const completed = events.find((e) => e.type === 'notification.completed');
    expect(completed).toMatchObject({ status: 'completed', counts: { total: 2, delivered: 1, failed: 1 } });
    // Every delivery was signed over its exact body; the two refused at first came again, with the same event ids.
    const mine = receiver.deliveries.filter((d) => d.body.includes(id));
    expect(mine.every((d) => d.verified)).toBe(true);
    for (const d of mine) {
      const expected = `sha256=${createHmac('sha256', KEY).update(d.body).digest('hex')}`;
      expect(d.headers['x-signature-256']).toBe(expected);
    }
    expect(mine.filter((d) => d.status >= 500)).toHaveLength(2);
    expect(new Set(mine.map((d) => d.headers['x-event-id'])).size).toBe(events.length);
    expect(events).toHaveLength(2);
  });

  it('says notification.recalled once the recall has deleted what was sent; a repeat of the event is dropped by its id', async () => {
    const a = await user();
    const res = await post({ recipients: [{ type: 'user', userId: a.userId }], message: { text: 'oops' }, callbackUrl: receiver.url });
    const { id } = (await res.json()) as { id: string };
    await eventually(async () => (eventsOf(id).some((e) => e.type === 'notification.completed') ? true : undefined), 30_000, 'completed');
    // Asked twice: each recall watches for its end and says so, with the same event id.
    expect((await pipeline.api(`/api/notifications/${id}/recall`, { method: 'POST' })).status).toBe(202);
    expect((await pipeline.api(`/api/notifications/${id}/recall`, { method: 'POST' })).status).toBe(202);
    const recalled = await eventually(async () => eventsOf(id).find((e) => e.type === 'notification.recalled'), 30_000, 'recalled');
    expect(recalled).toMatchObject({ counts: { recalled: 1 } });
    expect(connector.delivered(a.chat)[0]?.deleted).toBe(true);
    // At least once: the second arrives too, and the receiver drops it by its event id.
    await eventually(async () => (receiver.deliveries.filter((d) => d.headers['x-event-id'] === `${id}:recalled`).length >= 2 ? true : undefined), 30_000, 'the repeat');
    expect(eventsOf(id).filter((e) => e.type === 'notification.recalled')).toHaveLength(1);
  });

  it('records an event given up on after the retry window, on the notification', async () => {
    const a = await user();
    receiver.failNext(1_000);
    const res = await post({ recipients: [{ type: 'user', userId: a.userId }], message: { text: 'x' }, callbackUrl: receiver.url });
    const { id } = (await res.json()) as { id: string };
    const status = await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { callbacks?: { failed: number; lastFailure: { eventId: string } } };
      return body.callbacks;
    }, 40_000, 'the callback failure recorded');
    expect(status).toMatchObject({ failed: 1 });
    expect(status.lastFailure.eventId).toMatch(new RegExp(`^${id}:completed:\\d+$`));
    receiver.failNext(0);
  });

  it('refuses a callbackUrl that is not https or that names a private, link-local or metadata address, naming the field', async () => {
    const a = await user();
    for (const callbackUrl of ['http://example.com/hook', 'https://10.1.2.3/hook', 'https://169.254.169.254/latest', 'https://[fd00::1]/x', 'ftp://example.com', 'https://user:pw@example.com/']) {
      const res = await post({ recipients: [{ type: 'user', userId: a.userId }], message: { text: 'x' }, callbackUrl });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { errors: { path: string }[] }).errors[0]?.path).toBe('callbackUrl');
    }
  });
});
