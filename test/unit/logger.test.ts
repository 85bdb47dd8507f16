import { createHash } from 'node:crypto';
import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { context as otelContext, ROOT_CONTEXT, trace, TraceFlags, type Context, type ContextManager } from '@opentelemetry/api';
import { describeError, hashId, recipientLogId, withFields, type LogFields } from '../../shared/logger';
import { jsonLine, lineLogSink, textLine } from '../../shared/telemetry/logLines';
import { logRecord, type LogRecord } from '../../shared/telemetry/logRecord';
import { sinkLogger } from '../../shared/telemetry/sinkLogger';

/** The kind of error the Azure SDKs throw: it carries the whole request, headers and all. */
function storageError(): RestError {
  const request = createPipelineRequest({
    url: 'http://127.0.0.1:10002/devstoreaccount1/deliveries',
    headers: createHttpHeaders({ authorization: 'SharedKey devstoreaccount1:c2VjcmV0LXNpZ25hdHVyZQ==' }),
    body: '{"text":"the message body"}',
  });
  return new RestError('The table specified does not exist.\nRequestId:8f2c\nTime:2026-12-01T20:00:00Z', {
    code: 'TableNotFound',
    statusCode: 404,
    request,
  });
}

const AAD = '6F1C2B3A-0D4E-4F5A-8B6C-7D8E9F0A1B2C';
const TIME = new Date('2026-12-02T08:00:00.000Z');

/** What an operator runs: `printf 'teams-notify:%s' "$ID" | sha256sum | cut -c1-16`. */
function operatorHash(id: string): string {
  return createHash('sha256').update(`teams-notify:${id}`).digest('hex').slice(0, 16);
}

function records(): { log: ReturnType<typeof sinkLogger>; written: LogRecord[] } {
  const written: LogRecord[] = [];
  return { log: sinkLogger((record) => written.push(record)), written };
}

describe('describeError', () => {
  it('describes an SDK error by name, status, code and message on one line, without the request it carries', () => {
    const line = describeError(storageError());
    expect(line).toBe('RestError 404 TableNotFound: The table specified does not exist. | RequestId:8f2c | Time:2026-12-01T20:00:00Z');
    expect(line).not.toMatch(/SharedKey|message body|authorization/i);
  });

  it('caps what an error message contributes to a line', () => {
    expect(describeError(new Error('x'.repeat(5_000))).length).toBeLessThan(400);
    expect(describeError('plain text\nthrown')).toBe('plain text | thrown');
  });
});

describe('hashing ids', () => {
  it('is the first 16 hex digits of SHA-256 of teams-notify: and the id, as the README tells operators', () => {
    expect(hashId('abc')).toBe(operatorHash('abc'));
    expect(hashId('abc')).toMatch(/^[0-9a-f]{16}$/);
    expect(hashId('abc')).not.toBe(hashId('abd'));
  });

  it('hashes a user the same whether a line names their recipient key or their Entra object id, in any case', () => {
    const key = `user:aad:${AAD.toLowerCase()}`;
    expect(recipientLogId(key)).toBe(AAD.toLowerCase());
    expect(recipientLogId(AAD)).toBe(AAD.toLowerCase());
    expect(recipientLogId('conversation:a:1xYz')).toBe('a:1xYz');
    expect(recipientLogId('user:id:29:1AbC')).toBe('29:1AbC');
    expect(recipientLogId('channel:19:team@thread.skype:19:chan@thread.skype')).toBe('channel:19:team@thread.skype:19:chan@thread.skype');
  });
});

