import { createHash } from 'node:crypto';

export type LogLevel = 'info' | 'warn' | 'error';

/**
 * What a line may carry besides its message: ids, kinds and outcomes, never a message body, a
 * token or a key. The message itself is short fixed text: every id goes into a field, so that a
 * person's id is hashed wherever it is written and a query can filter on the rest.
 */
export interface LogFields {
  readonly notificationId?: string;
  /** `Job['kind']`, or the welcome job's kind. */
  readonly jobKind?: string;
  /** `JobResult['kind']`, 'delivered', 'failed', 'accepted', ... */
  readonly outcome?: string;
  /** Why: a `FailureReason`, a refusal, a dead-letter reason. */
  readonly reason?: string;
  /** Tenants stay plain: they are the metrics' dimension too. */
  readonly tenantId?: string;
  /** A person's or a conversation's id (Entra object id, recipient key like `user:aad:<id>`, conversation id): written hashed, as `recipientHash`. */
  readonly recipient?: string;
  /** The conversation a line is about when `recipient` names the person in it (a mute, a member leaving): written hashed, as `conversationHash`. */
  readonly conversation?: string;
  readonly functionName?: string;
  /** The Functions invocation, where a caller was told its id (an HTTP 500 names it). */
  readonly invocationId?: string;
  readonly count?: number;
  readonly durationMs?: number;
  /** Written as `describeError(error)`: never the error object, whose request may carry headers and bodies. */
  readonly error?: unknown;
}

/** The slice of logging the core uses: a short message and its fields (see `LogFields`). */
export interface Logger {
  log(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const silentLogger: Logger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A logger that adds `base` to every line (a line's own fields win): a job's id and kind on every line logged while it runs. */
export function withFields(log: Logger, base: LogFields): Logger {
  return {
    log: (message, fields) => log.log(message, { ...base, ...fields }),
    warn: (message, fields) => log.warn(message, { ...base, ...fields }),
    error: (message, fields) => log.error(message, { ...base, ...fields }),
  };
}

/**
 * A person's (or a conversation's) id as logs write it: the first 16 hex digits of the SHA-256 of
 * `teams-notify:` and the id. Not reversible without the id, yet an operator who has the id finds
 * that person's lines by hashing it the same way:
 *
 *     printf 'teams-notify:%s' "$ID" | sha256sum | cut -c1-16
 *
 * (`recipientLogId` says which id a recipient key stands for: an Entra object id in lower case.)
 */
export function hashId(id: string): string {
  return createHash('sha256').update(`teams-notify:${id}`).digest('hex').slice(0, 16);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The id a `recipient` field stands for, so that one person hashes the same wherever a line names
 * them: a user's recipient key (`user:aad:<id>`, `user:id:<id>`) and a conversation's
 * (`conversation:<id>`) become the bare id; an Entra object id is lower-cased (as recipient keys
 * write it); anything else (a channel's or a team's key) is hashed as it is.
 */
export function recipientLogId(recipient: string): string {
  const bare = /^(?:user:aad:|user:id:|conversation:)(.+)$/.exec(recipient)?.[1] ?? recipient;
  return GUID.test(bare) ? bare.toLowerCase() : bare;
}

/** Longest message text an error contributes to a log line; storage errors append request ids and XML. */
const MAX_ERROR_MESSAGE = 300;

/**
 * One line for an error: its name, code, HTTP status and message. Never the error object itself:
 * SDK errors (RestError) carry the whole request and response, with headers, bodies and tokens.
 */
export function describeError(error: unknown, clean: (text: string) => string = (text) => text): string {
  if (!(error instanceof Error) && (typeof error !== 'object' || error === null)) return oneLine(clean(String(error)), MAX_ERROR_MESSAGE);
  const fields = error as { name?: unknown; code?: unknown; statusCode?: unknown; status?: unknown; message?: unknown };
  const name = typeof fields.name === 'string' ? fields.name : 'Error';
  const code = typeof fields.code === 'string' || typeof fields.code === 'number' ? String(fields.code) : undefined;
  const status = typeof fields.statusCode === 'number' ? fields.statusCode : typeof fields.status === 'number' ? fields.status : undefined;
  const message = typeof fields.message === 'string' ? fields.message : '';
  const head = [name, status !== undefined ? String(status) : undefined, code].filter((part) => part !== undefined).join(' ');
  // Cleaned before it is cut: an id cut in half would no longer be recognised.
  return `${head}: ${oneLine(clean(message), MAX_ERROR_MESSAGE)}`;
}

/** Line breaks become ` | ` so that one event stays one line in a terminal or a log file; longer than `max` is cut with `…`. */
export function oneLine(text: string, max = Number.POSITIVE_INFINITY): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' | ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
