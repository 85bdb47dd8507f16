/**
 * A loopback Bot Connector (Bot Framework v3 REST, no auth) that throttles like Teams, for
 * throughput benchmarks and tests. `fakeConnector.ts` is the scriptable one for protocol tests;
 * this one answers every call the same way but enforces Teams' rate limits, so a sender that
 * paces well and one that does not give different, countable results.
 *
 * Per tenant (TEAMS-FACTS: "50 requests per second per app per tenant", every operation):
 * - at most `rps` requests in any sliding 1000 ms; the request that would be one more gets 429
 *   `Retry-After: 1` with Teams' body `{"error":{"code":"Throttled",...}}` and is not delivered.
 * - at most `perConversationRps` sends / creates / edits (7) and `perConversationReadRps` roster
 *   reads (14) per conversation in any sliding 1000 ms, answered the same way.
 * - every answer (429s too) comes after `latencyMs` ± `jitterMs` (uniform).
 * - `faultRate` of the requests that pass the limits are answered 503 and not delivered.
 *
 * Only requests that pass the limits occupy the windows (a 429 costs the tenant nothing), so
 * "the most accepted requests in any 1000 ms" can never exceed `rps`: a sender's figure above
 * `rps` would be a bug here, not a measurement. A 503 has passed the limits, so it occupies them.
 *
 * The tenant of a request, as our sender and botbuilder send it: an activity's
 * `channelData.tenant.id`, else its `conversation.tenantId`; a createConversation's `tenantId`,
 * else `channelData.tenant.id`. Calls without a body (roster reads, deletes) take the tenant of
 * their conversation, which the connector learns from every call that named one (and from
 * `registerConversations`, for conversations a test says exist already, as Teams would know).
 * A request whose tenant stays unknown counts under tenant "unknown".
 *
 * Routes (as the existing fakeConnector answers them):
 * - `POST /v3/conversations`: 1:1 → 201 `{ id: "a:fake-<members[0].id>" }` (with `activity`, it is
 *   delivered and `activityId` returned); channel thread (`isGroup`, `channelData.channel.id` C,
 *   `activity`) → 201 `{ id: "C;messageid=<activityId>", activityId }`.
 * - `POST /v3/conversations/{id}/activities[/{replyToId}]` → 201 `{ id }`.
 * - `PUT` / `DELETE /v3/conversations/{id}/activities/{activityId}` → 200.
 * - `GET /v3/conversations/{id}/pagedmembers`, `/members`, `/members/{memberId}`: the roster the
 *   connector knows (the user of a 1:1 it created, or the registered members).
 *
 * Control (never throttled, never counted): `GET /_health`, `GET|POST /_config`, `GET /_stats`
 * (`?perConversation=false` leaves out the per-conversation maps), `POST /_reset`,
 * `POST /_conversations`. `teamsLikeConnectorCli.ts` runs this as its own process and
 * `teamsLikeConnectorProcess.ts` is the typed client for both.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';

export interface TenantLimits {
  /** Requests per sliding second for the whole tenant (Teams: 50). */
  readonly rps: number;
  /** Sends, creates and edits per sliding second in one conversation (Teams: 7). */
  readonly perConversationRps: number;
  /** Roster reads per sliding second in one conversation (Teams: 14). */
  readonly perConversationReadRps: number;
  /** Mean time to answer, ms. */
  readonly latencyMs: number;
  /** The answer comes after latencyMs ± jitterMs, uniformly. */
  readonly jitterMs: number;
  /** Fraction (0..1) of the requests within the limits that are answered 503 and not delivered. */
  readonly faultRate: number;
}

export const TEAMS_DEFAULT_LIMITS: TenantLimits = {
  rps: 50,
  perConversationRps: 7,
  perConversationReadRps: 14,
  latencyMs: 50,
  jitterMs: 20,
  faultRate: 0,
};

