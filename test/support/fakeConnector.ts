/**
 * A scriptable fake of the Bot Framework / Teams Bot Connector REST API (v3) on loopback.
 *
 * Point botbuilder at it by using `serviceUrl` as the conversation reference's serviceUrl, with a
 * CloudAdapter built on `new ConfigurationBotFrameworkAuthentication({})` (no app id, so the
 * connector client sends no Authorization header and fetches no token).
 *
 * Answers what Teams answers:
 * - `POST /v3/conversations` (createConversation)
 *     1:1 → 201 `{ id: "a:fake-<members[0].id>" }`: the same id every time for the same user, like
 *     Teams. With `activity` included, the activity is delivered too and `activityId` returned.
 *     channel thread (`isGroup`, `channelData.channel.id = C`, `activity`) →
 *     201 `{ id: "C;messageid=<activityId>", activityId }`, root activity recorded as delivered.
 * - `POST /v3/conversations/{id}/activities` (sendToConversation) → 201 `{ id }`
 * - `POST /v3/conversations/{id}/activities/{activityId}` (replyToActivity) → 201 `{ id }`
 * - `GET /v3/conversations/{id}/pagedmembers?pageSize&continuationToken` → 200
 *   `{ members, continuationToken? }` from `setTeamMembers`
 * - `GET /v3/conversations/{id}/members/{memberId}` (getMember) → 200 member, or 404
 *   `MemberNotFoundInConversation`
 * - `PUT /v3/conversations/{id}/activities/{activityId}` (updateActivity) → 200 `{ id }`, and the
 *   delivered message is replaced; `DELETE` on the same path (deleteActivity) → 200, and it is
 *   marked deleted. An activity it never delivered (or deleted already) → 404.
 * - op 'other': `GET .../members` (unpaged roster); anything else 404.
 *
 * Errors use Teams' body `{"error":{"code":"…","message":"…"}}`; with a `subCode` the body is the
 * one Teams documents for a blocked bot (see `errorBody`). `Retry-After` is sent when given.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export type ConnectorOp =
  | 'createConversation'
  | 'sendToConversation'
  | 'replyToActivity'
  | 'getPagedMembers'
  | 'getMember'
  | 'updateActivity'
  | 'deleteActivity'
  | 'other';

export interface ConnectorCall {
  op: ConnectorOp;
  method: string;
  /** Raw request path including the query string, as received (still URL-encoded). */
  path: string;
  /**
   * Decoded conversation id from the path. For createConversation: the id the call creates for a
   * 1:1 (`a:fake-<userId>`), or the channel id for a channel thread.
   */
  conversationId?: string;
  /** createConversation: members[0].id; getMember: the member id; sends: activity.recipient.id. */
  userId?: string;
  /** Parsed JSON body (undefined when there was none). */
  body: unknown;
  headers: http.IncomingHttpHeaders;
  /** performance.now() when the request arrived. */
  at: number;
  /** Status answered; 0 while unanswered (hanging). */
  status: number;
  /** performance.now() when answered. */
  answeredAt?: number;
  /** The client closed the connection before an answer was written. */
  aborted?: boolean;
}

export type ScriptedResponse =
  | {
      status: number;
      /** Teams error code, e.g. ConversationBlockedByUser. Defaults by status (see DEFAULT_CODES). */
      code?: string;
      /** e.g. MessageWritesBlocked: switches to the body shape Teams documents for it. */
      subCode?: string;
      message?: string;
      /** Sent as the `Retry-After` header (seconds). */
      retryAfterSeconds?: number;
      /** Raw body override (object → JSON, string as is); code/subCode/message are then ignored. */
      body?: unknown;
    }
  /** Hang, then answer `then` (default: success). Above 2^31-1 ms (e.g. Infinity): never answer. */
  | { delayMs: number; then?: ScriptedResponse }
  | { ok: true };

export interface CallMatch {
  /** 'send' matches sendToConversation and replyToActivity (botbuilder's sendActivity uses either). */
  op?: ConnectorOp | 'send';
  conversationId?: string;
  /** createConversation: members[0].id; getMember: member id; sends: activity.recipient.id. */
  userId?: string;
}

