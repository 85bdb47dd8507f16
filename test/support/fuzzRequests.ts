import fc from 'fast-check';
import type { HttpFunctionDefinition } from '../../functions/definitions';
import { MAX_BODY_BYTES } from '../../shared/http/readJsonBody';

/** One raw HTTP request, written as it goes on the wire (the path is sent exactly as given). */
export interface FuzzRequest {
  /** The function whose route the request was made for (`unrouted` for paths no function serves). */
  readonly surface: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** Why it must be refused, for requests built to be (a 2xx for them is a defect); undefined when anything is allowed. */
  readonly mustRefuse?: string;
}

/** What the fuzz needs to know to reach past the host: keys, a real id, a reachable serviceUrl. */
export interface FuzzTarget {
  readonly functionKey: string;
  readonly adminKey: string;
  /** A notification that exists, so id routes get past the lookup. */
  readonly existingId: string;
  /** A live fake Bot Connector on loopback: replies from valid activities land there. */
  readonly serviceUrl: string;
}

/** Bodies each known surface reads, valid as they stand: the seeds that mutations start from. */
export function validBodies(target: FuzzTarget): Readonly<Record<string, fc.Arbitrary<unknown>>> {
  return {
    postNotification: fc.record({
      recipients: fc.array(fc.uuid().map((aadObjectId) => ({ type: 'user', aadObjectId })), { minLength: 1, maxLength: 3 }),
      message: fc.oneof(fc.record({ text: fc.string({ minLength: 1, maxLength: 40 }) }), fc.constant({ template: 'notification', data: { title: 'Build', whatHappened: 'passed' } })),
    }),
    editNotification: fc.record({ message: fc.record({ text: fc.string({ minLength: 1, maxLength: 40 }) }) }),
    retryNotification: fc.oneof(fc.constant({}), fc.constant({ expiresAt: new Date(Date.now() + 86_400_000).toISOString() })),
    botMessages: teamsActivity(target.serviceUrl),
  };
}

