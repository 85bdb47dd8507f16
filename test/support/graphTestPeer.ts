/**
 * A scriptable Microsoft Graph test peer on loopback: the few v1.0 calls the app makes to reach
 * people, over a small in-memory directory. It sends and checks no tokens; it records whether an
 * Authorization header came.
 *
 * Answers what Graph answers:
 * - `POST /v1.0/users/{id}/teamwork/installedApps` `{"teamsApp@odata.bind": ".../appCatalogs/teamsApps/{appId}"}`
 *     → 201 no body the first time, 409 `Conflict` after; unknown user → 404 `NotFound`.
 * - `GET /v1.0/users/{id}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '{appId}'`
 *     → `{ value: [{ id: installationId, teamsApp: { id } }] }` (empty when not installed).
 * - `GET /v1.0/users/{id}/teamwork/installedApps/{installationId}/chat` → `{ id: chatIdFor(userId), chatType: 'oneOnOne' }`.
 * - `POST /v1.0/teams/{groupId}/installedApps` as for users; `GET /v1.0/teams/{groupId}/primaryChannel`
 *     → `{ id, displayName }`; unknown team → 404 `NotFound`.
 * - `GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user` → the group's users, nested groups
 *     flattened, each once (disabled accounts included, as Graph does); unknown group → 404
 *     `Request_ResourceNotFound`.
 * - `GET /v1.0/users` → users, honouring `$filter=accountEnabled eq true and userType eq 'Member'`
 *     (any other filter → 400); `$count=true` adds `@odata.count` and needs `ConsistencyLevel: eventual`.
 * - `GET .../microsoft.graph.user/$count`, `GET /v1.0/users/$count[?$filter=…]` → text/plain number;
 *     400 without `ConsistencyLevel: eventual`.
 * - Listings page at `pageSize` (or a smaller `$top`) with an absolute `@odata.nextLink` carrying
 *     `$skiptoken`; `$select` picks fields.
 *
 * Errors use Graph's body `{"error":{"code","message","innerError"}}`. Scripted failures
 * (`failNext`) come first, then `forbid`den ids (403 on any call about them), then the above.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export type GraphOp =
  | 'installForUser'
  | 'personalChat'
  | 'installInTeam'
  | 'primaryChannel'
  | 'groupUsers'
  | 'organizationUsers'
  | 'count'
  | 'other';

export interface GraphCall {
  readonly op: GraphOp;
  readonly method: string;
  /** Path as received (still URL-encoded), without the query string. */
  readonly path: string;
  /** Query string as received (still encoded), without `?`; `new URLSearchParams(query)` reads it. */
  readonly query: string;
  /** The (decoded) user, group or team id the call is about; `organization` for the tenant's user count. */
  readonly id?: string;
  /** Parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  /** Whether an Authorization header came (its value is not kept). */
  readonly authorized: boolean;
  readonly consistencyLevel?: string;
  /** performance.now() when the request arrived. */
  readonly at: number;
  /** Status answered; 0 while unanswered. */
  status: number;
  /** performance.now() when answered. */
  answeredAt?: number;
}

export interface TestUser {
  readonly id: string;
  readonly displayName?: string;
  /** Default true. */
  readonly accountEnabled?: boolean;
  /** Default 'Member'; 'Guest' for guests. */
  readonly userType?: string;
}

export interface TestTeam {
  readonly groupId: string;
  readonly primaryChannelId: string;
  /** The team's name. */
  readonly displayName?: string;
  /** The primary channel's name; default 'General'. */
  readonly channelDisplayName?: string;
}

export interface ScriptedFailure {
  readonly op: Exclude<GraphOp, 'other'>;
  /** User, group or team id (`organization` for the tenant count); omitted matches any. */
  readonly id?: string;
  readonly times: number;
  readonly status: number;
  /** Sent as the `Retry-After` header (seconds). */
  readonly retryAfterSeconds?: number;
  /** Graph error code; defaults by status (see DEFAULT_CODES). */
  readonly code?: string;
  readonly message?: string;
  /** Wait this long before answering (to outlast a client's timeout). */
  readonly delayMs?: number;
}