export interface TeamMember {
  id: string;
  aadObjectId?: string;
  name?: string;
  [extra: string]: unknown;
}

export interface DeliveredMessage {
  conversationId: string;
  /** The activity as it stands: the last update replaces it. */
  activity: Record<string, unknown>;
  activityId: string;
  /** Updates applied (PUT on the activity), in order. */
  edits: number;
  /** Deleted (DELETE on the activity): Teams shows "This message has been deleted". */
  deleted: boolean;
}

export interface FakeConnector {
  /** `http://127.0.0.1:<port>/` */
  readonly serviceUrl: string;
  readonly calls: readonly ConnectorCall[];
  /**
   * Next responses for matching calls, consumed in order; when the script runs out, calls succeed.
   * Scripts are consulted before `always` rules, oldest script first.
   */
  script(match: CallMatch, responses: ScriptedResponse[]): void;
  /** Every matching call answers this (after any pending scripts) until reset or the returned function is called. */
  always(match: CallMatch, response: ScriptedResponse): () => void;
  /** Forget calls, scripts, always rules, deliveries, rosters and created conversations. */
  reset(): void;
  /** Roster served by pagedmembers / members for that conversation (team) id. */
  setTeamMembers(teamId: string, members: TeamMember[]): void;
  /**
   * Accepted messages (answered 201 or decided to be), oldest first. With an id: messages of that
   * conversation, and for a channel id also those in its threads (`<id>;messageid=…`).
   */
  delivered(conversationId?: string): DeliveredMessage[];
  close(): Promise<void>;
}

