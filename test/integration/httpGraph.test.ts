import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import type { DirectoryUser, GraphResult } from '../../shared/graph/graph';
import { HttpGraph } from '../../shared/graph/httpGraph';
import { isLoopbackUrl } from '../../shared/http/loopback';
import { freePort } from '../support/freePort';
import { startGraphTestPeer, type GraphTestPeer } from '../support/graphTestPeer';

const TENANT = 'tenant-1';
const APP = 'catalog-app-1';

function value<T>(result: GraphResult<T>): T {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.value;
}

async function allPages(next: (link?: string) => Promise<GraphResult<{ users: readonly DirectoryUser[]; nextLink?: string }>>) {
  const pages: (readonly DirectoryUser[])[] = [];
  let link: string | undefined;
  do {
    const page = value(await next(link));
    pages.push(page.users);
    link = page.nextLink;
  } while (link !== undefined);
  return pages;
}

describe('HttpGraph against the Graph test peer', () => {
  let peer: GraphTestPeer;
  let graph: HttpGraph;

  beforeEach(async () => {
    peer = await startGraphTestPeer();
    graph = new HttpGraph({ endpoint: peer.url });
    peer.addUsers([{ id: 'user-1', displayName: 'Ada' }, { id: 'user-2' }]);
  });

  afterEach(async () => {
    await peer.close();
  });

  it('installs for a user (201), then finds it already installed (409), binding the catalog app on the same host', async () => {
    expect(await graph.installForUser(TENANT, 'user-1', APP)).toEqual({ kind: 'ok', value: 'installed' });
    expect(await graph.installForUser(TENANT, 'user-1', APP)).toEqual({ kind: 'ok', value: 'already-installed' });
    const calls = peer.callsTo('installForUser', 'user-1');
    expect(calls.map((c) => c.status)).toEqual([201, 409]);
    expect(calls[0]?.body).toEqual({ 'teamsApp@odata.bind': `${peer.url}/v1.0/appCatalogs/teamsApps/${APP}` });
    expect(peer.installed('user', 'user-1')).toEqual([APP]);
  });

  it('a 403 is forbidden with Graph’s code, in the detail too; an unknown user is not-found', async () => {
    peer.forbid('user-2', 'Authorization_RequestDenied');
    const denied = await graph.installForUser(TENANT, 'user-2', APP);
    expect(denied).toMatchObject({ kind: 'forbidden', code: 'Authorization_RequestDenied' });
    expect(denied.kind !== 'ok' && denied.detail).toMatch(/^403 Forbidden: Authorization_RequestDenied: /);

    const missing = await graph.installForUser(TENANT, 'nobody', APP);
    expect(missing).toMatchObject({ kind: 'not-found', code: 'NotFound' });
    expect(missing.kind !== 'ok' && missing.detail).toMatch(/^404 Not Found: NotFound/);
  });

  it('429 is throttled with Retry-After in ms; 503 is throttled with Retry-After, transient without; 500 is transient', async () => {
    peer.failNext({ op: 'installForUser', times: 1, status: 429, retryAfterSeconds: 7 });
    expect(await graph.installForUser(TENANT, 'user-1', APP)).toMatchObject({ kind: 'throttled', retryAfterMs: 7000 });

    peer.failNext({ op: 'installForUser', times: 1, status: 429 });
    const bare = await graph.installForUser(TENANT, 'user-1', APP);
    expect(bare.kind).toBe('throttled');
    expect(bare).not.toHaveProperty('retryAfterMs');

    peer.failNext({ op: 'primaryChannel', times: 1, status: 503, retryAfterSeconds: 2 });
    peer.failNext({ op: 'primaryChannel', times: 1, status: 503 });
    peer.failNext({ op: 'primaryChannel', times: 1, status: 500 });
    expect(await graph.primaryChannel(TENANT, 'team-x')).toMatchObject({ kind: 'throttled', retryAfterMs: 2000 });
    expect(await graph.primaryChannel(TENANT, 'team-x')).toMatchObject({ kind: 'transient', detail: expect.stringMatching(/^503 Service Unavailable/) });
    expect(await graph.primaryChannel(TENANT, 'team-x')).toMatchObject({ kind: 'transient', detail: expect.stringMatching(/^500 /) });
    // Scripts used up: the normal answer again.
    expect(await graph.primaryChannel(TENANT, 'team-x')).toMatchObject({ kind: 'not-found', code: 'NotFound' });
  });

  it('a 2,500-member group with a nested group, a duplicate and a disabled account comes in 3 pages, each enabled user once', async () => {
    const ids = Array.from({ length: 2500 }, (_, i) => `u${i}`);
    peer.addUsers(ids.map((id) => ({ id, displayName: id.toUpperCase() })));
    peer.addUsers([{ id: 'disabled-1', accountEnabled: false }]);
    peer.addGroup('nested', ids.slice(1990));
    peer.addGroup('big', [...ids.slice(0, 2000), 'nested', 'disabled-1', 'u5']);

    const pages = await allPages((link) => graph.groupUsers(TENANT, 'big', link));
    expect(pages).toHaveLength(3);
    const seen = pages.flat().map((u) => u.id);
    expect(seen).toHaveLength(2500);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(pages[0]?.[1]).toEqual({ id: 'u1', displayName: 'U1' });

    const calls = peer.callsTo('groupUsers', 'big');
    expect(calls).toHaveLength(3);
    const first = new URLSearchParams(calls[0]?.query);
    expect(first.get('$top')).toBe('999');
    expect(first.get('$select')).toBe('id,displayName,accountEnabled');
    expect(calls.slice(1).every((c) => new URLSearchParams(c.query).has('$skiptoken'))).toBe(true);
  });

  it('the organization listing excludes guests and disabled accounts, pages with ConsistencyLevel, and counts', async () => {
    await peer.close();
    peer = await startGraphTestPeer({ pageSize: 2 });
    graph = new HttpGraph({ endpoint: peer.url });
    peer.addUsers([
      { id: 'm1' },
      { id: 'guest', userType: 'Guest' },
      { id: 'm2' },
      { id: 'off', accountEnabled: false },
      { id: 'm3' },
      { id: 'm4' },
      { id: 'm5' },
    ]);

    const pages = await allPages((link) => graph.organizationUsers(TENANT, link));
    expect(pages.map((p) => p.map((u) => u.id))).toEqual([['m1', 'm2'], ['m3', 'm4'], ['m5']]);
    const calls = peer.callsTo('organizationUsers');
    expect(calls.every((c) => c.consistencyLevel === 'eventual' && c.status === 200)).toBe(true);

    expect(await graph.countOrganizationUsers(TENANT)).toEqual({ kind: 'ok', value: 5 });
    peer.addGroup('g', ['m1', 'guest', 'off']);
    expect(await graph.countGroupUsers(TENANT, 'g')).toEqual({ kind: 'ok', value: 3 });
    expect(peer.callsTo('count').map((c) => [c.id, c.consistencyLevel])).toEqual([
      ['organization', 'eventual'],
      ['g', 'eventual'],
    ]);
    // Graph's counts are eventually consistent: the adapter reports what Graph says.
    peer.countOverride('g', 41);
    expect(await graph.countGroupUsers(TENANT, 'g')).toEqual({ kind: 'ok', value: 41 });
    // Without the header the peer refuses, as Graph does.
    const raw = await fetch(`${peer.url}/v1.0/users/$count`);
    expect(raw.status).toBe(400);
  });

  it('finds the personal chat through the installation, or says the app is not installed', async () => {
    const app = 'app-1'; // its installation id ends in '==', which must travel encoded
    expect(await graph.personalChatId(TENANT, 'user-1', app)).toMatchObject({ kind: 'not-found', code: 'AppNotInstalled' });
    peer.preinstall('user', 'user-1', 'other-app');
    peer.preinstall('user', 'user-1', app);
    expect(await graph.personalChatId(TENANT, 'user-1', app)).toEqual({ kind: 'ok', value: peer.chatIdFor('user-1') });
    const [lookup, chat] = peer.callsTo('personalChat', 'user-1').slice(-2);
    expect(new URLSearchParams(lookup?.query).get('$filter')).toBe(`teamsApp/id eq '${app}'`);
    expect(peer.installationIdFor('user-1', app)).toMatch(/=$/);
    expect(chat?.path).toBe(`/v1.0/users/user-1/teamwork/installedApps/${encodeURIComponent(peer.installationIdFor('user-1', app))}/chat`);
    expect(await graph.personalChatId(TENANT, 'nobody', app)).toMatchObject({ kind: 'not-found', code: 'NotFound' });
  });

  it('installs in a team and reads its primary channel', async () => {
    peer.addTeam({ groupId: 'team-1', primaryChannelId: '19:general@thread.tacv2', displayName: 'Ops' });
    expect(value(await graph.installInTeam(TENANT, 'team-1', APP))).toBe('installed');
    expect(value(await graph.installInTeam(TENANT, 'team-1', APP))).toBe('already-installed');
    expect(value(await graph.primaryChannel(TENANT, 'team-1'))).toEqual({ id: '19:general@thread.tacv2', displayName: 'General' });
    expect(await graph.installInTeam(TENANT, 'team-unknown', APP)).toMatchObject({ kind: 'not-found', code: 'NotFound' });
  });

  it('refuses a page link on another host without a request, and sends no Authorization to loopback', async () => {
    peer.addGroup('g', ['user-1']);
    const port = new URL(peer.url).port;
    for (const link of [
      `https://evil.example/v1.0/groups/g/transitiveMembers/microsoft.graph.user?$skiptoken=x`,
      `http://localhost:${port}/v1.0/groups/g/transitiveMembers/microsoft.graph.user`,
      `http://127.0.0.1:${port}.evil.example/v1.0/users`,
      'not a url',
    ]) {
      expect(await graph.groupUsers(TENANT, 'g', link)).toMatchObject({ kind: 'rejected' });
      expect(await graph.organizationUsers(TENANT, link)).toMatchObject({ kind: 'rejected' });
    }
    expect(peer.calls).toHaveLength(0);

    value(await graph.groupUsers(TENANT, 'g'));
    value(await graph.installForUser(TENANT, 'user-1', APP));
    expect(peer.calls.length).toBeGreaterThan(0);
    expect(peer.calls.some((c) => c.authorized)).toBe(false);
  });

  it('with a non-loopback endpoint asks the credential for <origin>/.default in the tenant and sends the bearer token there only', async () => {
    const tokenRequests: { scopes: string | string[]; tenantId?: string }[] = [];
    const credential: TokenCredential = {
      async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
        tokenRequests.push({ scopes, ...(options?.tenantId !== undefined && { tenantId: options.tenantId }) });
        return { token: `token-for-${options?.tenantId ?? 'none'}`, expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const sent: { url: string; authorization: string | null }[] = [];
    const viaPeer: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      sent.push({ url, authorization: new Headers(init?.headers).get('authorization') });
      const target = new URL(url);
      return fetch(`${peer.url}${target.pathname}${target.search}`, init);
    };
    const remote = new HttpGraph({ endpoint: 'https://graph.example.test', credential, fetch: viaPeer });

    expect(value(await remote.installForUser('tenant-b', 'user-1', APP))).toBe('installed');
    expect(tokenRequests).toEqual([{ scopes: 'https://graph.example.test/.default', tenantId: 'tenant-b' }]);
    expect(sent).toEqual([{ url: 'https://graph.example.test/v1.0/users/user-1/teamwork/installedApps', authorization: 'Bearer token-for-tenant-b' }]);
    expect(peer.calls[0]?.authorized).toBe(true);
    expect(peer.calls[0]?.body).toEqual({ 'teamsApp@odata.bind': `https://graph.example.test/v1.0/appCatalogs/teamsApps/${APP}` });

    // Graph's own next links are followed; the loopback peer's are not Graph's host, so refused.
    expect(await remote.groupUsers('tenant-b', 'g', `${peer.url}/v1.0/groups/g/transitiveMembers/microsoft.graph.user`)).toMatchObject({ kind: 'rejected' });
    expect(sent).toHaveLength(1);

    // A failing credential is a transient failure, not a throw.
    const broken = new HttpGraph({
      endpoint: 'https://graph.example.test',
      credential: { getToken: () => Promise.reject(new Error('AADSTS7000215: Invalid client secret provided.')) },
      fetch: viaPeer,
    });
    expect(await broken.primaryChannel('tenant-b', 'team-1')).toMatchObject({ kind: 'transient', detail: expect.stringContaining('AADSTS7000215') });
    expect(sent).toHaveLength(1);
  });

  it('needs a credential (and https) off loopback; knows loopback hosts', () => {
    expect(() => new HttpGraph({ endpoint: 'https://graph.microsoft.com' })).toThrow(/credential is required/);
    const credential: TokenCredential = { getToken: () => Promise.resolve(null) };
    expect(() => new HttpGraph({ endpoint: 'http://graph.example.test', credential })).toThrow(/https/);
    expect(() => new HttpGraph({ endpoint: 'https://graph.microsoft.com/v1.0', credential })).toThrow(/origin/);
    expect(() => new HttpGraph({ endpoint: 'http://[::1]:8080' })).not.toThrow();
    for (const url of ['http://127.0.0.1:1', 'http://localhost', 'http://LOCALHOST:80/x', 'http://[::1]:9']) expect(isLoopbackUrl(url)).toBe(true);
    for (const url of ['https://graph.microsoft.com', 'http://127.0.0.2', 'http://localhost.evil.example', 'nonsense']) expect(isLoopbackUrl(url)).toBe(false);
  });

  it('timeouts, refused connections and unexpected bodies are transient', async () => {
    peer.addTeam({ groupId: 'team-1', primaryChannelId: 'c1' });
    peer.failNext({ op: 'primaryChannel', times: 1, status: 200, delayMs: 2_000 });
    const impatient = new HttpGraph({ endpoint: peer.url, timeoutMs: 100 });
    expect(await impatient.primaryChannel(TENANT, 'team-1')).toMatchObject({ kind: 'transient', detail: expect.stringContaining('timed out after 100 ms') });

    const nowhere = new HttpGraph({ endpoint: `http://127.0.0.1:${await freePort()}` });
    expect(await nowhere.countOrganizationUsers(TENANT)).toMatchObject({ kind: 'transient', detail: expect.stringContaining('ECONNREFUSED') });

    const odd = (body: string, headers: Record<string, string> = {}): HttpGraph =>
      new HttpGraph({ endpoint: peer.url, fetch: () => Promise.resolve(new Response(body, { status: 200, headers })) });
    expect(await odd('{"value":"nope"}').groupUsers(TENANT, 'g')).toMatchObject({ kind: 'transient', detail: expect.stringContaining('unexpected') });
    expect(await odd('<html>').primaryChannel(TENANT, 'team-1')).toMatchObject({ kind: 'transient', detail: expect.stringContaining('not JSON') });
    expect(await odd('many').countGroupUsers(TENANT, 'g')).toMatchObject({ kind: 'transient' });
    expect(await odd('\uFEFF12').countGroupUsers(TENANT, 'g')).toEqual({ kind: 'ok', value: 12 });

    // Retry-After as an HTTP date.
    const at = new Date(Date.now() + 30_000).toUTCString();
    const dated = new HttpGraph({ endpoint: peer.url, fetch: () => Promise.resolve(new Response('', { status: 429, headers: { 'Retry-After': at } })) });
    const throttled = await dated.countGroupUsers(TENANT, 'g');
    expect(throttled.kind === 'throttled' && throttled.retryAfterMs).toBeGreaterThan(25_000);
  });
});