export interface TeamsLikeConfig {
  /** For every tenant not in `tenants`, and for what a tenant's entry leaves out. */
  readonly defaults: TenantLimits;
  readonly tenants: Readonly<Record<string, Partial<TenantLimits>>>;
}

/** A change of configuration: merged into the current one. A tenant set to null goes back to the defaults. */
export interface ConfigPatch {
  readonly defaults?: Partial<TenantLimits>;
  readonly tenants?: Readonly<Record<string, Partial<TenantLimits> | null>>;
}

export interface RosterMember {
  readonly id: string;
  readonly aadObjectId?: string;
  readonly name?: string;
}

/** A conversation that exists before the run (an install Teams knows about): its tenant, and its members if any. */
export interface ConversationSeed {
  readonly id: string;
  readonly tenantId: string;
  readonly members?: readonly RosterMember[];
}

export interface TeamsLikeConnectorOptions extends ConfigPatch {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number;
  readonly conversations?: readonly ConversationSeed[];
  /** In process only: the random source for jitter and faults (tests make them predictable). */
  readonly random?: () => number;
}

export interface PerSecond {
  /** Wall-clock second, as Unix seconds. */
  readonly second: number;
  readonly accepted: number;
  readonly throttled: number;
  readonly faults: number;
}

export interface TenantStats {
  /** Answered 2xx (or, for a malformed request, 4xx) after passing the limits. */
  readonly accepted: number;
  /** Answered 429, for either limit. */
  readonly throttled: number;
  readonly throttledByTenant: number;
  readonly throttledByConversation: number;
  /** Answered 503 by `faultRate`. */
  readonly faults: number;
  /** Answers by HTTP status, e.g. `{ "201": 200, "429": 3 }`. */
  readonly statuses: Readonly<Record<string, number>>;
  /** The most accepted requests in any sliding 1000 ms, exact (from every accepted request's time). */
  readonly maxAcceptedInAnyWindow: number;
  /** Epoch ms of the first and last accepted request; null before any. */
  readonly firstAcceptedAt: number | null;
  readonly lastAcceptedAt: number | null;
  /** One entry per wall-clock second from the first to the last request, zeros included. */
  readonly perSecond: readonly PerSecond[];
  readonly deliveries: DeliveryStats;
}

