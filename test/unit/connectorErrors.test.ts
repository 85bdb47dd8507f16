import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { commandOf } from '../../shared/bot/activityHandler';
import { classifySendFailure, type SendFailure } from '../../shared/domain/outcome';
import { OPT_OUT_SUBMIT } from '../../shared/messages/notificationCard';
import { parseRetryAfter, readConnectorError } from '../../shared/teams/botbuilder/botbuilderTeamsSender';

/** Teams' documented body for a user who blocked the bot: no `error` object, the subCode inside a JSON string. */
const MESSAGE_WRITES_BLOCKED_BODY = JSON.stringify({
  errorCode: 209,
  message: JSON.stringify({ subCode: 'MessageWritesBlocked', details: 'Thread is blocked from message writes.', errorCode: null, errorSubCode: null }),
});

/** A RestError as botbuilder's connector client (core-rest-pipeline) throws it for a non-2xx answer. */
function restError(status: number, options: { body?: string; headers?: Record<string, string>; code?: string; message?: string } = {}): RestError {
  const bodyText = options.body;
  let parsed: unknown;
  try {
    parsed = bodyText === undefined ? undefined : (JSON.parse(bodyText) as unknown);
  } catch {
    parsed = undefined;
  }
  const parsedError = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  const error = new RestError(options.message ?? parsedError?.message ?? (parsed as { message?: string } | undefined)?.message ?? `status ${status}`, {
    statusCode: status,
    ...((options.code ?? parsedError?.code) !== undefined && { code: options.code ?? parsedError?.code }),
    request: createPipelineRequest({ url: 'https://smba.trafficmanager.net/emea/v3/conversations/a%3A1/activities' }),
    response: {
      status,
      headers: createHttpHeaders(options.headers ?? {}),
      request: createPipelineRequest({ url: 'https://smba.trafficmanager.net/emea/v3/conversations/a%3A1/activities' }),
      ...(bodyText !== undefined && { bodyAsText: bodyText }),
    },
  });
  if (parsed !== undefined) error.details = parsed;
  return error;
}

const teamsError = (code: string, message = `${code} happened`) => JSON.stringify({ error: { code, message } });

describe('classifySendFailure', () => {
  const kind = (f: Parameters<typeof classifySendFailure>[0]): SendFailure['kind'] => classifySendFailure(f).kind;

  it('429 is throttled, with Retry-After when known', () => {
    expect(classifySendFailure({ statusCode: 429, code: 'Throttled', retryAfterMs: 3000, message: 'slow down' })).toEqual({
      kind: 'throttled',
      retryAfterMs: 3000,
      detail: '429 Throttled slow down',
    });
    const without = classifySendFailure({ statusCode: 429, message: 'slow down' });
    expect(without.kind).toBe('throttled');
    expect(without).not.toHaveProperty('retryAfterMs');
  });

  it.each(['ConversationBlockedByUser', 'MessageWritesBlocked'])('403 %s → blocked-by-user', (code) => {
    expect(kind({ statusCode: 403, code, message: 'm' })).toBe('blocked-by-user');
  });

  it.each(['BotNotInConversationRoster', 'ForbiddenOperationException', 'BotDisabledByAdmin', undefined])('403 %s → not-installed', (code) => {
    expect(kind({ statusCode: 403, ...(code !== undefined && { code }), message: 'm' })).toBe('not-installed');
  });

  it('403 BotDisabledByAdmin is the app closed everywhere (scope app); any other 403 closes one conversation', () => {
    expect(classifySendFailure({ statusCode: 403, code: 'BotDisabledByAdmin', message: 'm' })).toEqual({ kind: 'not-installed', scope: 'app', detail: '403 BotDisabledByAdmin m' });
    for (const code of ['BotNotInConversationRoster', 'ForbiddenOperationException', undefined]) {
      expect(classifySendFailure({ statusCode: 403, ...(code !== undefined && { code }), message: 'm' })).not.toHaveProperty('scope');
    }
  });

  it('404 → conversation-not-found', () => {
    expect(kind({ statusCode: 404, code: 'ConversationNotFound', message: 'gone' })).toBe('conversation-not-found');
  });

  it.each([408, 412, 502, 503, 504])('%d → transient', (statusCode) => {
    expect(kind({ statusCode, message: 'm' })).toBe('transient');
  });

  it('no status (network error, timeout) → transient', () => {
    expect(kind({ message: 'socket hang up' })).toBe('transient');
    expect(kind({ code: 'REQUEST_SEND_ERROR', message: 'ECONNRESET' })).toBe('transient');
  });

  it.each([400, 401, 413, 500])('%d → rejected (Teams says do not retry, 500 included)', (statusCode) => {
    expect(kind({ statusCode, message: 'm' })).toBe('rejected');
  });

  it('the detail carries status, code and message for operators', () => {
    expect(classifySendFailure({ statusCode: 403, code: 'BotDisabledByAdmin', message: 'The tenant admin disabled this bot' }).detail).toBe(
      '403 BotDisabledByAdmin The tenant admin disabled this bot',
    );
    expect(classifySendFailure({ statusCode: 500, code: '', message: 'boom' }).detail).toBe('500 boom');
  });
});

