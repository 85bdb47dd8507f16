import http from 'node:http';
import type { FuzzRequest } from './fuzzRequests';

export interface FuzzResponse {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/**
 * Sends a request exactly as built (path bytes untouched, unlike fetch, which would re-encode them)
 * and fails if no full answer comes within `timeoutMs`.
 */
export function send(baseUrl: string, agent: http.Agent, request: FuzzRequest, timeoutMs: number): Promise<FuzzResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method: request.method, path: request.path, headers: { ...request.headers, ...(request.body !== undefined && { 'content-length': String(request.body.length) }) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(request.body);
  });
}

/** Text that belongs in a log, never in an answer: runtime errors, stacks, SDK and connection errors. */
const INTERNAL_TEXT =
  /is not a function|is not iterable|Cannot (read|set|convert|connect|destructure|access)|undefined is not|of undefined|of null|TypeError|RangeError|ReferenceError|SyntaxError|Maximum call stack|allowInsecureConnection|\bat \S+ \(|node_modules|\.[jt]s:\d+|ECONN\w+|RestError|InvalidInput|OutOfRangeInput|PropertyValueTooLarge|x-ms-request-id|AccountKey=|"stack"/;

/** Why the answer is wrong for a request of this surface, or undefined when it is right. */
export function answerProblem(request: FuzzRequest, response: FuzzResponse): string | undefined {
  const { status } = response;
  // botbuilder's own answer to an invoke no handler took: no body, by design.
  if (status === 501 && request.surface === 'botMessages') return undefined;
  if (status >= 500) return `answered ${status}`;
  if (request.mustRefuse !== undefined && status < 400) return `answered ${status} to a request that must be refused (${request.mustRefuse})`;
  const internal = INTERNAL_TEXT.exec(response.text);
  if (internal !== null) return `the answer shows internal text: ${internal[0]}`;
  if (status < 400) return undefined;
  if (!response.contentType.startsWith('application/problem+json')) return `a ${status} as ${response.contentType || 'no content-type'}, not application/problem+json`;
  let body: { status?: unknown; title?: unknown; detail?: unknown; type?: unknown };
  try {
    body = JSON.parse(response.text) as typeof body;
  } catch {
    return `a ${status} whose body is not JSON`;
  }
  if (body.status !== status || typeof body.title !== 'string' || typeof body.detail !== 'string' || typeof body.type !== 'string') return `a ${status} whose problem body lacks status, type, title or detail`;
  return undefined;
}