export interface DeliveryStats {
  /** Messages delivered (sends, replies, and creates that carried an activity). */
  readonly messages: number;
  /** Distinct (conversation, text) pairs delivered. */
  readonly distinct: number;
  /** Deliveries beyond the first of each (conversation, text): `messages - distinct`. */
  readonly duplicates: number;
  /** Left out when stats are asked for with `perConversation: false`. */
  readonly perConversation?: Readonly<Record<string, number>>;
  /** conversation id → message key (its text, else summary, else its attachments as JSON) → deliveries. */
  readonly perMessage?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface ConnectorStats {
  /** Every tenant that sent a request, "unknown" for requests with no tenant to be found. */
  readonly tenants: Readonly<Record<string, TenantStats>>;
  readonly totals: { readonly accepted: number; readonly throttled: number; readonly faults: number; readonly messages: number };
}

export interface StatsOptions {
  /** Include the per-conversation and per-message delivery maps (default true). */
  readonly perConversation?: boolean;
}

/** What the in-process server and the child-process client both offer. */
export interface TeamsLikeConnector {
  /** `http://127.0.0.1:<port>/` */
  readonly serviceUrl: string;
  stats(options?: StatsOptions): Promise<ConnectorStats>;
  config(): Promise<TeamsLikeConfig>;
  /** Takes effect for the next request. */
  setConfig(patch: ConfigPatch): Promise<TeamsLikeConfig>;
  registerConversations(conversations: readonly ConversationSeed[]): Promise<void>;
  /** Forgets traffic: counters, windows, deliveries. Configuration and known conversations stay. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export const UNKNOWN_TENANT = 'unknown';
const WINDOW_MS = 1000;
const DEFAULT_PAGE_SIZE = 200;

const limitsSchema = z
  .object({
    rps: z.number().min(0),
    perConversationRps: z.number().min(0),
    perConversationReadRps: z.number().min(0),
    latencyMs: z.number().min(0),
    jitterMs: z.number().min(0),
    faultRate: z.number().min(0).max(1),
  })
  .partial()
  .strict();

export const configPatchSchema = z
  .object({
    defaults: limitsSchema.optional(),
    tenants: z.record(z.string(), limitsSchema.nullable()).optional(),
  })
  .strict();

export const conversationSeedSchema = z.object({
  id: z.string().min(1),
  tenantId: z.string().min(1),
  members: z.array(z.object({ id: z.string(), aadObjectId: z.string().optional(), name: z.string().optional() })).optional(),
});

const seedsSchema = z.object({ conversations: z.array(conversationSeedSchema) });

type Op =
  | { kind: 'create' }
  | { kind: 'send'; conversationId: string }
  | { kind: 'update' | 'delete'; conversationId: string; activityId: string }
  | { kind: 'pagedMembers' | 'members'; conversationId: string }
  | { kind: 'member'; conversationId: string; memberId: string }
  | { kind: 'notFound'; conversationId?: string };

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

interface KnownConversation {
  tenantId: string;
  members: RosterMember[];
}

/** One tenant's traffic. */
class TenantTraffic {
  /** Times (epoch ms) of the requests that passed the limits in the last second: the tenant's window. */
  readonly window: number[] = [];
  /** Times of every accepted request, in order: the source of the exact sliding maximum. */
  readonly acceptedAt: number[] = [];
  throttledByTenant = 0;
  throttledByConversation = 0;
  faults = 0;
  readonly statuses = new Map<number, number>();
  /** Unix second → [accepted, throttled, faults]. */
  readonly seconds = new Map<number, [number, number, number]>();
  readonly perMessage = new Map<string, Map<string, number>>();
  messages = 0;