describe('readConnectorError', () => {
  it('reads status, code and Retry-After (seconds) from a 429 RestError', () => {
    const read = readConnectorError(restError(429, { body: teamsError('Throttled', 'Too many requests.'), headers: { 'Retry-After': '7' } }));
    expect(read).toEqual({ statusCode: 429, code: 'Throttled', retryAfterMs: 7000, message: 'Too many requests.' });
    expect(classifySendFailure(read)).toMatchObject({ kind: 'throttled', retryAfterMs: 7000 });
  });

  it('reads an HTTP-date Retry-After', () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const read = readConnectorError(restError(429, { body: teamsError('Throttled'), headers: { 'retry-after': at } }));
    expect(read.retryAfterMs).toBeGreaterThan(25_000);
    expect(read.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('no Retry-After header → no retryAfterMs', () => {
    expect(readConnectorError(restError(429, { body: teamsError('Throttled') }))).not.toHaveProperty('retryAfterMs');
  });

  it.each([
    ['ConversationBlockedByUser', 'blocked-by-user'],
    ['BotNotInConversationRoster', 'not-installed'],
    ['ForbiddenOperationException', 'not-installed'],
    ['BotDisabledByAdmin', 'not-installed'],
  ])('403 %s body → code %s', (code, expected) => {
    const read = readConnectorError(restError(403, { body: teamsError(code) }));
    expect(read).toMatchObject({ statusCode: 403, code });
    expect(classifySendFailure(read).kind).toBe(expected);
  });

  it('403 with the MessageWritesBlocked body (no error object) → blocked-by-user', () => {
    const error = restError(403, { body: MESSAGE_WRITES_BLOCKED_BODY });
    expect(error.code).toBeUndefined();
    const read = readConnectorError(error);
    expect(read).toMatchObject({ statusCode: 403, code: 'MessageWritesBlocked' });
    expect(classifySendFailure(read).kind).toBe('blocked-by-user');
  });

  it('finds MessageWritesBlocked in the message when the body text is gone', () => {
    const plain = { statusCode: 403, message: JSON.stringify({ subCode: 'MessageWritesBlocked' }), response: { headers: { get: () => undefined } } };
    expect(classifySendFailure(readConnectorError(plain)).kind).toBe('blocked-by-user');
  });

  it('reads the code from the body when the error has none, and the status from the response', () => {
    const shaped = {
      message: 'Conversation not found.',
      response: { status: 404, headers: { get: (name: string) => (name === 'retry-after' ? null : undefined) }, bodyAsText: teamsError('ConversationNotFound', 'Conversation not found.') },
    };
    expect(readConnectorError(shaped)).toEqual({ statusCode: 404, code: 'ConversationNotFound', message: 'Conversation not found.' });
  });

  it('a network error has no status and no code, and is transient', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3978'), { code: 'ECONNREFUSED' });
    const read = readConnectorError(error);
    expect(read).toEqual({ message: 'connect ECONNREFUSED 127.0.0.1:3978' });
    expect(classifySendFailure(read).kind).toBe('transient');
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', code: 'ABORT_ERR' });
    expect(readConnectorError(abort)).not.toHaveProperty('code');
  });

  it('tolerates things that are not errors', () => {
    expect(readConnectorError('boom')).toEqual({ message: 'boom' });
    expect(readConnectorError(undefined)).toEqual({ message: 'undefined' });
    expect(readConnectorError(restError(502, { body: '<html>Bad gateway</html>' }))).toMatchObject({ statusCode: 502 });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('-3')).toBe(0);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });

  it('falls back to one second for garbage', () => {
    expect(parseRetryAfter('soon')).toBe(1000);
  });
});

describe('commandOf', () => {
  it.each([
    ['stop', 'stop'],
    ['STOP.', 'stop'],
    ['Stop!', 'stop'],
    ['  unsubscribe  ', 'stop'],
    ['<at>Bot</at> stop', 'stop'],
    ['<at>Notify Bot</at>\u00a0stop', 'stop'],
    ['start', 'start'],
    ['Subscribe', 'start'],
    ['help', 'help'],
    ['?', 'help'],
    ['please stop spamming me', 'unknown'],
    ['stopp', 'unknown'],
    ['hello there', 'unknown'],
  ])('%p → %s', (text, expected) => {
    expect(commandOf({ text })).toBe(expected);
  });

  it('the opt-out button submit is stop, whatever the text', () => {
    expect(commandOf({ value: { teamsNotify: 'optOut' } })).toBe('stop');
    expect(commandOf({ text: 'start', value: { ...OPT_OUT_SUBMIT } })).toBe('stop');
    expect(commandOf({ value: { teamsNotify: 'optIn' } })).toBeUndefined();
  });

  it('empty text, a bare mention, or no text at all → undefined', () => {
    expect(commandOf({ text: '' })).toBeUndefined();
    expect(commandOf({ text: '   ' })).toBeUndefined();
    expect(commandOf({ text: '<at>Bot</at>' })).toBeUndefined();
    expect(commandOf({})).toBeUndefined();
    expect(commandOf({ text: 'stop', value: null })).toBe('stop');
  });
});