export interface GraphTestPeerOptions {
  /** Largest page a listing answers (a smaller `$top` wins). Default 999, Graph's maximum. */
  readonly pageSize?: number;
  /** The personal chat id for a user; default `19:${userId}_app@unq.gbl.spaces`. */
  readonly chatIdFor?: (userId: string) => string;
}

export interface GraphTestPeer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly calls: readonly GraphCall[];
  /** Recorded calls of one kind, optionally about one id. */
  callsTo(op: GraphOp, id?: string): GraphCall[];
  addUsers(users: readonly TestUser[]): void;
  /** Creates the group or adds to it; members are user ids and (nested) group ids. */
  addGroup(groupId: string, memberIds: readonly string[]): void;
  /** A team is also a group (created empty if unknown). */
  addTeam(team: TestTeam): void;
  /** Catalog app ids installed for a user or in a team. */
  installed(scope: 'user' | 'team', id: string): string[];
  /** Installs without a call, as if done before the test. */
  preinstall(scope: 'user' | 'team', id: string, catalogAppId: string): void;
  installationIdFor(userId: string, catalogAppId: string): string;
  chatIdFor(userId: string): string;
  /** Every call about this user, group or team answers 403 with that code. */
  forbid(id: string, code?: string): void;
  /** What `$count` answers for a group (or `organization`), however many there are; undefined clears. */
  countOverride(groupIdOrOrganization: string, n: number | undefined): void;
  /** The next `times` matching calls answer this, before the normal behaviour; scripts are used in order. */
  failNext(failure: ScriptedFailure): void;
  close(): Promise<void>;
}

/** Graph's code when a script gives only a status. */
const DEFAULT_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

const ORGANIZATION = 'organization';
const ORGANIZATION_FILTER = "accountEnabled eq true and userType eq 'Member'";
const MAX_TIMER_MS = 2_147_483_647;

interface StoredUser {
  readonly id: string;
  readonly displayName?: string;
  readonly accountEnabled: boolean;
  readonly userType: string;
}

