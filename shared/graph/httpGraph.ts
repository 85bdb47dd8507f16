import { STATUS_CODES } from 'node:http';
import type { TokenCredential } from '@azure/core-auth';
import type { Channel, DirectoryPage, DirectoryUser, Graph, GraphFailure, GraphResult, InstallOutcome } from './graph';
import { isLoopbackUrl } from '../http/loopback';
import { parseRetryAfter } from '../http/retryAfter';

export interface HttpGraphOptions {
  /** Graph's origin (`https://graph.microsoft.com`), or a loopback test peer's (`http://127.0.0.1:1234`). */
  readonly endpoint: string;
  /** The app's identity, asked for a token per tenant. Needed unless the endpoint is loopback. */
  readonly credential?: TokenCredential;
  readonly fetch?: typeof fetch;
  /** A call (token, request and body) that takes longer counts as transient. Default 30 s. */
  readonly timeoutMs?: number;
}


/** Enabled members, no guests: the people an "everyone" notification means. */
const ORGANIZATION_FILTER = "accountEnabled eq true and userType eq 'Member'";
/** Graph's largest page for directory listings. */
const PAGE_SIZE = 999;
/** `$count`, and `$count=true` on `/users`, are advanced queries: Graph refuses them without this. */
const EVENTUAL = { ConsistencyLevel: 'eventual' } as const;
const MAX_DETAIL = 300;

/** An HTTP answer, read but not yet judged. */
interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  readonly text: string;
  readonly retryAfter: string | null;
}

/**
 * One path segment. `.` and `..` survive encoding and the URL parser would resolve them (a user id
 * of `..` would reach another resource), so they are refused by the callers through `badId`.
 */
const enc = encodeURIComponent;
const badId = (...ids: string[]): GraphFailure | undefined =>
  ids.some((id) => id === '' || id === '.' || id === '..') ? { kind: 'rejected', detail: 'not a Graph object id' } : undefined;
const ok = <T>(value: T): GraphResult<T> => ({ kind: 'ok', value });
const transient = (detail: string): GraphFailure => ({ kind: 'transient', detail: short(detail) });

/**
 * The Graph port over plain `fetch`: one request per call, every answer classified, nothing thrown.
 * Against loopback it sends no token, so the same code runs locally against a test peer.
 */