/** Teams' code when a script gives only a status. */
const DEFAULT_CODES: Record<number, string> = {
  400: 'BadArgument',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'ConversationNotFound',
  412: 'PreconditionFailed',
  413: 'MessageSizeTooBig',
  429: 'Throttled',
  500: 'ServiceError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

const DEFAULT_MESSAGES: Record<string, string> = {
  ConversationBlockedByUser: 'User blocked the conversation with the bot.',
  BotDisabledByAdmin: 'The tenant admin disabled this bot',
  BotNotInConversationRoster: 'The bot is not part of the conversation roster.',
  ConversationNotFound: 'Conversation not found.',
  Throttled: 'Too many requests.',
  MessageSizeTooBig: 'Message size too big.',
  PreconditionFailed: 'Precondition failed, please try again.',
};

/** Longest delay setTimeout honours; longer scripted delays never answer. */
const MAX_TIMER_MS = 2_147_483_647;

/** Default page size when the client sends none. */
const DEFAULT_PAGE_SIZE = 200;

type Rule = { match: CallMatch; queue: ScriptedResponse[] } | { match: CallMatch; response: ScriptedResponse };

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The error body Teams sends.
 * - code only: `{"error":{"code":"ConversationBlockedByUser","message":"User blocked the conversation with the bot."}}`
 * - with subCode, Teams' documented example for a blocked/uninstalled bot (send-proactive-messages,
 *   "Understand who blocked, muted, or uninstalled a bot"):
 *   `{"errorCode":209,"message":"{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"}`
 *   (no `error` object, so botbuilder's RestError has no `code` for it: read `response.bodyAsText`).
 */
export function errorBody(status: number, code?: string, subCode?: string, message?: string): unknown {
  if (subCode !== undefined) {
    const inner = JSON.stringify(
      {
        subCode,
        details: message ?? (subCode === 'MessageWritesBlocked' ? 'Thread is blocked from message writes.' : subCode),
        errorCode: null,
        errorSubCode: null,
      },
      null,
      2,
    ).replace(/\n/g, '\r\n');
    return subCode === 'MessageWritesBlocked' ? { errorCode: 209, message: inner } : { message: inner };
  }
  const c = code ?? DEFAULT_CODES[status] ?? 'Error';
  return { error: { code: c, message: message ?? DEFAULT_MESSAGES[c] ?? `${c} (${status})` } };
}

function matches(m: CallMatch, call: ConnectorCall): boolean {
  return (
    (m.op === undefined ||
      m.op === call.op ||
      (m.op === 'send' && (call.op === 'sendToConversation' || call.op === 'replyToActivity'))) &&
    (m.conversationId === undefined || m.conversationId === call.conversationId) &&
    (m.userId === undefined || m.userId === call.userId)
  );
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

interface Route {
  op: ConnectorOp;
  conversationId?: string;
  activityId?: string;
  memberId?: string;
  kind?: 'members';
}

function route(method: string, pathname: string): Route {
  const seg = pathname.split('/').filter((s) => s !== '').map(decodeSegment);
  if (seg[0] !== 'v3' || seg[1] !== 'conversations') return { op: 'other' };
  const cid = seg[2];
  if (cid === undefined) return method === 'POST' ? { op: 'createConversation' } : { op: 'other' };
  if (seg[3] === 'activities') {
    const aid = seg[4];
    if (seg.length === 4 && method === 'POST') return { op: 'sendToConversation', conversationId: cid };
    if (seg.length === 5 && aid !== undefined) {
      if (method === 'POST') return { op: 'replyToActivity', conversationId: cid, activityId: aid };
      if (method === 'PUT') return { op: 'updateActivity', conversationId: cid, activityId: aid };
      if (method === 'DELETE') return { op: 'deleteActivity', conversationId: cid, activityId: aid };
    }
    return { op: 'other', conversationId: cid };
  }
  if (seg[3] === 'pagedmembers' && seg.length === 4 && method === 'GET') {
    return { op: 'getPagedMembers', conversationId: cid };
  }
  if (seg[3] === 'members' && method === 'GET') {
    if (seg.length === 5) return { op: 'getMember', conversationId: cid, memberId: seg[4] };
    if (seg.length === 4) return { op: 'other', conversationId: cid, kind: 'members' };
  }
  return { op: 'other', conversationId: cid };
}

function memberView(m: TeamMember, tenantId: string | undefined): Record<string, unknown> {
  const { id, aadObjectId, name, ...extra } = m;
  const out: Record<string, unknown> = { id, name: name ?? id };
  if (aadObjectId !== undefined) {
    // Teams' documented payload carries `objectId`; botbuilder's typings read `aadObjectId`. Send both.
    out.objectId = aadObjectId;
    out.aadObjectId = aadObjectId;
  }
  if (tenantId !== undefined) out.tenantId = tenantId;
  out.userRole = 'user';
  return { ...out, ...extra };
}

export async function startFakeConnector(): Promise<FakeConnector> {
  const calls: ConnectorCall[] = [];
  let rules: Rule[] = [];
  let deliveries: DeliveredMessage[] = [];
  let rosters = new Map<string, TeamMember[]>();
  /** 1:1 conversations created: id → tenant id. */
  let personal = new Map<string, string | undefined>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  const nextActivityId = (): string => String(1_700_000_000_000 + ++seq);

  function pickScripted(call: ConnectorCall): ScriptedResponse | undefined {
    for (const r of rules) {
      if ('queue' in r && r.queue.length > 0 && matches(r.match, call)) return r.queue.shift();
    }
    for (const r of rules) {
      if ('response' in r && matches(r.match, call)) return r.response;
    }
    return undefined;
  }

  /** The normal (successful or protocol-error) answer; records deliveries. */
  function succeed(call: ConnectorCall, rt: Route, query: URLSearchParams): Reply {
    const body = call.body;
    switch (rt.op) {
      case 'createConversation': {
        if (!isObject(body)) return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Missing body') };
        const channelData = isObject(body.channelData) ? body.channelData : {};
        const channelId = isObject(channelData.channel) ? str(channelData.channel.id) : undefined;
        const activity = isObject(body.activity) ? body.activity : undefined;
        if (body.isGroup === true && channelId !== undefined) {
          if (activity === undefined) {
            return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Activity is required') };
          }
          const activityId = nextActivityId();
          const id = `${channelId};messageid=${activityId}`;
          deliveries.push({ conversationId: id, activity, activityId, edits: 0, deleted: false });
          return { status: 201, body: { id, activityId } };
        }
        const userId = call.userId;
        if (userId === undefined) {
          return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Members are required') };
        }
        const tenantId =
          str(body.tenantId) ?? (isObject(channelData.tenant) ? str(channelData.tenant.id) : undefined);
        const id = `a:fake-${userId}`;
        personal.set(id, tenantId);
        if (activity !== undefined) {
          const activityId = nextActivityId();
          deliveries.push({ conversationId: id, activity, activityId, edits: 0, deleted: false });
          return { status: 201, body: { id, activityId } };
        }
        return { status: 201, body: { id } };
      }
      case 'sendToConversation':
      case 'replyToActivity': {
        if (!isObject(body)) return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Missing activity') };
        const activityId = nextActivityId();
        deliveries.push({ conversationId: rt.conversationId ?? '', activity: body, activityId, edits: 0, deleted: false });
        return { status: 201, body: { id: activityId } };
      }
      case 'updateActivity':
      case 'deleteActivity': {
        // A message the connector delivered, in that conversation (or in a thread of it), not deleted.
        const found = deliveries.find(
          (d) => d.activityId === rt.activityId && !d.deleted && (d.conversationId === rt.conversationId || d.conversationId.startsWith(`${rt.conversationId ?? ''};messageid=`) || (rt.conversationId ?? '').startsWith(`${d.conversationId};`)),
        );
        if (found === undefined) return { status: 404, body: errorBody(404, 'ActivityNotFoundInConversation', undefined, 'The activity was not found.') };
        if (rt.op === 'deleteActivity') {
          found.deleted = true;
          return { status: 200 };
        }
        if (!isObject(body)) return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Missing activity') };
        found.activity = body;
        found.edits += 1;
        return { status: 200, body: { id: rt.activityId } };
      }
      case 'getPagedMembers': {
        const roster = rosters.get(rt.conversationId ?? '');
        if (roster === undefined) return { status: 404, body: errorBody(404, 'ConversationNotFound') };
        const sizeRaw = query.get('pageSize');
        const pageSize = sizeRaw !== null && Number(sizeRaw) > 0 ? Math.floor(Number(sizeRaw)) : DEFAULT_PAGE_SIZE;
        const token = query.get('continuationToken');
        let offset = 0;
        if (token !== null && token !== '') {
          const m = /^fake-ct-(\d+)$/.exec(token);
          if (m?.[1] === undefined) {
            return { status: 400, body: errorBody(400, 'BadArgument', undefined, 'Invalid continuation token') };
          }
          offset = Number(m[1]);
        }
        const tenantId = personal.get(rt.conversationId ?? '');
        const page = roster.slice(offset, offset + pageSize).map((m) => memberView(m, tenantId));
        const next = offset + pageSize;
        return {
          status: 200,
          body: next < roster.length ? { continuationToken: `fake-ct-${next}`, members: page } : { members: page },
        };
      }
      case 'getMember': {
        const cid = rt.conversationId ?? '';
        const found = rosters.get(cid)?.find((m) => m.id === rt.memberId || m.aadObjectId === rt.memberId);
        if (found !== undefined) return { status: 200, body: memberView(found, undefined) };
        if (personal.has(cid) && cid === `a:fake-${rt.memberId ?? ''}`) {
          return { status: 200, body: { id: rt.memberId, name: rt.memberId, userRole: 'user' } };
        }
        return {
          status: 404,
          body: errorBody(404, 'MemberNotFoundInConversation', undefined, 'The member was not found in the conversation.'),
        };
      }
      case 'other': {
        if (rt.kind === 'members') {
          const roster = rosters.get(rt.conversationId ?? '');
          if (roster === undefined) return { status: 404, body: errorBody(404, 'ConversationNotFound') };
          return { status: 200, body: roster.map((m) => memberView(m, undefined)) };
        }
        return { status: 404, body: errorBody(404, 'NotFound', undefined, `No such route: ${call.method} ${call.path}`) };
      }
    }
  }

  function write(res: http.ServerResponse, call: ConnectorCall, reply: Reply): void {
    call.status = reply.status;
    call.answeredAt = performance.now();
    if (res.destroyed || res.writableEnded) {
      call.aborted = true;
      return;
    }
    const headers: Record<string, string> = { ...reply.headers };
    let payload = '';
    if (reply.body !== undefined) {
      payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      headers['Content-Type'] = 'application/json; charset=utf-8';
    }
    headers['Content-Length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  function answer(
    res: http.ServerResponse,
    call: ConnectorCall,
    rt: Route,
    query: URLSearchParams,
    scripted: ScriptedResponse | undefined,
  ): void {
    if (scripted === undefined || 'ok' in scripted) {
      write(res, call, succeed(call, rt, query));
      return;
    }
    if ('delayMs' in scripted) {
      // setTimeout fires at once above 2^31-1 ms; treat such delays as "never answer".
      if (scripted.delayMs > MAX_TIMER_MS) return;
      const t = setTimeout(() => {
        timers.delete(t);
        answer(res, call, rt, query, scripted.then);
      }, scripted.delayMs);
      timers.add(t);
      return;
    }
    const headers: Record<string, string> = {};
    if (scripted.retryAfterSeconds !== undefined) headers['Retry-After'] = String(scripted.retryAfterSeconds);
    const body =
      scripted.body !== undefined
        ? scripted.body
        : errorBody(scripted.status, scripted.code, scripted.subCode, scripted.message);
    write(res, call, { status: scripted.status, body, headers });
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const rawPath = req.url ?? '/';
      const url = new URL(rawPath, 'http://127.0.0.1');
      const rt = route(method, url.pathname);
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      let badJson = false;
      if (text !== '') {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          badJson = true;
          body = text;
        }
      }
      let conversationId = rt.conversationId;
      let userId: string | undefined;
      if (rt.op === 'createConversation' && isObject(body)) {
        const members = Array.isArray(body.members) ? (body.members as unknown[]) : [];
        const first = members[0];
        userId = isObject(first) ? str(first.id) : undefined;
        const channelData = isObject(body.channelData) ? body.channelData : undefined;
        const channelId = channelData && isObject(channelData.channel) ? str(channelData.channel.id) : undefined;
        conversationId = body.isGroup === true && channelId !== undefined ? channelId : userId && `a:fake-${userId}`;
      } else if (rt.op === 'getMember') {
        userId = rt.memberId;
      } else if ((rt.op === 'sendToConversation' || rt.op === 'replyToActivity') && isObject(body)) {
        userId = isObject(body.recipient) ? str(body.recipient.id) : undefined;
      }
      const call: ConnectorCall = {
        op: rt.op,
        method,
        path: rawPath,
        body,
        headers: req.headers,
        at: performance.now(),
        status: 0,
      };
      if (conversationId !== undefined) call.conversationId = conversationId;
      if (userId !== undefined) call.userId = userId;
      calls.push(call);
      res.on('close', () => {
        if (call.status === 0) call.aborted = true;
      });
      if (badJson) {
        write(res, call, { status: 400, body: errorBody(400, 'BadSyntax', undefined, 'Invalid JSON') });
        return;
      }
      answer(res, call, rt, url.searchParams, pickScripted(call));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    serviceUrl: `http://127.0.0.1:${port}/`,
    get calls(): readonly ConnectorCall[] {
      return calls;
    },
    script(match, responses) {
      rules.push({ match: { ...match }, queue: [...responses] });
    },
    always(match, response) {
      const rule: Rule = { match: { ...match }, response };
      rules.push(rule);
      return () => {
        rules = rules.filter((r) => r !== rule);
      };
    },
    reset() {
      calls.length = 0;
      rules = [];
      deliveries = [];
      rosters = new Map();
      personal = new Map();
    },
    setTeamMembers(teamId, members) {
      rosters.set(teamId, members.map((m) => ({ ...m })));
    },
    delivered(conversationId) {
      if (conversationId === undefined) return [...deliveries];
      return deliveries.filter(
        (d) => d.conversationId === conversationId || d.conversationId.startsWith(`${conversationId};messageid=`),
      );
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