/** Activities as Teams sends them (personal chat, channel, install, invoke), with fresh ids and tenants. */
export function teamsActivity(serviceUrl: string): fc.Arbitrary<Record<string, unknown>> {
  const base = fc.record({ tenant: fc.uuid(), user: fc.uuid(), conversation: fc.uuid(), team: fc.uuid() }).map(({ tenant, user, conversation, team }) => ({
    tenant,
    team,
    user,
    common: {
      id: `1${conversation.slice(0, 8)}`,
      timestamp: new Date().toISOString(),
      serviceUrl,
      channelId: 'msteams',
      locale: 'en-US',
      from: { id: `29:${user}`, name: 'Fuzz User', aadObjectId: user },
      recipient: { id: '28:fuzz-bot', name: 'teams-notify' },
      channelData: { tenant: { id: tenant } },
    },
  }));
  return fc.tuple(base, fc.constantFrom('message', 'channelMessage', 'install', 'remove', 'membersAdded', 'invoke', 'readReceipt', 'typing'), fc.constantFrom('help', 'stop', 'start', 'hello', '<at>bot</at> help', '')).map(
    ([{ tenant, team, user, common }, kind, text]) => {
      const personal = { id: `a:${user}`, conversationType: 'personal', tenantId: tenant };
      const channel = { id: `19:${team}@thread.tacv2`, conversationType: 'channel', tenantId: tenant, isGroup: true };
      const teamData = { tenant: { id: tenant }, team: { id: `19:${team}@thread.tacv2`, name: 'Fuzz team', aadGroupId: team }, channel: { id: `19:${team}@thread.tacv2`, name: 'General' } };
      switch (kind) {
        case 'message':
          return { ...common, type: 'message', text, conversation: personal };
        case 'channelMessage':
          return { ...common, type: 'message', text, conversation: channel, channelData: teamData };
        case 'install':
          return { ...common, type: 'installationUpdate', action: 'add', conversation: personal };
        case 'remove':
          return { ...common, type: 'installationUpdate', action: 'remove', conversation: personal };
        case 'membersAdded':
          return { ...common, type: 'conversationUpdate', conversation: channel, channelData: { ...teamData, eventType: 'teamMemberAdded' }, membersAdded: [{ id: `29:${user}`, aadObjectId: user }] };
        case 'invoke':
          return { ...common, type: 'invoke', name: 'composeExtension/query', value: { commandId: 'x' }, conversation: personal };
        case 'readReceipt':
          return { ...common, type: 'event', name: 'application/vnd.microsoft.readReceipt', value: { lastReadMessageId: '1' }, conversation: personal };
        default:
          return { ...common, type: 'typing', conversation: personal };
      }
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Mutations of JSON values

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values that break code expecting something else: wrong types, odd strings, prototype keys' values. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, weight: 4 },
  fc.constantFrom<Json>(
    null,
    true,
    0,
    -1,
    1e308,
    '',
    ' ',
    [],
    {},
    [[]],
    { id: 1 },
    'javascript:alert(1)',
    'ftp://example.com',
    'http://',
    'not a url',
    '\ud800',
    '\u0000',
    '%ED%A0%80',
    '2026-13-45T99:99:99Z',
    'x'.repeat(70_000),
    ['message'],
    { toString: 'x', valueOf: 1 },
  ),
);

/** Every path to a value in `value` (down to 16 levels), the root first. */
function pathsOf(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const paths = [prefix];
  if (prefix.length >= 16) return paths;
  if (Array.isArray(value)) value.forEach((v, i) => paths.push(...pathsOf(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths.push(...pathsOf(v, [...prefix, k]));
  return paths;
}

/** Own enumerable property even for `__proto__` (an assignment would set the prototype instead). */
function setOwn(target: Record<string, Json> | Json[], key: string | number, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

type Mutation =
  | { readonly op: 'replace'; readonly at: number; readonly value: Json }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'addKey'; readonly at: number; readonly key: string; readonly value: Json }
  | { readonly op: 'wrap'; readonly at: number }
  | { readonly op: 'deepen'; readonly at: number; readonly depth: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: hostileValue }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({ op: fc.constant('addKey' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ''), fc.string({ maxLength: 8 })), value: hostileValue }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant('wrap' as const), at: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('deepen' as const), at: fc.nat(), depth: fc.integer({ min: 10, max: 1_000 }) }), weight: 1 },
);

/** `v` with a `deep` field nested `depth` levels, written as text (JSON.stringify itself would overflow the stack). */
function deepJson(v: unknown, depth: number): Buffer {
  const inner = JSON.stringify(v);
  const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return Buffer.from(inner.startsWith('{') && inner !== '{}' ? `{"deep":${deep},${inner.slice(1)}` : `{"deep":${deep}}`, 'utf8');
}

function nested(depth: number): Json {
  let value: Json = 'bottom';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** Applies mutations to a deep copy; a mutation's `at` picks a path modulo how many there are. */
export function mutate(original: unknown, mutations: readonly Mutation[]): unknown {
  let root = JSON.parse(JSON.stringify(original)) as Json;
  for (const m of mutations) {
    const paths = pathsOf(root);
    const path = paths[m.at % paths.length] ?? [];
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1];
    const current = path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k] as Json, root);
    const parent = parentPath.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k] as Json, root) as Record<string, Json> | Json[];
    const put = (value: Json) => (key === undefined ? (root = value) : setOwn(parent, key, value));
    switch (m.op) {
      case 'replace':
        put(m.value);
        break;
      case 'delete':
        if (key === undefined) root = null;
        else if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case 'addKey':
        if (current !== null && typeof current === 'object' && !Array.isArray(current)) setOwn(current, m.key, m.value);
        else {
          const holder: Record<string, Json> = {};
          setOwn(holder, m.key, m.value);
          put(holder);
        }
        break;
      case 'wrap':
        put([current]);
        break;
      case 'deepen':
        put(nested(m.depth));
        break;
    }
  }
  return root;
}

export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([value, mutations]) => mutate(value, mutations));
}

// ---------------------------------------------------------------------------------------------
// Requests

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** Route parameter values, percent-encoded or not, as a client could send them. */
function paramValue(target: FuzzTarget): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constant(target.existingId), weight: 3 },
    { arbitrary: fc.stringMatching(/^[a-z0-9]{1,64}$/), weight: 2 },
    { arbitrary: fc.constantFrom('%ED%A0%80', '%', '%zz', '%2F', '%00', '..', '.', '%2e%2e', '%C0%AF', '%FF', 'a%20b', '%F0%9F%98%80', 'ABC', '__proto__', 'constructor', "'", '"', '%22%3E%3Cscript%3E', 'x'.repeat(2_000), '%25', '*', '$filter'), weight: 4 },
    { arbitrary: fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).map(safeEncode), weight: 2 },
  );
}