describe('a log record', () => {
  it('writes the recipient hashed, as recipientHash, and never the id itself', () => {
    const record = logRecord('info', 'deliver: delivered', { notificationId: 'n1', jobKind: 'deliver', outcome: 'delivered', recipient: `user:aad:${AAD.toLowerCase()}` }, TIME);
    expect(record.fields).toEqual({ notificationId: 'n1', jobKind: 'deliver', outcome: 'delivered', recipientHash: operatorHash(AAD.toLowerCase()) });
    expect(JSON.stringify(record).toLowerCase()).not.toContain(AAD.toLowerCase());
  });

  it('writes only the fields LogFields names: a body or a token riding along on the object is dropped', () => {
    const smuggled = { notificationId: 'n1', body: 'the message body', text: 'Hello Ada', token: 'eyJhbGciOi', functionKey: 'k3y' } as LogFields;
    const record = logRecord('warn', 'x', smuggled, TIME);
    expect(record.fields).toEqual({ notificationId: 'n1' });
    const both = `${jsonLine(record)}\n${textLine(record)}`;
    for (const secret of ['the message body', 'Hello Ada', 'eyJhbGciOi', 'k3y', 'token', 'body']) expect(both).not.toContain(secret);
  });

  it('describes an error instead of dumping it: no request, headers or body', () => {
    const record = logRecord('error', 'table write failed', { error: storageError() }, TIME);
    expect(record.fields.error).toBe('RestError 404 TableNotFound: The table specified does not exist. | RequestId:8f2c | Time:2026-12-01T20:00:00Z');
    expect(jsonLine(record)).not.toMatch(/SharedKey|message body|authorization|devstoreaccount1:/);
  });

  it('hashes an Entra object id or a Teams id that reached free text (a detail quoting Graph)', () => {
    const record = logRecord('warn', `deliver: failed (not-found): app 1 is not installed for user ${AAD} in a:1AbCdEfGhIjKlMnOp`, { reason: `Graph: user ${AAD} not found`, error: new Error(`no chat 19:abc123@thread.v2 for 29:1ZyXwVuTsRqPoNm`) }, TIME);
    const line = jsonLine(record);
    for (const id of [AAD, AAD.toLowerCase(), 'a:1AbCdEfGhIjKlMnOp', '19:abc123@thread.v2', '29:1ZyXwVuTsRqPoNm']) expect(line).not.toContain(id);
    expect(record.message).toContain(`#${operatorHash(AAD.toLowerCase())}`);
    expect(record.fields.reason).toBe(`Graph: user #${operatorHash(AAD.toLowerCase())} not found`);
    // Times are not ids: an error's timestamp stays readable.
    expect(logRecord('info', 'at 19:20:00 and Time:2026-12-01T20:00:00Z', {}, TIME).message).toBe('at 19:20:00 and Time:2026-12-01T20:00:00Z');
  });

  it('keeps tenant and notification ids plain: they are the metrics dimensions', () => {
    const record = logRecord('info', 'x', { tenantId: AAD, notificationId: 'n0mq2x1a0c4f9e' }, TIME);
    expect(record.fields).toEqual({ tenantId: AAD, notificationId: 'n0mq2x1a0c4f9e' });
  });

  it('keeps numbers finite and durations whole, and leaves out empty text', () => {
    const record = logRecord('info', 'x', { count: Number.NaN, durationMs: 12.6, outcome: '' }, TIME);
    expect(record.fields).toEqual({ durationMs: 13 });
  });

  it('carries the active span\'s trace and span ids, and none without one', () => {
    const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
    expect(logRecord('info', 'outside', {}, TIME)).not.toHaveProperty('traceId');
    otelContext.setGlobalContextManager(new StackContextManager());
    try {
      const inside = otelContext.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), () => logRecord('info', 'inside', {}, TIME));
      expect(inside).toMatchObject({ traceId: spanContext.traceId, spanId: spanContext.spanId });
      expect(JSON.parse(jsonLine(inside))).toMatchObject({ traceId: spanContext.traceId, spanId: spanContext.spanId });
    } finally {
      otelContext.disable();
    }
  });
});

describe('the two formats', () => {
  const record = logRecord(
    'warn',
    'could not record the recipient as delivered;\ntrying again',
    { functionName: 'deliverJob', notificationId: 'n1', jobKind: 'deliver', outcome: 'failed', reason: 'a reason with spaces', recipient: AAD, count: 3, error: new TypeError('boom "quoted"\nsecond line') },
    TIME,
  );

  it('JSON: one line, one object, with time, level, message and the fields', () => {
    const line = jsonLine(record);
    expect(line.split('\n')).toHaveLength(1);
    expect(JSON.parse(line)).toEqual({
      time: '2026-12-02T08:00:00.000Z',
      level: 'warn',
      message: 'could not record the recipient as delivered; | trying again',
      notificationId: 'n1',
      jobKind: 'deliver',
      outcome: 'failed',
      reason: 'a reason with spaces',
      functionName: 'deliverJob',
      recipientHash: operatorHash(AAD.toLowerCase()),
      count: 3,
      error: 'TypeError: boom "quoted" | second line',
    });
  });

  it('text: today\'s look, the function first, then the message and key=value pairs that still split', () => {
    expect(textLine(record)).toBe(
      `[deliverJob] could not record the recipient as delivered; | trying again notificationId=n1 jobKind=deliver outcome=failed reason="a reason with spaces" recipientHash=${operatorHash(AAD.toLowerCase())} count=3 error="TypeError: boom \\"quoted\\" | second line"`,
    );
  });

  it('a line sink writes each call as one line in its format, with its level', () => {
    for (const format of ['text', 'json'] as const) {
      const written: [string, string][] = [];
      const log = sinkLogger(lineLogSink(format, (level, line) => written.push([level, line])));
      log.log('a\nb', { count: 1 });
      log.warn('c');
      log.error('e', { error: new TypeError('f') });
      expect(written.map(([level]) => level)).toEqual(['info', 'warn', 'error']);
      for (const [, line] of written) expect(line).not.toContain('\n');
      if (format === 'text') expect(written.map(([, line]) => line)).toEqual(['a | b count=1', 'c', 'e error="TypeError: f"']);
      else expect(written.map(([, line]) => JSON.parse(line) as object)).toEqual([
        expect.objectContaining({ level: 'info', message: 'a | b', count: 1 }),
        expect.objectContaining({ level: 'warn', message: 'c' }),
        expect.objectContaining({ level: 'error', message: 'e', error: 'TypeError: f' }),
      ]);
    }
  });
});

describe('withFields', () => {
  it('adds a job\'s fields to every line logged under it; a line\'s own fields win', () => {
    const { log, written } = records();
    const jobLog = withFields(log, { notificationId: 'n1', jobKind: 'slice', count: 3 });
    jobLog.warn('one', { outcome: 'failed' });
    withFields(jobLog, { jobKind: 'deliver', count: undefined }).log('two');
    expect(written.map((r) => [r.level, r.message, r.fields])).toEqual([
      ['warn', 'one', { notificationId: 'n1', jobKind: 'slice', outcome: 'failed', count: 3 }],
      ['info', 'two', { notificationId: 'n1', jobKind: 'deliver' }],
    ]);
  });
});

/** The least a context manager does: `with` makes a context active for a synchronous call. */
class StackContextManager implements ContextManager {
  private readonly stack: Context[] = [];
  active(): Context {
    return this.stack[this.stack.length - 1] ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(context: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    this.stack.push(context);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.stack.length = 0;
    return this;
  }
}
