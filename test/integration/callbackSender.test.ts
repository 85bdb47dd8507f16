import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completedEvent, recipientFailedEvent, serializeEvent } from '../../shared/callbacks/callbackEvent';
import { CALLBACK_USER_AGENT, HttpCallbackSender } from '../../shared/callbacks/callbackSender';
import type { LookupAll } from '../../shared/callbacks/callbackUrl';
import { signBody } from '../../shared/callbacks/signature';
import { startCallbackReceiver, type CallbackReceiver } from '../support/callbackReceiver';
import { freePort } from '../support/freePort';

const KEY = 'callback-signing-key-for-tests-0123456789';
const LOCAL = { signingKey: KEY, allowLoopback: true };

const completed = completedEvent({ notificationId: 'n1', status: 'completed', counts: { total: 2, pending: 0, delivered: 1, failed: 1, skipped: 0 } });
const failed = recipientFailedEvent({
  notificationId: 'n1',
  recipientKey: 'u-1',
  recipient: { type: 'user', aadObjectId: '00000000-0000-0000-0000-000000000001' },
  reason: 'blocked-by-user',
  detail: '403 Forbidden: the user blocked the bot',
});

describe('HttpCallbackSender', () => {
  let receiver: CallbackReceiver;
  const others: { close(): Promise<void> }[] = [];

  beforeEach(async () => {
    receiver = await startCallbackReceiver({ key: KEY });
  });
  afterEach(async () => {
    await receiver.close();
    await Promise.all(others.splice(0).map((o) => o.close()));
  });

  it('delivers each event signed, with its id and type, as the exact bytes signed', async () => {
    const sender = new HttpCallbackSender(LOCAL);
    expect(await sender.post(receiver.url, completed)).toEqual({ kind: 'delivered', status: 200 });
    expect(await sender.post(receiver.url, failed)).toEqual({ kind: 'delivered', status: 200 });

    expect(receiver.events).toEqual([completed, failed]);
    const [first] = receiver.deliveries;
    expect(first).toMatchObject({ verified: true, status: 200, body: serializeEvent(completed) });
    expect(first?.headers).toMatchObject({
      'content-type': 'application/json',
      'x-signature-256': signBody(serializeEvent(completed), KEY),
      'x-event-id': 'n1:completed',
      'x-event-type': 'notification.completed',
      'user-agent': CALLBACK_USER_AGENT,
    });
  });

  it('a receiver with another key answers 401: a retry, never delivered', async () => {
    const attempt = await new HttpCallbackSender({ ...LOCAL, signingKey: 'another-key-of-at-least-32-characters' }).post(receiver.url, completed);
    expect(attempt).toEqual({ kind: 'retry', detail: expect.stringMatching(/^401 Unauthorized: the receiver rejected the event/) });
    expect(receiver.deliveries).toEqual([expect.objectContaining({ verified: false, status: 401 })]);
    expect(receiver.events).toEqual([]);
  });

  it('retries while the receiver fails, then delivers; a redelivery is dropped by its id', async () => {
    const sender = new HttpCallbackSender(LOCAL);
    receiver.failNext(2);
    expect(await sender.post(receiver.url, completed)).toEqual({ kind: 'retry', detail: '503 Service Unavailable: "not now"' });
    expect(await sender.post(receiver.url, completed)).toMatchObject({ kind: 'retry' });
    expect(await sender.post(receiver.url, completed)).toEqual({ kind: 'delivered', status: 200 });
    // At least once: the queue may send it again, and the receiver keeps it once.
    expect(await sender.post(receiver.url, completed)).toEqual({ kind: 'delivered', status: 200 });

    expect(receiver.deliveries.map((d) => [d.status, d.verified])).toEqual([[503, true], [503, true], [200, true], [200, true]]);
    expect(new Set(receiver.deliveries.map((d) => d.body)).size).toBe(1);
    expect(receiver.events).toEqual([completed]);
  });

  it('passes on Retry-After from a 429', async () => {
    receiver.failNext(1, 429, { 'retry-after': '7' });
    expect(await new HttpCallbackSender(LOCAL).post(receiver.url, completed)).toEqual({
      kind: 'retry',
      detail: expect.stringMatching(/^429 Too Many Requests/),
      retryAfterMs: 7000,
    });
  });

  it('never follows a redirect: a retry, and its target sees nothing', async () => {
    const elsewhere = await startCallbackReceiver({ key: KEY });
    others.push(elsewhere);
    receiver.failNext(1, 307, { location: elsewhere.url });
    const attempt = await new HttpCallbackSender(LOCAL).post(receiver.url, completed);
    expect(attempt).toEqual({ kind: 'retry', detail: expect.stringMatching(/^307 Temporary Redirect: redirect not followed/) });
    expect(elsewhere.deliveries).toEqual([]);
  });

  it('refuses loopback when not running locally, without sending anything', async () => {
    const toLoopback: LookupAll = async () => [{ address: '127.0.0.1', family: 4 }];
    const sender = new HttpCallbackSender({ signingKey: KEY, allowLoopback: false, lookup: toLoopback });
    const port = new URL(receiver.url).port;
    for (const url of [receiver.url, `http://localhost:${port}/callbacks`, `https://127.0.0.1:${port}/`]) {
      expect(await sender.post(url, completed)).toEqual({ kind: 'refused', detail: expect.stringMatching(/loopback/) });
    }
    // A public-looking name that resolves to loopback (or rebinds to it) is refused at send time.
    expect(await sender.post(`https://hooks.example.com:${port}/callbacks`, completed)).toEqual({
      kind: 'refused',
      detail: expect.stringMatching(/hooks\.example\.com resolves to 127\.0\.0\.1, loopback/),
    });
    expect(receiver.deliveries).toEqual([]);
  });

  it('connects to the address it checked, keeping the name for the Host header', async () => {
    // The system cannot resolve this name: the POST arrives only if the connection used the checked address.
    const lookup = jest.fn<ReturnType<LookupAll>, Parameters<LookupAll>>(async () => [{ address: '127.0.0.1', family: 4 }]);
    const port = new URL(receiver.url).port;
    const attempt = await new HttpCallbackSender({ ...LOCAL, lookup }).post(`http://receiver.localhost:${port}/callbacks`, completed);
    expect(attempt).toEqual({ kind: 'delivered', status: 200 });
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(receiver.deliveries[0]?.headers.host).toBe(`receiver.localhost:${port}`);
  });

  it('retries on a refused connection and on a receiver that does not answer in time', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    expect(await new HttpCallbackSender(LOCAL).post(closed, completed)).toEqual({ kind: 'retry', detail: expect.stringMatching(/ECONNREFUSED/) });

    const silent: Server = createServer(() => undefined); // never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    others.push({
      close: () =>
        new Promise<void>((resolve) => {
          silent.closeAllConnections();
          silent.close(() => resolve());
        }),
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    expect(await new HttpCallbackSender({ ...LOCAL, timeoutMs: 200 }).post(url, completed)).toEqual({ kind: 'retry', detail: 'no answer within 0.2 s' });
  });

  it('quotes only a little of a large answer', async () => {
    const chatty: Server = createServer((_req, res) => res.writeHead(500).end('x'.repeat(1_000_000)));
    await new Promise<void>((resolve) => chatty.listen(0, '127.0.0.1', resolve));
    others.push({ close: () => new Promise<void>((resolve) => chatty.close(() => resolve())) });
    const url = `http://127.0.0.1:${(chatty.address() as AddressInfo).port}/`;
    const attempt = await new HttpCallbackSender(LOCAL).post(url, completed);
    expect(attempt).toMatchObject({ kind: 'retry', detail: expect.stringMatching(/^500 Internal Server Error: "x{200}\.\.\."$/) });
  });
});