/** encodeURIComponent, with lone surrogates written as the bytes a careless client would send. */
export function safeEncode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value.replace(/[\ud800-\udfff]/g, '%ED%A0%80').replace(/[^A-Za-z0-9%._~-]/g, (c) => {
      try {
        return encodeURIComponent(c);
      } catch {
        return '%ED%B0%80';
      }
    });
  }
}

function pathFor(definition: HttpFunctionDefinition, target: FuzzTarget): fc.Arbitrary<string> {
  const segments = definition.route.split('/');
  return fc.tuple(...segments.map((segment) => (/^\{\w+\}$/.test(segment) ? paramValue(target) : fc.constant(segment)))).map((parts) => `/api/${parts.join('/')}`);
}

const QUERY_NAMES = ['dryRun', 'pageSize', 'continuationToken', 'notificationId', 'limit', 'top', 'code', '__proto__', 'constructor', ''];

const query: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(''), weight: 4 },
  {
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...QUERY_NAMES), fc.string({ maxLength: 8 })),
          fc.oneof(fc.constantFrom('true', 'false', '', '1', '0', '-1', '1000000', 'NaN', '1e3', 'TRUE', 'yes', 'null', '%ED%A0%80', 'eyJ9', 'x'.repeat(3_000)), fc.string({ maxLength: 20, unit: 'binary' })),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((pairs) => `?${pairs.map(([k, v]) => `${safeEncode(k)}=${v.startsWith('%') ? v : safeEncode(v)}`).join('&')}`),
    weight: 3,
  },
  { arbitrary: fc.constantFrom('?', '?&&', '?dryRun', '?dryRun=true&dryRun=false', '?%zz=%', '?pageSize=5&pageSize=abc', '?continuationToken=%FF%FE'), weight: 1 },
);

/** Header values a client can put on the wire (visible ASCII and spaces; Node refuses control characters). */
const headerText = fc.string({ maxLength: 40, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) });

const contentType = fc.oneof(
  { arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'), weight: 6 },
  { arbitrary: fc.constantFrom('text/plain', '', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/merge-patch+json', 'application/jsonx', 'json', 'application/json; charset=utf-16', 'APPLICATION/JSON'), weight: 2 },
  { arbitrary: headerText, weight: 1 },
);

function keyHeaders(definition: HttpFunctionDefinition, target: FuzzTarget): fc.Arbitrary<Record<string, string>> {
  if (definition.authLevel === 'anonymous') return fc.oneof(fc.constant<Record<string, string>>({}), headerText.map((v) => ({ authorization: `Bearer ${v}` })));
  const key = definition.authLevel === 'function' ? target.functionKey : target.adminKey;
  return fc.oneof(
    { arbitrary: fc.constant<Record<string, string>>({ 'x-functions-key': key }), weight: 8 },
    { arbitrary: fc.constantFrom<Record<string, string>>({}, { 'x-functions-key': '' }, { 'x-functions-key': `${key}x` }, { 'x-functions-key': target.functionKey === key ? target.adminKey : target.functionKey }), weight: 1 },
  );
}

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'idempotency-key': fc.oneof(fc.constantFrom('k-1', 'x'.repeat(129), ' ', 'é'), headerText),
      'if-match': fc.oneof(fc.constantFrom('*', 'W/"1"', '"etag"'), headerText),
      accept: fc.constantFrom('application/json', 'text/html', '*/*'),
      'x-ms-client-request-id': headerText,
      [`x-${'f'.repeat(3)}`]: headerText,
    },
    { requiredKeys: [] },
  )
  .map((headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, latin1Safe(v ?? '')])));

/** Node sends header values as latin1: keep what a real client could send. */
function latin1Safe(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, '?');
}

/** Bytes that are not a JSON document, or are one no handler should take. */
const hostileBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'null',
    '[]',
    '"text"',
    '1',
    'true',
    '{',
    '{"a":',
    '{}',
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
    `"${'x'.repeat(MAX_BODY_BYTES + 10)}"`,
    '\ufeff{}',
    '{"type":"message"}',
  ).map((text) => Buffer.from(text, 'utf8')),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constant(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])),
  (fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>).map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8')),
);

