import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseRetryAfter } from '../http/retryAfter';
import { serializeEvent, type CallbackEvent } from './callbackEvent';
import { checkCallbackUrl, resolveSafeAddress, type LookupAll } from './callbackUrl';
import { SIGNATURE_HEADER, signBody } from './signature';

/** What one POST of one event came to, named by what the caller does next. */
export type CallbackAttempt =
  /** A 2xx: the receiver has the event. */
  | { readonly kind: 'delivered'; readonly status: number }
  /** Anything else the receiver (or the network) said: try again later, `retryAfterMs` if it asked. */
  | { readonly kind: 'retry'; readonly detail: string; readonly retryAfterMs?: number }
  /** The URL is unsafe now (e.g. its name resolves to a private address): never retried. */
  | { readonly kind: 'refused'; readonly detail: string };

export interface CallbackSender {
  post(url: string, event: CallbackEvent): Promise<CallbackAttempt>;
}

export interface HttpCallbackSenderOptions {
  /** CALLBACK_SIGNING_KEY: every body is signed with it (`X-Signature-256`). */
  readonly signingKey: string;
  /** True only when running locally: a receiver on this machine, over http too. */
  readonly allowLoopback: boolean;
  /** The whole attempt (DNS, connect, answer) gives up after this. Default 10 s. */
  readonly timeoutMs?: number;
  /** Name resolution; the system's by default (tests stand in for DNS with it). */
  readonly lookup?: LookupAll;
}

export const CALLBACK_USER_AGENT = 'teams-notify-callbacks/1';
const DEFAULT_TIMEOUT_MS = 10_000;
/** What is read of a response: enough for a reason, never a receiver's whole page. */
const MAX_RESPONSE_BYTES = 1024;
const MAX_DETAIL_BODY_CHARS = 200;
/** 4xx that say "later", not "no". */
const TRANSIENT_4XX = new Set([408, 425, 429]);

/**
 * POSTs a signed event with node:http(s) rather than fetch, so that the connection goes to the
 * address that was checked: the host is resolved and every address judged (`resolveSafeAddress`),
 * then the socket's `lookup` is pinned to the checked address. The URL's host name is still what
 * TLS verifies and sends as SNI, and the Host header, so https works as usual; but a name that
 * resolves to a public address for the check and to 10.0.0.1 a moment later (DNS rebinding) never
 * reaches 10.0.0.1. Redirects are never followed: the new address would be unchecked.
 */
export class HttpCallbackSender implements CallbackSender {
  constructor(private readonly options: HttpCallbackSenderOptions) {}

  async post(url: string, event: CallbackEvent): Promise<CallbackAttempt> {
    // Checked again at send time: the setting that allowed it (running locally) may have changed.
    const checked = checkCallbackUrl(url, this.options);
    if (!checked.ok) return { kind: 'refused', detail: checked.reason };
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const target = await untilAborted(resolveSafeAddress(checked.url, this.options), signal);
      if (!target.ok) return { kind: 'refused', detail: target.reason };
      const body = serializeEvent(event);
      const headers: OutgoingHttpHeaders = {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        [SIGNATURE_HEADER]: signBody(body, this.options.signingKey),
        'X-Event-Id': event.id,
        'X-Event-Type': event.type,
        'User-Agent': CALLBACK_USER_AGENT,
      };
      return classify(await postTo(checked.url, target, body, headers, signal));
    } catch (error) {
      // DNS failures, refused connections, TLS errors, timeouts: the receiver may be back later.
      return { kind: 'retry', detail: signal.aborted ? `no answer within ${timeoutMs / 1000} s` : describe(error) };
    }
  }
}

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** At most MAX_RESPONSE_BYTES of the body. */
  readonly text: string;
}

function postTo(url: URL, target: { address: string; family: 4 | 6 }, body: string, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      // agent: false: a fresh connection each time, never a pooled one opened for an earlier check.
      { method: 'POST', headers, signal, agent: false, lookup: pinnedLookup(target.address, target.family) },
      (res) => {
        // The answer is in: cutting the body short below must not turn it into an error.
        req.off('error', reject).on('error', () => undefined);
        void readCapped(res).then((text) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A `lookup` that answers with the checked address only, whatever it is asked, so DNS is not
 * consulted again between the check and the connect. Node asks for a list when it races IPv4 and
 * IPv6 (autoSelectFamily), and for one address otherwise.
 */
function pinnedLookup(address: string, family: 4 | 6) {
  return (_host: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function readCapped(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => resolve(Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8'));
    res.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_RESPONSE_BYTES) res.destroy();
    });
    res.on('end', done).on('close', done).on('error', done);
  });
}

function classify(answer: Answer): CallbackAttempt {
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const detail = [`${status} ${STATUS_CODES[status] ?? ''}`.trim(), why(status), excerpt(answer.text)].filter((s) => s !== '').join(': ');
  const retryAfterMs = answer.retryAfter === undefined ? undefined : parseRetryAfter(answer.retryAfter);
  return retryAfterMs === undefined ? { kind: 'retry', detail } : { kind: 'retry', detail, retryAfterMs };
}

function why(status: number): string {
  if (status >= 300 && status < 400) return 'redirect not followed (its target is unchecked); the receiver must answer at the callbackUrl itself';
  // Other 4xx are retried too: a receiver misconfigured for an hour should still get its events; the 24 h limit ends it.
  if (status >= 400 && status < 500 && !TRANSIENT_4XX.has(status)) return 'the receiver rejected the event; retried in case it is fixed, until the 24 h limit';
  return '';
}

/** A short, one-line piece of the receiver's answer: enough to see why, never the whole body. */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return '';
  return line.length > MAX_DETAIL_BODY_CHARS ? `"${line.slice(0, MAX_DETAIL_BODY_CHARS)}..."` : `"${line}"`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code}: ${error.message}` : `${error.name}: ${error.message}`;
}

/** DNS has no signal of its own: the attempt's deadline covers it too. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