export class HttpGraph implements Graph {
  private readonly origin: string;
  private readonly api: string;
  private readonly credential: TokenCredential | undefined;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: HttpGraphOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new Error(`HttpGraph: endpoint "${options.endpoint}" is not a URL`);
    }
    // Graph's paths and the app catalog binding both hang off the origin: a path here would be lost.
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
      throw new Error(`HttpGraph: endpoint must be an origin such as https://graph.microsoft.com, not "${options.endpoint}"`);
    }
    this.origin = url.origin;
    this.api = `${this.origin}/v1.0`;
    if (isLoopbackUrl(this.origin)) {
      this.credential = undefined;
    } else {
      if (options.credential === undefined) {
        throw new Error(`HttpGraph: endpoint ${this.origin} is not loopback, so a credential is required`);
      }
      // A bearer token must not cross the network in clear text.
      if (url.protocol !== 'https:') throw new Error(`HttpGraph: endpoint ${this.origin} is not loopback, so it must be https`);
      this.credential = options.credential;
    }
    this.fetch = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  installForUser(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>> {
    const bad = badId(userId, catalogAppId);
    if (bad !== undefined) return Promise.resolve(bad);
    return this.install(tenantId, `${this.api}/users/${enc(userId)}/teamwork/installedApps`, catalogAppId);
  }

  async personalChatId(tenantId: string, userId: string, catalogAppId: string): Promise<GraphResult<string>> {
    const bad = badId(userId);
    if (bad !== undefined) return bad;
    const apps = `${this.api}/users/${enc(userId)}/teamwork/installedApps`;
    // OData quotes a string by doubling its single quotes.
    const filter = `teamsApp/id eq '${catalogAppId.replace(/'/g, "''")}'`;
    const found = await this.getJson(tenantId, `${apps}?$expand=teamsApp&$filter=${enc(filter)}`, {}, 'installedApps', (body) =>
      arrayOf(prop(body, 'value'), (app) => str(prop(app, 'id'))),
    );
    if (found.kind !== 'ok') return found;
    const installationId = found.value[0];
    if (installationId === undefined || badId(installationId) !== undefined) {
      return { kind: 'not-found', code: 'AppNotInstalled', detail: `app ${catalogAppId} is not installed for user ${userId}` };
    }
    return this.getJson(tenantId, `${apps}/${enc(installationId)}/chat`, {}, 'chat', (body) => str(prop(body, 'id')));
  }

  installInTeam(tenantId: string, groupId: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>> {
    const bad = badId(groupId, catalogAppId);
    if (bad !== undefined) return Promise.resolve(bad);
    return this.install(tenantId, `${this.api}/teams/${enc(groupId)}/installedApps`, catalogAppId);
  }

  primaryChannel(tenantId: string, groupId: string): Promise<GraphResult<Channel>> {
    const bad = badId(groupId);
    if (bad !== undefined) return Promise.resolve(bad);
    return this.getJson(tenantId, `${this.api}/teams/${enc(groupId)}/primaryChannel`, {}, 'primaryChannel', (body) => {
      const id = str(prop(body, 'id'));
      const displayName = str(prop(body, 'displayName'));
      if (id === undefined) return undefined;
      return displayName === undefined ? { id } : { id, displayName };
    });
  }

  groupUsers(tenantId: string, groupId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>> {
    const bad = badId(groupId);
    if (bad !== undefined) return Promise.resolve(bad);
    const listing = `${this.api}/groups/${enc(groupId)}/transitiveMembers/microsoft.graph.user`;
    return this.page(tenantId, listing, pageLink ?? `${listing}?$select=id,displayName,accountEnabled&$top=${PAGE_SIZE}`, {});
  }

  organizationUsers(tenantId: string, pageLink?: string): Promise<GraphResult<DirectoryPage>> {
    const listing = `${this.api}/users`;
    return this.page(tenantId, listing, pageLink ?? `${listing}?$filter=${enc(ORGANIZATION_FILTER)}&$select=id,displayName&$top=${PAGE_SIZE}&$count=true`, EVENTUAL);
  }

  countGroupUsers(tenantId: string, groupId: string): Promise<GraphResult<number>> {
    const bad = badId(groupId);
    if (bad !== undefined) return Promise.resolve(bad);
    return this.count(tenantId, `${this.api}/groups/${enc(groupId)}/transitiveMembers/microsoft.graph.user/$count`);
  }

  countOrganizationUsers(tenantId: string): Promise<GraphResult<number>> {
    return this.count(tenantId, `${this.api}/users/$count?$filter=${enc(ORGANIZATION_FILTER)}`);
  }

  private async install(tenantId: string, url: string, catalogAppId: string): Promise<GraphResult<InstallOutcome>> {
    const body = { 'teamsApp@odata.bind': `${this.api}/appCatalogs/teamsApps/${enc(catalogAppId)}` };
    const answer = await this.send(tenantId, 'POST', url, {}, body);
    if (answer.kind !== 'answer') return answer;
    // Graph answers 409 when the app is already installed in that scope: the outcome wanted.
    if (answer.status === 409) return ok('already-installed');
    if (answer.status >= 200 && answer.status < 300) return ok('installed');
    return failure(answer);
  }

  /**
   * One page of a listing. A page link comes from a queue message: it is followed only when it is
   * a page of the same listing (same origin, same path), so the token goes nowhere else and the
   * link can read nothing but the next page.
   */
  private async page(tenantId: string, listing: string, url: string, headers: Record<string, string>): Promise<GraphResult<DirectoryPage>> {
    if (!sameOrigin(url, this.origin)) return { kind: 'rejected', detail: short(`page link is not on ${this.origin}: ${originOf(url)}`) };
    if (pathOf(url) !== pathOf(listing)) return { kind: 'rejected', detail: 'page link is not a page of this listing' };
    return this.getJson(tenantId, url, headers, 'directory page', directoryPage);
  }

  private async count(tenantId: string, url: string): Promise<GraphResult<number>> {
    const answer = await this.send(tenantId, 'GET', url, { ...EVENTUAL, Accept: 'text/plain' });
    if (answer.kind !== 'answer') return answer;
    if (answer.status !== 200) return failure(answer);
    // `$count` answers a bare number as text/plain, at times behind a byte-order mark.
    const text = answer.text.replace(/^\uFEFF/, '').trim();
    const n = Number(text);
    return text !== '' && Number.isInteger(n) && n >= 0 ? ok(n) : transient(`200 OK: $count body is not a number`);
  }

  private async getJson<T>(
    tenantId: string,
    url: string,
    headers: Record<string, string>,
    what: string,
    parse: (body: unknown) => T | undefined,
  ): Promise<GraphResult<T>> {
    const answer = await this.send(tenantId, 'GET', url, { Accept: 'application/json', ...headers });
    if (answer.kind !== 'answer') return answer;
    if (answer.status !== 200) return failure(answer);
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return transient(`200 OK: ${what} body is not JSON`);
    }
    const value = parse(body);
    return value === undefined ? transient(`200 OK: unexpected ${what} body`) : ok(value);
  }

  /** One request, token included; only what never reached an HTTP answer is judged here. */
  private async send(tenantId: string, method: string, url: string, headers: Record<string, string>, json?: unknown): Promise<Answer | GraphFailure> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const all: Record<string, string> = { ...headers };
    if (this.credential !== undefined) {
      // Graph serves one tenant per token; the credential caches tokens per tenant and scope.
      try {
        const token = await this.credential.getToken(`${this.origin}/.default`, { tenantId, abortSignal: signal });
        if (token === null) return transient(`no token for tenant ${tenantId}`);
        all.Authorization = `Bearer ${token.token}`;
      } catch (error) {
        return transient(`token for tenant ${tenantId}: ${describe(error, this.timeoutMs)}`);
      }
    }
    if (json !== undefined) all['Content-Type'] = 'application/json';
    const doFetch = this.fetch;
    try {
      // No redirects: a followed redirect could carry the token to another host.
      const res = await doFetch(url, { method, headers: all, body: json === undefined ? undefined : JSON.stringify(json), signal, redirect: 'manual' });
      const text = await res.text();
      return { kind: 'answer', status: res.status, text, retryAfter: res.headers.get('retry-after') };
    } catch (error) {
      return transient(`${method} ${new URL(url).pathname}: ${describe(error, this.timeoutMs)}`);
    }
  }
}