function bodyFor(definition: HttpFunctionDefinition, target: FuzzTarget): fc.Arbitrary<Buffer | undefined> {
  const valid = validBodies(target)[definition.name];
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8');
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 1 },
    { arbitrary: hostileBody, weight: 2 },
    ...(valid === undefined
      ? [{ arbitrary: mutated(fc.record({ notificationId: fc.constant(target.existingId), pageSize: fc.constant(10), id: fc.string() })).map(json), weight: 2 }]
      : [
          { arbitrary: valid.map(json), weight: 2 },
          { arbitrary: mutated(valid).map(json), weight: 6 },
        ]),
  );
}

/** Any request at one function's route: mostly its own methods with its key, some of everything else. */
export function anyRequest(definition: HttpFunctionDefinition, target: FuzzTarget, allowed: readonly string[]): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method: fc.oneof({ arbitrary: fc.constantFrom(...definition.methods), weight: 9 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 }),
      path: pathFor(definition, target),
      query,
      keys: keyHeaders(definition, target),
      extra: extraHeaders,
      contentType,
      body: bodyFor(definition, target),
    })
    .map(({ method, path, query: q, keys, extra, contentType: type, body }) => ({
      surface: definition.name,
      method,
      path: `${path}${q}`,
      headers: { ...extra, ...keys, ...(body !== undefined && { 'content-type': type }) },
      ...(body !== undefined && method !== 'GET' && { body }),
      ...(!allowed.includes(method) && { mustRefuse: `${method} is not a method of ${definition.route}` }),
    }));
}

/**
 * Requests that must be refused whatever the service holds: a method the route does not take, a
 * missing or wrong key, a route parameter that is not UTF-8, and, for the surfaces that read a
 * body, one that is not JSON, too deep, too large, with a prototype key, or wrong where it matters.
 */
export function refusedRequest(definition: HttpFunctionDefinition, target: FuzzTarget, allowed: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const families: fc.Arbitrary<FuzzRequest>[] = [];
  const own = fc.constantFrom<string>(...definition.methods);
  const key = definition.authLevel === 'function' ? target.functionKey : target.adminKey;
  const keyed: Record<string, string> = definition.authLevel === 'anonymous' ? {} : { 'x-functions-key': key };
  const other = METHODS.filter((m) => !allowed.includes(m));
  if (other.length > 0) {
    families.push(fc.record({ method: fc.constantFrom<string>(...other), path: pathFor(definition, target) }).map(({ method, path }) => ({ surface: definition.name, method, path, headers: keyed, mustRefuse: 'method' })));
  }
  if (definition.authLevel !== 'anonymous') {
    families.push(
      fc
        .record({ method: own, path: pathFor(definition, target), key: fc.constantFrom(undefined, '', 'wrong', `${key}x`), inQuery: fc.boolean() })
        .map(({ method, path, key, inQuery }) => ({
          surface: definition.name,
          method,
          path: inQuery && key !== undefined ? `${path}?code=${encodeURIComponent(key)}` : path,
          headers: key === undefined || inQuery ? ({} as Record<string, string>) : { 'x-functions-key': key },
          mustRefuse: 'key',
        })),
    );
  }
  if (definition.route.includes('{')) {
    const bad = fc.constantFrom('%ED%A0%80', '%ED%B0%80', '%', '%zz', '%C0', '%E2%82', '%FF%FE', 'a%');
    families.push(
      fc.record({ method: own, bad }).map(({ method, bad: value }) => ({
        surface: definition.name,
        method,
        path: `/api/${definition.route.replace(/\{\w+\}/g, value)}`,
        headers: keyed,
        mustRefuse: 'encoding',
      })),
    );
  }
  const valid = validBodies(target)[definition.name];
  if (valid !== undefined) {
    const bodyMethod = fc.constantFrom<string>(...definition.methods.filter((m) => m !== 'GET'));
    const path = definition.route.includes('{') ? `/api/${definition.route.replace(/\{\w+\}/g, target.existingId)}` : `/api/${definition.route}`;
    const send = (body: Buffer, type = 'application/json') => ({ surface: definition.name, path, headers: { ...keyed, 'content-type': type }, body, mustRefuse: 'body' });
    const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
    families.push(
      fc.record({ method: bodyMethod, v: valid, type: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'json') }).map(({ method, v, type }) => ({ ...send(json(v), type), method })),
      fc.record({ method: bodyMethod, text: fc.constantFrom('{', '{"a":', '[1,]', "{'a':1}", 'undefined', 'NaN', '\u0000', '{"a":1}}') }).map(({ method, text }) => ({ ...send(Buffer.from(text)), method })),
      fc.record({ method: bodyMethod, v: valid, depth: fc.integer({ min: 70, max: 50_000 }) }).map(({ method, v, depth }) => ({ ...send(deepJson(v, depth)), method })),
      fc
        .record({ method: bodyMethod, v: valid, key: fc.constantFrom('__proto__', 'constructor', 'prototype'), at: fc.nat() })
        .map(({ method, v, key, at }) => ({ ...send(json(mutate(v, [{ op: 'addKey', at, key, value: { polluted: true } }]))), method })),
      fc.record({ method: bodyMethod, v: valid }).map(({ method, v }) => ({ ...send(json({ ...(v as object), pad: 'x'.repeat(MAX_BODY_BYTES) })), method })),
      fc.record({ method: bodyMethod, v: wrongWhereItMatters(definition.name, valid) }).map(({ method, v }) => ({ ...send(json(v)), method })),
    );
  }
  return fc.oneof(...families);
}