  count(at: number, slot: 0 | 1 | 2): void {
    const second = Math.floor(at / 1000);
    const entry = this.seconds.get(second) ?? [0, 0, 0];
    entry[slot] += 1;
    this.seconds.set(second, entry);
  }
}

/** Drops the times that left the sliding second ending at `now`, and says how many are left. */
function inWindow(times: number[], now: number): number {
  let drop = 0;
  while (drop < times.length && (times[drop] ?? Infinity) <= now - WINDOW_MS) drop += 1;
  if (drop > 0) times.splice(0, drop);
  return times.length;
}

/** The most timestamps (sorted) in any half-open 1000 ms interval: two pointers, O(n). */
export function maxInAnyWindow(sorted: readonly number[], windowMs = WINDOW_MS): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end += 1) {
    const t = sorted[end] ?? 0;
    while ((sorted[start] ?? t) <= t - windowMs) start += 1;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function teamsError(code: string, message: string): unknown {
  return { error: { code, message } };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function route(method: string, pathname: string): Op {
  const seg = pathname.split('/').filter((s) => s !== '').map(decodeSegment);
  if (seg[0] !== 'v3' || seg[1] !== 'conversations') return { kind: 'notFound' };
  const conversationId = seg[2];
  if (conversationId === undefined) return method === 'POST' ? { kind: 'create' } : { kind: 'notFound' };
  const [, , , what, sub] = seg;
  if (what === 'activities') {
    if (seg.length === 4 && method === 'POST') return { kind: 'send', conversationId };
    if (seg.length === 5 && sub !== undefined) {
      if (method === 'POST') return { kind: 'send', conversationId };
      if (method === 'PUT') return { kind: 'update', conversationId, activityId: sub };
      if (method === 'DELETE') return { kind: 'delete', conversationId, activityId: sub };
    }
  }
  if (method === 'GET' && what === 'pagedmembers' && seg.length === 4) return { kind: 'pagedMembers', conversationId };
  if (method === 'GET' && what === 'members' && seg.length === 4) return { kind: 'members', conversationId };
  if (method === 'GET' && what === 'members' && seg.length === 5 && sub !== undefined) return { kind: 'member', conversationId, memberId: sub };
  return { kind: 'notFound', conversationId };
}

/** The tenant a request names in its body, the way botbuilder and our sender send it. */
function tenantInBody(op: Op, body: unknown): string | undefined {
  if (!isObject(body)) return undefined;
  const channelData = isObject(body.channelData) ? body.channelData : {};
  const fromChannelData = isObject(channelData.tenant) ? str(channelData.tenant.id) : undefined;
  if (op.kind === 'create') return str(body.tenantId) ?? fromChannelData;
  const conversation = isObject(body.conversation) ? body.conversation : {};
  return fromChannelData ?? str(conversation.tenantId);
}

/** A 1:1 create names the user; a channel thread create names the channel. */
function createTarget(body: unknown): { thread: true; channelId: string } | { thread: false; userId: string } | undefined {
  if (!isObject(body)) return undefined;
  const channelData = isObject(body.channelData) ? body.channelData : {};
  const channelId = isObject(channelData.channel) ? str(channelData.channel.id) : undefined;
  if (body.isGroup === true && channelId !== undefined) return { thread: true, channelId };
  const first: unknown = Array.isArray(body.members) ? (body.members as unknown[])[0] : undefined;
  const userId = isObject(first) ? str(first.id) : undefined;
  return userId === undefined ? undefined : { thread: false, userId };
}

/** What identifies a message for counting losses and duplicates. */
function messageKey(activity: Record<string, unknown>): string {
  return str(activity.text) ?? str(activity.summary) ?? JSON.stringify(activity.attachments ?? null);
}

function memberView(m: RosterMember, tenantId: string): Record<string, unknown> {
  return {
    id: m.id,
    name: m.name ?? m.id,
    ...(m.aadObjectId !== undefined && { aadObjectId: m.aadObjectId, objectId: m.aadObjectId }),
    tenantId,
    userRole: 'user',
  };
}

function mergeConfig(current: TeamsLikeConfig, patch: ConfigPatch): TeamsLikeConfig {
  const tenants: Record<string, Partial<TenantLimits>> = { ...current.tenants };
  for (const [id, limits] of Object.entries(patch.tenants ?? {})) {
    if (limits === null) delete tenants[id];
    else tenants[id] = { ...tenants[id], ...limits };
  }
  return { defaults: { ...current.defaults, ...patch.defaults }, tenants };
}

export async function startTeamsLikeConnector(options: TeamsLikeConnectorOptions = {}): Promise<TeamsLikeConnector> {
  const random = options.random ?? Math.random;
  // Epoch milliseconds from the monotonic clock: ordered, so the windows and the maximum agree.
  const now = (): number => performance.timeOrigin + performance.now();
  let config = mergeConfig({ defaults: TEAMS_DEFAULT_LIMITS, tenants: {} }, configPatchSchema.parse({ defaults: options.defaults, tenants: options.tenants }));
  const known = new Map<string, KnownConversation>();
  let traffic = new Map<string, TenantTraffic>();
  /** `${tenant}\n${conversation}` → times of the requests that passed, per kind of limit. */
  let conversationWindows = new Map<string, number[]>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  const nextActivityId = (): string => String(1_700_000_000_000 + ++seq);

  const limitsOf = (tenantId: string): TenantLimits => ({ ...config.defaults, ...config.tenants[tenantId] });
  const trafficOf = (tenantId: string): TenantTraffic => {
    let t = traffic.get(tenantId);
    if (t === undefined) {
      t = new TenantTraffic();
      traffic.set(tenantId, t);
    }
    return t;
  };

  function register(seeds: readonly ConversationSeed[]): void {
    for (const s of seeds) known.set(s.id, { tenantId: s.tenantId, members: (s.members ?? []).map((m) => ({ ...m })) });
  }
  register(seedsSchema.parse({ conversations: options.conversations ?? [] }).conversations);

  /** Remembers a conversation's tenant the first time a call names both. */
  function learn(conversationId: string, tenantId: string, member?: RosterMember): void {
    const entry = known.get(conversationId);
    if (entry === undefined) known.set(conversationId, { tenantId, members: member === undefined ? [] : [member] });
    else if (member !== undefined && !entry.members.some((m) => m.id === member.id)) entry.members.push(member);
  }

  function knownConversation(conversationId: string): KnownConversation | undefined {
    // A thread "C;messageid=X" belongs to channel C.
    return known.get(conversationId) ?? known.get(conversationId.split(';messageid=')[0] ?? conversationId);
  }

  /** The conversation a request spends the per-conversation budget of. */
  function conversationOf(op: Op, body: unknown): string | undefined {
    if (op.kind !== 'create') return op.conversationId;
    const target = createTarget(body);
    if (target === undefined) return undefined;
    return target.thread ? target.channelId : `a:fake-${target.userId}`;
  }

  function deliver(t: TenantTraffic, conversationId: string, activity: Record<string, unknown>): void {
    t.messages += 1;
    let forConversation = t.perMessage.get(conversationId);
    if (forConversation === undefined) {
      forConversation = new Map();
      t.perMessage.set(conversationId, forConversation);
    }
    const key = messageKey(activity);
    forConversation.set(key, (forConversation.get(key) ?? 0) + 1);
  }

  /** Carries out an accepted request: records what it delivered and answers what Teams answers. */
  function perform(op: Op, body: unknown, tenantId: string, query: URLSearchParams, t: TenantTraffic): Reply {
    switch (op.kind) {
      case 'create': {
        const target = createTarget(body);
        if (!isObject(body) || target === undefined) {
          return { status: 400, body: teamsError('BadArgument', 'Members or a channel are required') };
        }
        const activity = isObject(body.activity) ? body.activity : undefined;
        if (target.thread) {
          if (activity === undefined) return { status: 400, body: teamsError('BadArgument', 'Activity is required') };
          const activityId = nextActivityId();
          const id = `${target.channelId};messageid=${activityId}`;
          learn(target.channelId, tenantId);
          deliver(t, id, activity);
          return { status: 201, body: { id, activityId } };
        }
        const id = `a:fake-${target.userId}`;
        learn(id, tenantId, { id: target.userId });
        if (activity === undefined) return { status: 201, body: { id } };
        const activityId = nextActivityId();
        deliver(t, id, activity);
        return { status: 201, body: { id, activityId } };
      }
      case 'send': {
        if (!isObject(body)) return { status: 400, body: teamsError('BadArgument', 'Missing activity') };
        learn(op.conversationId, tenantId);
        deliver(t, op.conversationId, body);
        return { status: 201, body: { id: nextActivityId() } };
      }
      case 'update':
        return { status: 200, body: { id: op.activityId } };
      case 'delete':
        return { status: 200 };
      case 'pagedMembers': {
        const members = knownConversation(op.conversationId)?.members ?? [];
        const sizeRaw = Number(query.get('pageSize'));
        const pageSize = sizeRaw > 0 ? Math.floor(sizeRaw) : DEFAULT_PAGE_SIZE;
        const offset = Number(/^ct-(\d+)$/.exec(query.get('continuationToken') ?? '')?.[1] ?? 0);
        const page = members.slice(offset, offset + pageSize).map((m) => memberView(m, tenantId));
        const next = offset + pageSize;
        return { status: 200, body: next < members.length ? { continuationToken: `ct-${next}`, members: page } : { members: page } };
      }
      case 'members':
        return { status: 200, body: (knownConversation(op.conversationId)?.members ?? []).map((m) => memberView(m, tenantId)) };
      case 'member': {
        const found = knownConversation(op.conversationId)?.members.find((m) => m.id === op.memberId || m.aadObjectId === op.memberId);
        return found !== undefined
          ? { status: 200, body: memberView(found, tenantId) }
          : { status: 404, body: teamsError('MemberNotFoundInConversation', 'The member was not found in the conversation.') };
      }
      case 'notFound':
        return { status: 404, body: teamsError('NotFound', 'No such operation') };
    }
  }

  /** A Bot Connector request: the limits, then a fault or the operation, answered after the latency. */
  function connectorRequest(method: string, url: URL, body: unknown, res: http.ServerResponse): void {
    const at = now();
    const op = route(method, url.pathname);
    const conversationId = conversationOf(op, body);
    const tenantId =
      tenantInBody(op, body) ?? (conversationId === undefined ? undefined : knownConversation(conversationId)?.tenantId) ?? UNKNOWN_TENANT;
    const limits = limitsOf(tenantId);
    const t = trafficOf(tenantId);
    const read = method === 'GET';
    const windowKey = conversationId === undefined ? undefined : `${read ? 'r' : 'w'}\n${tenantId}\n${conversationId}`;
    let conversationWindow = windowKey === undefined ? undefined : conversationWindows.get(windowKey);
    if (windowKey !== undefined && conversationWindow === undefined) {
      conversationWindow = [];
      conversationWindows.set(windowKey, conversationWindow);
    }

    let reply: Reply;
    if (inWindow(t.window, at) >= limits.rps) {
      t.throttledByTenant += 1;
      t.count(at, 1);
      reply = throttled('the tenant');
    } else if (conversationWindow !== undefined && inWindow(conversationWindow, at) >= (read ? limits.perConversationReadRps : limits.perConversationRps)) {
      t.throttledByConversation += 1;
      t.count(at, 1);
      reply = throttled('the conversation');
    } else {
      t.window.push(at);
      conversationWindow?.push(at);
      if (random() < limits.faultRate) {
        t.faults += 1;
        t.count(at, 2);
        reply = { status: 503, body: teamsError('ServiceUnavailable', 'The service is temporarily unavailable.') };
      } else {
        t.acceptedAt.push(at);
        t.count(at, 0);
        reply = perform(op, body, tenantId, url.searchParams, t);
      }
    }
    t.statuses.set(reply.status, (t.statuses.get(reply.status) ?? 0) + 1);
    if (conversationWindows.size > 50_000) sweepConversationWindows(at);

    const delay = Math.max(0, limits.latencyMs + (random() * 2 - 1) * limits.jitterMs);
    const timer = setTimeout(() => {
      timers.delete(timer);
      write(res, reply);
    }, delay);
    timers.add(timer);
  }

  /** Forgets conversations idle for a second, so a run over many conversations does not grow without end. */
  function sweepConversationWindows(at: number): void {
    for (const [key, times] of conversationWindows) if (inWindow(times, at) === 0) conversationWindows.delete(key);
  }

  function throttled(scope: string): Reply {
    return { status: 429, headers: { 'Retry-After': '1' }, body: teamsError('Throttled', `Too many requests for ${scope}. Retry after 1 second.`) };
  }

  function stats(options: StatsOptions = {}): ConnectorStats {
    const tenants: Record<string, TenantStats> = {};
    const totals = { accepted: 0, throttled: 0, faults: 0, messages: 0 };
    for (const [id, t] of traffic) {
      const secondsSeen = [...t.seconds.keys()];
      const perSecond: PerSecond[] = [];
      if (secondsSeen.length > 0) {
        for (let s = Math.min(...secondsSeen); s <= Math.max(...secondsSeen); s += 1) {
          const [accepted, throttledCount, faults] = t.seconds.get(s) ?? [0, 0, 0];
          perSecond.push({ second: s, accepted, throttled: throttledCount, faults });
        }
      }
      let distinct = 0;
      const perConversation: Record<string, number> = {};
      const perMessage: Record<string, Record<string, number>> = {};
      for (const [conversationId, byKey] of t.perMessage) {
        distinct += byKey.size;
        perConversation[conversationId] = [...byKey.values()].reduce((a, b) => a + b, 0);
        perMessage[conversationId] = Object.fromEntries(byKey);
      }
      const throttledCount = t.throttledByTenant + t.throttledByConversation;
      tenants[id] = {
        accepted: t.acceptedAt.length,
        throttled: throttledCount,
        throttledByTenant: t.throttledByTenant,
        throttledByConversation: t.throttledByConversation,
        faults: t.faults,
        statuses: Object.fromEntries([...t.statuses].map(([status, n]) => [String(status), n])),
        maxAcceptedInAnyWindow: maxInAnyWindow(t.acceptedAt),
        firstAcceptedAt: t.acceptedAt[0] ?? null,
        lastAcceptedAt: t.acceptedAt[t.acceptedAt.length - 1] ?? null,
        perSecond,
        deliveries: {
          messages: t.messages,
          distinct,
          duplicates: t.messages - distinct,
          ...(options.perConversation !== false && { perConversation, perMessage }),
        },
      };
      totals.accepted += t.acceptedAt.length;
      totals.throttled += throttledCount;
      totals.faults += t.faults;
      totals.messages += t.messages;
    }
    return { tenants, totals };
  }

  function reset(): void {
    traffic = new Map();
    conversationWindows = new Map();
  }

  /** The control endpoints under `/_`; undefined when the path is not one. */
  function control(method: string, url: URL, body: unknown): Reply | undefined {
    const path = url.pathname;
    if (path === '/_health' && method === 'GET') return { status: 200, body: { ok: true } };
    if (path === '/_stats' && method === 'GET') return { status: 200, body: stats({ perConversation: url.searchParams.get('perConversation') !== 'false' }) };
    if (path === '/_config' && method === 'GET') return { status: 200, body: config };
    if (path === '/_config' && method === 'POST') {
      const patch = configPatchSchema.safeParse(body);
      if (!patch.success) return { status: 400, body: { error: patch.error.message } };
      config = mergeConfig(config, patch.data);
      return { status: 200, body: config };
    }
    if (path === '/_reset' && method === 'POST') {
      reset();
      return { status: 204 };
    }
    if (path === '/_conversations' && method === 'POST') {
      const seeds = seedsSchema.safeParse(body);
      if (!seeds.success) return { status: 400, body: { error: seeds.error.message } };
      register(seeds.data.conversations);
      return { status: 204 };
    }
    return path.startsWith('/_') ? { status: 404, body: { error: `no control route ${method} ${path}` } } : undefined;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : (JSON.parse(text) as unknown);
      } catch {
        // Not JSON: the request still reaches the service and counts, and is answered 400 (no body to act on).
        body = undefined;
      }
      const controlReply = control(method, url, body);
      if (controlReply !== undefined) write(res, controlReply);
      else connectorRequest(method, url, body, res);
    });
  });
  // Benchmarks open many connections at once; the default backlog and keep-alive suit that.
  server.keepAliveTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    serviceUrl: `http://127.0.0.1:${port}/`,
    stats: async (o) => stats(o),
    config: async () => config,
    setConfig: async (patch) => {
      config = mergeConfig(config, configPatchSchema.parse(patch));
      return config;
    },
    registerConversations: async (seeds) => register(seedsSchema.parse({ conversations: seeds }).conversations),
    reset: async () => reset(),
    stop: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function write(res: http.ServerResponse, reply: Reply): void {
  if (res.destroyed || res.writableEnded) return;
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    ...(reply.body !== undefined && { 'Content-Type': 'application/json; charset=utf-8' }),
    'Content-Length': String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

export { connectTeamsLikeConnector, startTeamsLikeConnectorProcess } from './teamsLikeConnectorProcess';
