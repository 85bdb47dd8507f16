import { isSpanContextValid, trace } from '@opentelemetry/api';
import { describeError, hashId, oneLine, recipientLogId, type LogFields, type LogLevel } from '../logger';

/** The instrumentation scope our log records are emitted under (the metrics' and spans' too). */
export const LOG_SCOPE = 'teams-notify';

/**
 * A record's fields as written: only the fields `LogFields` names, text on one line and capped,
 * numbers finite, the recipient hashed and the error described. Anything else a caller passed
 * (an object with a `body` or a `token` that happened to ride along) is not written at all.
 */
export interface WrittenFields {
  readonly notificationId?: string;
  readonly jobKind?: string;
  readonly outcome?: string;
  readonly reason?: string;
  readonly tenantId?: string;
  readonly recipientHash?: string;
  readonly conversationHash?: string;
  readonly functionName?: string;
  readonly invocationId?: string;
  readonly count?: number;
  readonly durationMs?: number;
  readonly error?: string;
}

/** One event, as every format and sink writes it. */
export interface LogRecord {
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: WrittenFields;
  /** The active OpenTelemetry span's, when there is one: the line joins its trace. */
  readonly traceId?: string;
  readonly spanId?: string;
}

/** Where records go: a line on a stream, or OpenTelemetry. */
export type LogSink = (record: LogRecord) => void;

/**
 * The OpenTelemetry attribute (Application Insights customDimension) each written field becomes:
 * the names the metrics use, so one Kusto filter fits both.
 */
export const LOG_ATTRIBUTE = {
  notificationId: 'teamsnotify.notification_id',
  jobKind: 'teamsnotify.job_kind',
  outcome: 'teamsnotify.outcome',
  reason: 'teamsnotify.reason',
  tenantId: 'teamsnotify.tenant_id',
  recipientHash: 'teamsnotify.recipient_hash',
  conversationHash: 'teamsnotify.conversation_hash',
  functionName: 'teamsnotify.function',
  invocationId: 'teamsnotify.invocation_id',
  count: 'teamsnotify.count',
  durationMs: 'teamsnotify.duration_ms',
  error: 'error.message',
} as const satisfies Record<keyof WrittenFields, string>;

/** The plain-text fields, in the order lines write them. */
const TEXT_FIELDS = ['notificationId', 'jobKind', 'outcome', 'reason', 'tenantId', 'functionName', 'invocationId'] as const satisfies readonly (keyof LogFields & keyof WrittenFields)[];
const NUMBER_FIELDS = ['count', 'durationMs'] as const satisfies readonly (keyof LogFields & keyof WrittenFields)[];

/** A message is fixed text and a few numbers; anything longer is a bug, not a reason to flood the log. */
const MAX_MESSAGE = 1_000;
/** Ids, kinds and reasons are short; a longer value is cut. */
const MAX_FIELD = 200;

export function logRecord(level: LogLevel, message: string, fields: LogFields = {}, now: Date = new Date()): LogRecord {
  const span = trace.getActiveSpan()?.spanContext();
  const traced = span !== undefined && isSpanContextValid(span);
  return {
    time: now.toISOString(),
    level,
    // Scrubbed before it is cut: an id cut in half would no longer be recognised.
    message: oneLine(scrubIds(message), MAX_MESSAGE),
    fields: writtenFields(fields),
    ...(traced && { traceId: span.traceId, spanId: span.spanId }),
  };
}

function writtenFields(fields: LogFields): WrittenFields {
  const written: Record<string, string | number> = {};
  for (const key of TEXT_FIELDS) {
    const value = fields[key];
    if (typeof value === 'string' && value !== '') written[key] = oneLine(FREE_TEXT.has(key) ? scrubIds(value) : value, MAX_FIELD);
  }
  if (typeof fields.recipient === 'string' && fields.recipient !== '') written.recipientHash = hashId(recipientLogId(fields.recipient));
  if (typeof fields.conversation === 'string' && fields.conversation !== '') written.conversationHash = hashId(recipientLogId(fields.conversation));
  for (const key of NUMBER_FIELDS) {
    const value = fields[key];
    if (typeof value === 'number' && Number.isFinite(value)) written[key] = key === 'durationMs' ? Math.round(value) : value;
  }
  if (fields.error !== undefined) written.error = describeError(fields.error, scrubIds);
  return written as WrittenFields;
}

/** Fields whose text may come from elsewhere (Teams', Graph's words): scrubbed like the message. Ids and kinds are ours and stay. */
const FREE_TEXT: ReadonlySet<string> = new Set(['reason']);

/**
 * A safety net under the rule that ids go into fields: an Entra object id (any GUID) or a Teams
 * user or conversation id (`29:…`, `a:…`, `19:…@thread…`) that reached free text anyway (a
 * result's detail quoting Graph, an error message) is written as `#` and its hash, as
 * `recipientHash` would write it. Tenant ids in free text go the same way; in `tenantId` they stay.
 */
const ID_IN_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b(?:29|a):[A-Za-z0-9_-]{10,}|\b19:[^\s,;'"()]+@thread[^\s,;'"()]*/gi;

export function scrubIds(text: string): string {
  return text.replace(ID_IN_TEXT, (id) => `#${hashId(recipientLogId(id))}`);
}
