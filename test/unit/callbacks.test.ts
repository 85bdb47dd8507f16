import { completedEvent, recalledEvent, recipientFailedEvent, serializeEvent, type CallbackEvent } from '../../shared/callbacks/callbackEvent';
import { checkCallbackUrl, MAX_CALLBACK_URL_LENGTH, resolveSafeAddress, type LookupAll } from '../../shared/callbacks/callbackUrl';
import { signBody, verifySignature } from '../../shared/callbacks/signature';

const KEY = 'k'.repeat(32);
const LOCAL = { allowLoopback: true };
const AZURE = { allowLoopback: false };

const event: CallbackEvent = completedEvent({
  notificationId: 'n1',
  status: 'completed',
  counts: { total: 3, pending: 0, delivered: 2, failed: 1, skipped: 0 },
  occurredAt: '2025-01-02T03:04:05.000Z',
});

describe('signature', () => {
  it('is the hex HMAC-SHA256 of the body, prefixed sha256=', () => {
    // RFC-style known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    expect(signBody('The quick brown fox jumps over the lazy dog', 'key')).toBe('sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  });

  it('verifies what it signed, and nothing tampered with', () => {
    const body = serializeEvent(event);
    const header = signBody(body, KEY);
    expect(verifySignature(body, header, KEY)).toBe(true);
    expect(verifySignature(body.replace('"delivered":2', '"delivered":3'), header, KEY)).toBe(false);
    expect(verifySignature(body, header, 'x'.repeat(32))).toBe(false);
    expect(verifySignature(body, undefined, KEY)).toBe(false);
    expect(verifySignature(body, '', KEY)).toBe(false);
    expect(verifySignature(body, header.slice(0, -1), KEY)).toBe(false); // shorter: no throw from timingSafeEqual
    expect(verifySignature(body, header.slice('sha256='.length), KEY)).toBe(false);
    expect(verifySignature(body, `${header.slice(0, -1)}${header.endsWith('0') ? '1' : '0'}`, KEY)).toBe(false);
  });

  it('signs the exact bytes: the same JSON re-serialized differently does not verify', () => {
    const body = serializeEvent(event);
    const header = signBody(body, KEY);
    expect(verifySignature(JSON.stringify(JSON.parse(body), null, 2), header, KEY)).toBe(false);
    const unicode = serializeEvent({ ...event, notificationId: 'n-é-✓' });
    expect(verifySignature(unicode, signBody(unicode, KEY), KEY)).toBe(true);
  });
});

describe('events', () => {
  it('serialize to the same bytes however they were built', () => {
    const reordered = JSON.parse('{"occurredAt":"2025-01-02T03:04:05.000Z","counts":{"skipped":0,"failed":1,"delivered":2,"pending":0,"total":3},"status":"completed","type":"notification.completed","notificationId":"n1","id":"n1:completed"}') as CallbackEvent;
    expect(serializeEvent(reordered)).toBe(serializeEvent(event));
    expect(JSON.parse(serializeEvent(event))).toEqual(event);
  });

  it('keep one id per fact, whenever they are built', () => {
    const later = completedEvent({ notificationId: 'n1', status: 'completed', counts: {}, occurredAt: '2030-01-01T00:00:00.000Z' });
    expect(later.id).toBe(event.id);
    expect(event.id).toBe('n1:completed');
    const failed = (recipientKey: string) =>
      recipientFailedEvent({ notificationId: 'n1', recipientKey, recipient: { type: 'user', aadObjectId: 'a' }, reason: 'blocked-by-user', detail: '403' });
    expect(failed('r1').id).toBe(failed('r1').id);
    expect(failed('r1').id).not.toBe(failed('r2').id);
    expect(failed('r1')).not.toHaveProperty('recipientKey');
    expect(recalledEvent({ notificationId: 'n1', counts: { recalled: 2 } }).id).toBe('n1:recalled');
    expect(new Set([event.id, failed('r1').id, recalledEvent({ notificationId: 'n1', counts: {} }).id]).size).toBe(3);
  });

  it('carry an ISO occurredAt by default', () => {
    const { occurredAt } = recalledEvent({ notificationId: 'n1', counts: {} });
    expect(new Date(occurredAt).toISOString()).toBe(occurredAt);
  });
});

describe('checkCallbackUrl', () => {
  const refused = (url: string, options = AZURE) => {
    const result = checkCallbackUrl(url, options);
    return result.ok ? undefined : result.reason;
  };

  it('accepts https to a name or a public address', () => {
    expect(checkCallbackUrl('https://hooks.example.com/teams?x=1', AZURE)).toMatchObject({ ok: true });
    expect(checkCallbackUrl('https://8.8.8.8:8443/cb', AZURE)).toMatchObject({ ok: true });
    expect(checkCallbackUrl('https://[2606:4700:4700::1111]/cb', AZURE)).toMatchObject({ ok: true });
  });

  it('refuses anything but https, and http unless it goes to loopback locally', () => {
    expect(refused('http://hooks.example.com/')).toMatch(/must be https/);
    expect(refused('http://hooks.example.com/', LOCAL)).toMatch(/https \(or http to loopback\)/);
    expect(refused('ftp://hooks.example.com/')).toMatch(/must be https/);
    expect(refused('hooks.example.com/cb')).toMatch(/not an absolute URL/);
    expect(refused('')).toMatch(/not an absolute URL/);
  });

  it('allows loopback, over http too, only when running locally', () => {
    for (const url of ['http://127.0.0.1:7071/cb', 'http://localhost:1/', 'https://localhost/', 'http://[::1]:9/', 'http://a.localhost/', 'http://127.1.2.3/']) {
      expect(checkCallbackUrl(url, LOCAL)).toMatchObject({ ok: true });
      expect(refused(url)).toMatch(/loopback/);
    }
    // WHATWG URL parsing normalizes other spellings of 127.0.0.1 first.
    expect(refused('https://0x7f.1/')).toMatch(/loopback/);
    expect(refused('https://2130706433/')).toMatch(/loopback/);
  });

  it('refuses credentials, fragments and overlong URLs', () => {
    expect(refused('https://user:pass@hooks.example.com/')).toMatch(/user name or password/);
    expect(refused('https://user@hooks.example.com/')).toMatch(/user name or password/);
    expect(refused('https://hooks.example.com/#x')).toMatch(/fragment/);
    expect(refused('https://hooks.example.com/#')).toMatch(/fragment/);
    const base = 'https://hooks.example.com/';
    expect(checkCallbackUrl(base + 'a'.repeat(MAX_CALLBACK_URL_LENGTH - base.length), AZURE)).toMatchObject({ ok: true });
    expect(refused(base + 'a'.repeat(MAX_CALLBACK_URL_LENGTH - base.length + 1))).toMatch(/longer than 2048/);
  });

  it('refuses a literal non-public address without DNS', () => {
    expect(refused('https://10.1.2.3/')).toMatch(/private 10\.0\.0\.0\/8/);
    expect(refused('https://169.254.169.254/metadata', LOCAL)).toMatch(/metadata/);
    expect(refused('https://[::ffff:10.0.0.1]/')).toMatch(/IPv4-mapped 10\.0\.0\.1, private/);
  });
});

describe('resolveSafeAddress', () => {
  /** Every range that is not the public internet, with a name for the reason. */
  const unsafe: readonly (readonly [address: string, why: RegExp])[] = [
    ['10.0.0.1', /private 10\.0\.0\.0\/8/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private 172\.16\.0\.0\/12/],
    ['172.31.255.254', /private/],
    ['192.168.1.1', /private 192\.168\.0\.0\/16/],
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['169.254.0.1', /link-local/],
    ['169.254.169.254', /metadata/],
    ['168.63.129.16', /wireserver/],
    ['0.0.0.0', /this network/],
    ['0.1.2.3', /this network/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.254', /CGNAT/],
    ['255.255.255.255', /broadcast/],
    ['198.18.0.1', /benchmarking/],
    ['198.19.255.255', /benchmarking/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['192.0.0.8', /IETF/],
    ['192.0.2.1', /documentation/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fc00::1', /unique local/],
    ['fd12:3456::1', /unique local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf::1', /link-local/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /IPv4-mapped 10\.0\.0\.1, private/],
    ['::ffff:a00:1', /IPv4-mapped 10\.0\.0\.1, private/],
    ['::ffff:7f00:1', /IPv4-mapped 127\.0\.0\.1, loopback/],
    ['::ffff:169.254.169.254', /IPv4-mapped 169\.254\.169\.254, the instance metadata/],
    ['::ffff:0:192.168.0.1', /IPv4-translated 192\.168\.0\.1, private/],
    ['::10.0.0.1', /IPv4-compatible 10\.0\.0\.1, private/],
    ['::a9fe:a9fe', /IPv4-compatible 169\.254\.169\.254/],
    ['64:ff9b::10.0.0.1', /NAT64 10\.0\.0\.1, private/],
    ['64:ff9b::a9fe:a9fe', /NAT64 169\.254\.169\.254/],
    ['64:ff9b:1::1', /local-use NAT64/],
    ['2002:a00:1::1', /6to4 10\.0\.0\.1, private/],
    ['2002:7f00:1::', /6to4 127\.0\.0\.1, loopback/],
  ];
  const publicAddresses = ['8.8.8.8', '1.1.1.1', '20.50.2.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];

  const lookupOf =
    (...addresses: string[]): LookupAll =>
    async () =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it.each(unsafe)('refuses %s as a literal host and as what a name resolves to', async (address, why) => {
    const bare = address.split('%')[0] ?? address;
    const literal = bare.includes(':') ? `https://[${bare}]/cb` : `https://${bare}/cb`;
    const viaLiteral = await resolveSafeAddress(new URL(literal), { allowLoopback: false });
    expect(viaLiteral).toEqual({ ok: false, reason: expect.stringMatching(why) });
    const viaName = await resolveSafeAddress(new URL('https://hooks.example.com/cb'), { allowLoopback: false, lookup: lookupOf(address) });
    expect(viaName).toEqual({ ok: false, reason: expect.stringMatching(why) });
  });

  it.each(publicAddresses)('accepts the public address %s', async (address) => {
    const result = await resolveSafeAddress(new URL('https://hooks.example.com/cb'), { allowLoopback: false, lookup: lookupOf(address) });
    expect(result).toEqual({ ok: true, address, family: address.includes(':') ? 6 : 4 });
  });

  it('refuses a name when any one of its addresses is private, whichever comes first', async () => {
    const url = new URL('https://hooks.example.com/cb');
    for (const lookup of [lookupOf('8.8.8.8', '10.0.0.1'), lookupOf('10.0.0.1', '8.8.8.8'), lookupOf('2606:4700::1', 'fd00::1')]) {
      expect(await resolveSafeAddress(url, { allowLoopback: false, lookup })).toMatchObject({ ok: false, reason: expect.stringContaining('hooks.example.com resolves to') });
    }
  });

  it('checks a literal host without DNS', async () => {
    const lookup = jest.fn(lookupOf('8.8.8.8'));
    expect(await resolveSafeAddress(new URL('https://[2606:4700:4700::1111]/'), { allowLoopback: false, lookup })).toEqual({ ok: true, address: '2606:4700:4700::1111', family: 6 });
    expect(lookup).not.toHaveBeenCalled();
  });

  it('allows loopback locally, but nothing else private', async () => {
    const url = new URL('http://localhost:7071/cb');
    expect(await resolveSafeAddress(url, { allowLoopback: true, lookup: lookupOf('127.0.0.1', '::1') })).toEqual({ ok: true, address: '127.0.0.1', family: 4 });
    expect(await resolveSafeAddress(url, { allowLoopback: false, lookup: lookupOf('127.0.0.1') })).toMatchObject({ ok: false });
    expect(await resolveSafeAddress(new URL('https://hooks.example.com/'), { allowLoopback: true, lookup: lookupOf('10.0.0.1') })).toMatchObject({ ok: false });
  });

  it('sends plain http only to loopback, even locally', async () => {
    const result = await resolveSafeAddress(new URL('http://localhost/'), { allowLoopback: true, lookup: lookupOf('127.0.0.1', '8.8.8.8') });
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/http but host localhost resolves to 8\.8\.8\.8/) });
  });

  it('rejects (retry later, not refused) when the name does not resolve', async () => {
    const failing: LookupAll = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' });
    };
    await expect(resolveSafeAddress(new URL('https://nowhere.example/'), { allowLoopback: false, lookup: failing })).rejects.toThrow(/ENOTFOUND/);
    await expect(resolveSafeAddress(new URL('https://nowhere.example/'), { allowLoopback: false, lookup: lookupOf() })).rejects.toThrow(/no address/);
  });
});
