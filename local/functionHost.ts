import { HttpRequest, InvocationContext, type HttpResponseInit, type LogLevel } from '@azure/functions';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { functionDefinitions, type FunctionDefinition, type HttpFunctionDefinition } from '../functions/definitions';
import { problem } from '../shared/http/problem';
import { MAX_BODY_BYTES } from '../shared/http/readJsonBody';
import { describeError, type Logger } from '../shared/logger';
import { attachLogger, processLogger } from '../shared/telemetry/functionLogger';

export interface LocalFunctionHostOptions {
  readonly port: number;
  readonly host?: string;
  /** The key `authLevel: function` endpoints require, as `x-functions-key` or `?code=`. */
  readonly functionKey: string;
  /** The key `authLevel: admin` endpoints require (Azure's master key; LOCAL_ADMIN_KEY). Without it they answer 401 to everyone. */
  readonly adminKey?: string;
  readonly definitions?: readonly FunctionDefinition[];
  readonly log?: Logger;
}

export interface RunningFunctionHost {
  readonly url: string;
  readonly server: Server;
  /** Stops taking requests, lets those under way answer (2 s at most), then closes. */
  close(): Promise<void>;
}

/**
 * A stand-in for the Azure Functions host's HTTP side: the same routes, the same `api` prefix,
 * function keys where Azure asks for them, and the very same handlers, called with the
 * `HttpRequest` and `InvocationContext` types of `@azure/functions`.
 */
export async function startFunctionHost(options: LocalFunctionHostOptions): Promise<RunningFunctionHost> {
  const routes = (options.definitions ?? functionDefinitions)
    .filter((d): d is HttpFunctionDefinition => d.kind === 'http')
    .map((definition) => ({ definition, pattern: routePattern(definition.route) }));
  const log = options.log ?? processLogger;

  const server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      log.error('local host: request failed', { error });
      if (!res.headersSent) send(res, problem(500, 'internal error in the local host'));
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Our own address as the base: a Host header is the client's to write, and may not parse.
    const url = new URL(req.url ?? '/', baseUrl);
    const path = url.pathname.replace(/\/+$/, '');
    const matches = routes
      .map((r) => {
        const match = r.pattern.exec(path);
        return match === null ? undefined : { ...r, params: { ...match.groups } };
      })
      .filter((r) => r !== undefined);
    if (matches.length === 0) return send(res, problem(404, `no function at ${path}`));
    const match = matches.find((m) => m.definition.methods.includes((req.method ?? 'GET') as never));
    if (match === undefined) return send(res, problem(405, `${req.method ?? ''} is not allowed on ${path}`));
    const { definition } = match;

    // As in Azure: the admin key opens every level, the function key never opens `admin`.
    const isAdmin = options.adminKey !== undefined && options.adminKey !== '' && hasKey(req, url, options.adminKey);
    if (definition.authLevel === 'admin' && !isAdmin) {
      return send(res, problem(401, 'send the admin key as the x-functions-key header or the code query parameter', { title: 'A valid admin key is required' }));
    }
    if (definition.authLevel === 'function' && !isAdmin && !hasKey(req, url, options.functionKey)) {
      return send(res, problem(401, 'send the function key as the x-functions-key header or the code query parameter'));
    }
    const body = await readBody(req, MAX_BODY_BYTES + 1);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const params = decodeParams(match.params);
    if (params === undefined) return send(res, problem(400, 'the path is not valid percent-encoded UTF-8'));
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.toString(),
      headers,
      query: Object.fromEntries(url.searchParams),
      params,
      ...(body.length > 0 && { body: { bytes: body } }),
    });
    const context = invocationContext(definition.name, log);
    send(res, await definition.handler(request, context));
  }

  let baseUrl = 'http://127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    server,
    // No new connection or request; requests under way get a moment to answer, then are cut.
    close: () =>
      new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.closeAllConnections(), 2_000);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/**
 * An InvocationContext whose lines go to our logger, as the host's go to Application Insights:
 * `functionLogger(context)` gets `log` itself (fields and all); a bare `context.log(...)` is one
 * line of its text arguments.
 */
export function invocationContext(functionName: string, log: Logger, triggerMetadata?: Record<string, unknown>): InvocationContext {
  const logHandler = (level: LogLevel, ...args: unknown[]): void => {
    const fields = { functionName };
    if (level === 'error' || level === 'critical') log.error(argumentsText(args), fields);
    else if (level === 'warning') log.warn(argumentsText(args), fields);
    else if (level !== 'debug' && level !== 'trace') log.log(argumentsText(args), fields);
  };
  const context = new InvocationContext({ functionName, invocationId: randomUUID(), logHandler, ...(triggerMetadata !== undefined && { triggerMetadata }) });
  attachLogger(context, log);
  return context;
}

/** Text as it is, errors described, any other object by its type only: it may hold a message body or a token. */
function argumentsText(args: readonly unknown[]): string {
  return args
    .map((arg) => {
      if (typeof arg === 'string' || typeof arg === 'number' || typeof arg === 'boolean') return String(arg);
      if (arg instanceof Error) return describeError(arg);
      return arg === undefined || arg === null ? String(arg) : `[${typeof arg}]`;
    })
    .join(' ');
}

/** `notifications/{id}` → /^\/api\/notifications\/(?<id>[^/]+)$/ */
function routePattern(route: string): RegExp {
  const source = route
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment);
      return param !== null ? `(?<${param[1] ?? 'p'}>[^/]+)` : segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^/api/${source}$`);
}

/** Route parameters as the handlers get them in Azure: decoded; undefined when one is not valid UTF-8 (a lone surrogate, a cut sequence). */
function decodeParams(raw: Record<string, string | undefined>): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return params;
}

function hasKey(req: IncomingMessage, url: URL, expected: string): boolean {
  const given = (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Reads at most `limit` bytes: a larger body is cut there and the handler answers 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size < limit) chunks.push(chunk.subarray(0, limit - size));
      size += chunk.length;
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, response: HttpResponseInit): void {
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  let payload: string | Buffer | undefined;
  if (response.jsonBody !== undefined) {
    payload = JSON.stringify(response.jsonBody);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  } else if (typeof response.body === 'string') {
    payload = response.body;
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain; charset=utf-8');
  } else if (response.body instanceof Uint8Array) {
    payload = Buffer.from(response.body);
  }
  res.statusCode = response.status ?? 200;
  headers.forEach((value, name) => res.setHeader(name, value));
  res.end(payload);
}