/** A valid body with one field the handler depends on given the wrong type or an unusable value. */
function wrongWhereItMatters(surface: string, valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const breaks: Record<string, readonly [string, Json][]> = {
    botMessages: [
      ['type', ['message']],
      ['type', 1],
      ['type', ''],
      ['recipient.id', 42],
      ['recipient.id', { id: 'x' }],
      ['from', 'user'],
      ['from.id', null],
      ['conversation', null],
      ['conversation.id', []],
      ['serviceUrl', 'javascript:alert(1)'],
      ['serviceUrl', 'ftp://example.com/'],
      ['serviceUrl', 7],
      ['channelId', false],
      ['text', { a: 1 }],
      ['action', 1],
      ['channelData.tenant.id', 5],
      ['timestamp', 'yesterday'],
      ['membersAdded', 'bot'],
      ['locale', 12],
      ['', {}],
      ['', []],
    ],
    postNotification: [
      ['recipients', 'everyone'],
      ['recipients', []],
      ['message', 'hi'],
      ['message.text', 5],
      ['sendAt', 'tomorrow'],
      ['maxAudience', -1],
      ['', {}],
    ],
    editNotification: [
      ['message', 'hi'],
      ['message.text', 5],
      ['', {}],
    ],
    retryNotification: [
      ['expiresAt', 5],
      ['expiresAt', '2000-01-01T00:00:00Z'],
      ['extra', 1],
      ['', []],
    ],
  };
  const options = breaks[surface] ?? [['', []]];
  return fc.tuple(valid, fc.constantFrom(...options)).map(([v, [path, value]]) => {
    if (path === '') return value;
    const copy = JSON.parse(JSON.stringify(v)) as Record<string, Json>;
    const keys = path.split('.');
    let at: Record<string, Json> = copy;
    for (const key of keys.slice(0, -1)) {
      if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
      at = at[key] as Record<string, Json>;
    }
    at[keys[keys.length - 1] ?? ''] = value;
    return copy;
  });
}

/** Paths no function serves, odd or not. */
export const unroutedRequest: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom(...METHODS),
    path: fc.oneof(
      fc.constantFrom('/', '/api', '/api/', '/api/nope', '/api/notifications/a/b/c', '/admin', '/api/%ED%A0%80', '/api/../api/health/x', '/favicon.ico', '//api//notifications', '/api/notifications/x/retry/y'),
      fc.array(fc.string({ minLength: 1, maxLength: 10, unit: 'binary' }).map(safeEncode), { minLength: 1, maxLength: 4 }).map((parts) => `/api/x/${parts.join('/')}`),
    ),
  })
  .map(({ method, path }) => ({ surface: 'unrouted', method, path, headers: {}, mustRefuse: 'route' }));