/** Classifies an HTTP answer that was not the success expected. */
function failure(answer: Answer): GraphFailure {
  const { status } = answer;
  const { code, message } = graphError(answer.text);
  const detail = short([`${status} ${STATUS_CODES[status] ?? ''}`.trim(), code, message].filter((s) => s !== undefined && s !== '').join(': '));
  if (status === 429 || (status === 503 && answer.retryAfter !== null)) {
    const retryAfterMs = answer.retryAfter === null ? undefined : parseRetryAfter(answer.retryAfter);
    return retryAfterMs === undefined ? { kind: 'throttled', detail } : { kind: 'throttled', retryAfterMs, detail };
  }
  if (status >= 500) return { kind: 'transient', detail };
  if (status === 403) return { kind: 'forbidden', code: code ?? 'Forbidden', detail };
  if (status === 404) return { kind: 'not-found', code: code ?? 'NotFound', detail };
  if (status >= 400) return { kind: 'rejected', detail };
  // A 2xx of the wrong kind, or a redirect not followed: not an answer this call understands.
  return transient(`${detail}: unexpected status`);
}

/** Graph's error body: `{"error":{"code":"…","message":"…"}}`. */
function graphError(text: string): { code?: string; message?: string } {
  try {
    const error = prop(JSON.parse(text), 'error');
    const code = str(prop(error, 'code'));
    const message = str(prop(error, 'message'));
    return { ...(code !== undefined && { code }), ...(message !== undefined && { message }) };
  } catch {
    return {};
  }
}

function directoryPage(body: unknown): DirectoryPage | undefined {
  const nextLink = prop(body, '@odata.nextLink');
  if (nextLink !== undefined && typeof nextLink !== 'string') return undefined;
  const all = arrayOf(prop(body, 'value'), (v) => {
    const id = str(prop(v, 'id'));
    if (id === undefined) return undefined;
    const displayName = str(prop(v, 'displayName'));
    return { id, ...(displayName !== undefined && { displayName }), enabled: prop(v, 'accountEnabled') !== false };
  });
  if (all === undefined) return undefined;
  // A disabled account cannot sign in: a message to it would never be read.
  const users: DirectoryUser[] = all.filter((u) => u.enabled).map(({ enabled: _enabled, ...user }) => user);
  return nextLink === undefined ? { users } : { users, nextLink };
}

function prop(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Every item read, or undefined when the list or any item is not what was expected. */
function arrayOf<T>(value: unknown, item: (v: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: T[] = [];
  for (const v of value) {
    const read = item(v);
    if (read === undefined) return undefined;
    out.push(read);
  }
  return out;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'not a URL';
  }
}

/** The URL's path as the server sees it (after `.` and `..` are resolved); empty when it does not parse. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

function sameOrigin(url: string, origin: string): boolean {
  return originOf(url) === origin;
}

function describe(error: unknown, timeoutMs: number): string {
  const e = error as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const cause = typeof e.cause?.code === 'string' ? e.cause.code : typeof e.cause?.message === 'string' ? e.cause.message : undefined;
  const message = typeof e.message === 'string' ? e.message : String(error);
  return cause === undefined ? message : `${message} (${cause})`;
}

function short(text: string): string {
  return text.length <= MAX_DETAIL ? text : `${text.slice(0, MAX_DETAIL - 1)}…`;
}