interface Route {
  op: GraphOp;
  id?: string;
  kind?: 'install' | 'lookup' | 'chat' | 'list' | 'count';
  installationId?: string;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export function graphErrorBody(status: number, code?: string, message?: string): unknown {
  const c = code ?? DEFAULT_CODES[status] ?? 'Error';
  return {
    error: {
      code: c,
      message: message ?? `${c} (${status})`,
      innerError: { date: new Date().toISOString(), 'request-id': `peer-${Math.random().toString(16).slice(2)}` },
    },
  };
}

function fail(status: number, code?: string, message?: string): Reply {
  return { status, body: graphErrorBody(status, code, message) };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function route(method: string, pathname: string): Route {
  const seg = pathname.split('/').filter((s) => s !== '').map(decodeSegment);
  if (seg.shift() !== 'v1.0') return { op: 'other' };
  const [root, id, a, b, c, d] = seg;
  const n = seg.length;
  const get = method === 'GET';
  if (root === 'users') {
    if (n === 1 && get) return { op: 'organizationUsers', kind: 'list' };
    if (n === 2 && get && id === '$count') return { op: 'count', id: ORGANIZATION, kind: 'count' };
    if (id !== undefined && a === 'teamwork' && b === 'installedApps') {
      if (n === 4 && method === 'POST') return { op: 'installForUser', id, kind: 'install' };
      if (n === 4 && get) return { op: 'personalChat', id, kind: 'lookup' };
      if (n === 6 && get && d === 'chat' && c !== undefined) return { op: 'personalChat', id, kind: 'chat', installationId: c };
    }
  }
  if (root === 'teams' && id !== undefined && n === 3) {
    if (a === 'installedApps' && method === 'POST') return { op: 'installInTeam', id, kind: 'install' };
    if (a === 'primaryChannel' && get) return { op: 'primaryChannel', id };
  }
  if (root === 'groups' && id !== undefined && a === 'transitiveMembers' && b === 'microsoft.graph.user' && get) {
    if (n === 4) return { op: 'groupUsers', id, kind: 'list' };
    if (n === 5 && c === '$count') return { op: 'count', id, kind: 'count' };
  }
  return { op: 'other', ...(id !== undefined && { id }) };
}

function skipToken(offset: number): string {
  return Buffer.from(`peer-offset:${offset}`).toString('base64url');
}

function readSkipToken(token: string): number | undefined {
  const m = /^peer-offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export async function startGraphTestPeer(options: GraphTestPeerOptions = {}): Promise<GraphTestPeer> {
  const pageSize = options.pageSize ?? 999;
  const chatIdFor = options.chatIdFor ?? ((userId: string) => `19:${userId}_app@unq.gbl.spaces`);
  const calls: GraphCall[] = [];
  const users = new Map<string, StoredUser>();
  const groups = new Map<string, string[]>();
  const teams = new Map<string, TestTeam>();
  /** `user:<id>` / `team:<id>` → installed catalog app ids. */
  const installs = new Map<string, Set<string>>();
  const forbidden = new Map<string, string>();
  const counts = new Map<string, number>();
  const scripts: { failure: ScriptedFailure; left: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let url = '';

  // Base64, as Graph's are; it may hold `/`, `+` and `=`, so a client must encode it in the path.
  const installationIdFor = (userId: string, appId: string): string => Buffer.from(`${userId}##${appId}`).toString('base64');
  const installedSet = (scope: 'user' | 'team', id: string): Set<string> => {
    const key = `${scope}:${id}`;
    let set = installs.get(key);
    if (set === undefined) {
      set = new Set();
      installs.set(key, set);
    }
    return set;
  };

  /** Users of a group, nested groups flattened, each once, in order of first appearance. */
  function transitiveUsers(groupId: string): StoredUser[] {
    const seen = new Set<string>();
    const out: StoredUser[] = [];
    const visit = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      const members = groups.get(id);
      if (members !== undefined) {
        for (const m of members) visit(m);
        return;
      }
      const user = users.get(id);
      if (user !== undefined) out.push(user);
    };
    visit(groupId);
    return out;
  }

  function organizationUsers(filter: string | null): StoredUser[] | undefined {
    if (filter === null) return [...users.values()];
    if (filter.replace(/\s+/g, ' ').trim() !== ORGANIZATION_FILTER) return undefined;
    return [...users.values()].filter((u) => u.accountEnabled && u.userType === 'Member');
  }

  function project(u: StoredUser, select: string | null, odataType: boolean): Record<string, unknown> {
    const full: Record<string, unknown> = { id: u.id, displayName: u.displayName ?? null, accountEnabled: u.accountEnabled, userType: u.userType };
    const fields = select === null ? Object.keys(full) : select.split(',').map((f) => f.trim());
    const out: Record<string, unknown> = odataType ? { '@odata.type': '#microsoft.graph.user' } : {};
    for (const f of fields) if (f in full) out[f] = full[f];
    return out;
  }

  function page(all: StoredUser[], path: string, rawQuery: string, query: URLSearchParams, odataType: boolean): Reply {
    const top = Number(query.get('$top'));
    const size = Number.isInteger(top) && top > 0 ? Math.min(top, pageSize) : pageSize;
    const token = query.get('$skiptoken');
    const offset = token === null ? 0 : readSkipToken(token);
    if (offset === undefined) return fail(400, 'Request_BadRequest', 'Invalid $skiptoken.');
    const body: Record<string, unknown> = {
      '@odata.context': `${url}/v1.0/$metadata#users`,
      value: all.slice(offset, offset + size).map((u) => project(u, query.get('$select'), odataType)),
    };
    if (query.get('$count') === 'true') body['@odata.count'] = all.length;
    if (offset + size < all.length) {
      const kept = rawQuery.split('&').filter((p) => p !== '' && !/^(\$|%24)skiptoken=/i.test(p));
      body['@odata.nextLink'] = `${url}${path}?${[...kept, `$skiptoken=${skipToken(offset + size)}`].join('&')}`;
    }
    return { status: 200, body };
  }

  function install(scope: 'user' | 'team', id: string, body: unknown): Reply {
    const known = scope === 'user' ? users.has(id) : teams.has(id);
    if (!known) return fail(404, 'NotFound', `${scope === 'user' ? 'User' : 'Team'} ${id} not found.`);
    const bind = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['teamsApp@odata.bind'] : undefined;
    const m = typeof bind === 'string' ? /\/v1\.0\/appCatalogs\/teamsApps\/([^/?]+)$/.exec(bind) : null;
    if (m?.[1] === undefined) return fail(400, 'BadRequest', 'teamsApp@odata.bind must name an app in the catalog.');
    const appId = decodeSegment(m[1]);
    const set = installedSet(scope, id);
    if (set.has(appId)) return fail(409, 'Conflict', 'App is already installed.');
    set.add(appId);
    return { status: 201 };
  }

  function normal(rt: Route, call: GraphCall, path: string, rawQuery: string, query: URLSearchParams): Reply {
    const id = rt.id ?? '';
    const eventual = call.consistencyLevel?.toLowerCase() === 'eventual';
    switch (rt.op) {
      case 'installForUser':
        return install('user', id, call.body);
      case 'installInTeam':
        return install('team', id, call.body);
      case 'personalChat': {
        if (!users.has(id)) return fail(404, 'NotFound', `User ${id} not found.`);
        const apps = [...installedSet('user', id)];
        if (rt.kind === 'chat') {
          if (!apps.some((app) => installationIdFor(id, app) === rt.installationId)) {
            return fail(404, 'NotFound', 'Installation not found.');
          }
          return { status: 200, body: { '@odata.context': `${url}/v1.0/$metadata#chats/$entity`, id: chatIdFor(id), chatType: 'oneOnOne', topic: null } };
        }
        const filter = query.get('$filter');
        const wanted = filter === null ? undefined : /^teamsApp\/id eq '((?:[^']|'')*)'$/.exec(filter.trim())?.[1]?.replace(/''/g, "'");
        if (filter !== null && wanted === undefined) return fail(400, 'BadRequest', 'Unsupported $filter.');
        const expand = query.get('$expand') === 'teamsApp';
        const value = apps
          .filter((app) => wanted === undefined || app === wanted)
          .map((app) => ({ id: installationIdFor(id, app), ...(expand && { teamsApp: { id: app, displayName: app, distributionMethod: 'organization' } }) }));
        return { status: 200, body: { value } };
      }
      case 'primaryChannel': {
        const team = teams.get(id);
        if (team === undefined) return fail(404, 'NotFound', `Team ${id} not found.`);
        return { status: 200, body: { id: team.primaryChannelId, displayName: team.channelDisplayName ?? 'General', membershipType: 'standard' } };
      }
      case 'groupUsers':
        if (!groups.has(id)) return fail(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist.`);
        return page(transitiveUsers(id), path, rawQuery, query, true);
      case 'organizationUsers': {
        if (query.get('$count') === 'true' && !eventual) return fail(400, 'Request_BadRequest', '$count is not currently supported.');
        const all = organizationUsers(query.get('$filter'));
        if (all === undefined) return fail(400, 'Request_UnsupportedQuery', 'Unsupported query.');
        return page(all, path, rawQuery, query, false);
      }
      case 'count': {
        if (!eventual) return fail(400, 'Request_BadRequest', 'Count is not currently supported.');
        let n = counts.get(id);
        if (n === undefined && id === ORGANIZATION) {
          const all = organizationUsers(query.get('$filter'));
          if (all === undefined) return fail(400, 'Request_UnsupportedQuery', 'Unsupported query.');
          n = all.length;
        } else if (n === undefined) {
          if (!groups.has(id)) return fail(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist.`);
          n = transitiveUsers(id).length;
        }
        return { status: 200, body: String(n), headers: { 'Content-Type': 'text/plain' } };
      }
      case 'other':
        return fail(400, 'BadRequest', `Resource not found for the segment in ${call.method} ${path}.`);
    }
  }

  function scripted(call: GraphCall): ScriptedFailure | undefined {
    const s = scripts.find((x) => x.left > 0 && x.failure.op === call.op && (x.failure.id === undefined || x.failure.id === call.id));
    if (s === undefined) return undefined;
    s.left -= 1;
    return s.failure;
  }

  function write(res: http.ServerResponse, call: GraphCall, reply: Reply): void {
    call.status = reply.status;
    call.answeredAt = performance.now();
    if (res.destroyed || res.writableEnded) return;
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.body !== undefined) {
      payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      headers['Content-Type'] ??= 'application/json; charset=utf-8';
    }
    headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const path = q < 0 ? raw : raw.slice(0, q);
      const rawQuery = q < 0 ? '' : raw.slice(q + 1);
      const query = new URLSearchParams(rawQuery);
      const rt = route(method, path);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      let badJson = false;
      if (text !== '') {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          badJson = true;
        }
      }
      const consistency = req.headers['consistencylevel'];
      const call: GraphCall = {
        op: rt.op,
        method,
        path,
        query: rawQuery,
        ...(rt.id !== undefined && { id: rt.id }),
        body,
        authorized: req.headers.authorization !== undefined,
        ...(typeof consistency === 'string' && { consistencyLevel: consistency }),
        at: performance.now(),
        status: 0,
      };
      calls.push(call);
      if (badJson) {
        write(res, call, fail(400, 'BadRequest', 'Invalid JSON.'));
        return;
      }
      const failure = scripted(call);
      if (failure !== undefined) {
        const reply = fail(failure.status, failure.code, failure.message);
        if (failure.retryAfterSeconds !== undefined) reply.headers = { 'Retry-After': String(failure.retryAfterSeconds) };
        if (failure.delayMs === undefined) {
          write(res, call, reply);
        } else if (failure.delayMs <= MAX_TIMER_MS) {
          const t = setTimeout(() => {
            timers.delete(t);
            write(res, call, reply);
          }, failure.delayMs);
          timers.add(t);
        }
        return;
      }
      const code = rt.id === undefined ? undefined : forbidden.get(rt.id);
      if (code !== undefined) {
        write(res, call, fail(403, code, 'Insufficient privileges to complete the operation.'));
        return;
      }
      write(res, call, normal(rt, call, path, rawQuery, query));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    get calls(): readonly GraphCall[] {
      return calls;
    },
    callsTo(op, id) {
      return calls.filter((c) => c.op === op && (id === undefined || c.id === id));
    },
    addUsers(list) {
      for (const u of list) {
        users.set(u.id, {
          id: u.id,
          ...(u.displayName !== undefined && { displayName: u.displayName }),
          accountEnabled: u.accountEnabled ?? true,
          userType: u.userType ?? 'Member',
        });
      }
    },
    addGroup(groupId, memberIds) {
      groups.set(groupId, [...(groups.get(groupId) ?? []), ...memberIds]);
    },
    addTeam(team) {
      teams.set(team.groupId, { ...team });
      if (!groups.has(team.groupId)) groups.set(team.groupId, []);
    },
    installed(scope, id) {
      return [...installedSet(scope, id)];
    },
    preinstall(scope, id, catalogAppId) {
      installedSet(scope, id).add(catalogAppId);
    },
    installationIdFor,
    chatIdFor,
    forbid(id, code = 'Forbidden') {
      forbidden.set(id, code);
    },
    countOverride(key, n) {
      if (n === undefined) counts.delete(key);
      else counts.set(key, n);
    },
    failNext(failure) {
      scripts.push({ failure: { ...failure }, left: failure.times });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
