import { firstJob, jobMessageId, parseJob, type DeliverJob, type ExpandJob } from '../../shared/domain/job';
import { MAX_MESSAGE_BYTES } from '../../shared/domain/message';
import { MAX_RECIPIENTS_PER_REQUEST, notificationRequestSchema } from '../../shared/domain/notificationRequest';
import { recipientKey, type Recipient } from '../../shared/domain/recipient';
import { fieldErrors, formatPath, type FieldError } from '../../shared/http/problem';

const FUTURE = new Date(Date.now() + 24 * 3600_000);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const inHours = (h: number) => iso(new Date(Date.now() + h * 3600_000));

const validRequest = () => ({ recipients: [{ type: 'allUsers' }], message: { text: 'hello' } });

/** The field errors of a request the schema must reject (fails the test if it is accepted). */
function errorsOf(body: unknown): FieldError[] {
  const result = notificationRequestSchema.safeParse(body);
  if (result.success) throw new Error(`expected the request to be rejected: ${JSON.stringify(body).slice(0, 200)}`);
  return fieldErrors(result.error);
}

function pathsOf(body: unknown): string[] {
  return errorsOf(body).map((e) => e.path);
}

describe('formatPath', () => {
  it('writes numeric segments as indexes and others as dotted names', () => {
    expect(formatPath(['recipients', 0, 'teamId'])).toBe('recipients[0].teamId');
    expect(formatPath(['recipients', '12', 'type'])).toBe('recipients[12].type');
    expect(formatPath(['message', 'data', 'actions', 0, 'url'])).toBe('message.data.actions[0].url');
    expect(formatPath([])).toBe('');
  });
});

describe('notificationRequestSchema', () => {
  it('accepts every recipient type of the contract', () => {
    const recipients = [
      { type: 'user', aadObjectId: '00000000-0000-0000-0000-000000000020' },
      { type: 'user', userId: '29:1abc' },
      { type: 'conversation', conversationId: 'a:1xyz' },
      { type: 'channel', teamId: '19:team@thread.tacv2', channelId: '19:chan@thread.tacv2' },
      { type: 'channel', teamId: '19:team@thread.tacv2', channelId: '19:chan@thread.tacv2', replyToId: '1700000000000' },
      { type: 'team', teamId: '19:team@thread.tacv2' },
      { type: 'teamMembers', teamId: '19:team@thread.tacv2' },
      { type: 'allUsers' },
      { type: 'allTeams' },
    ];
    const result = notificationRequestSchema.safeParse({
      recipients,
      message: { text: 'markdown', card: { type: 'AdaptiveCard', version: '1.5', body: [] }, summary: 'preview' },
      sendAt: inHours(1),
      expiresAt: inHours(2),
    });
    expect(result.success).toBe(true);
    expect(result.data?.recipients).toEqual(recipients);
  });

  it('accepts a template message and a card-only message', () => {
    const template = notificationRequestSchema.safeParse({
      recipients: [{ type: 'allUsers' }],
      message: {
        template: 'notification',
        data: { title: 'Build 42', whatHappened: 'It passed', result: 'green', triggeredBy: 'CI', actions: [{ title: 'Open', url: 'https://ci.example/42' }] },
      },
    });
    expect(template.success).toBe(true);
    const card = notificationRequestSchema.safeParse({ recipients: [{ type: 'allTeams' }], message: { card: { type: 'AdaptiveCard', version: '1.5' } } });
    expect(card.success).toBe(true);
  });

  it('requires exactly one of aadObjectId / userId for a user, and says where', () => {
    expect(pathsOf({ ...validRequest(), recipients: [{ type: 'user' }] })).toEqual(['recipients[0].aadObjectId']);
    expect(pathsOf({ ...validRequest(), recipients: [{ type: 'allUsers' }, { type: 'user', aadObjectId: 'a', userId: '29:b' }] })).toEqual([
      'recipients[1].aadObjectId',
    ]);
  });

  it('reports a channel without teamId at recipients[0].teamId', () => {
    const errors = errorsOf({ ...validRequest(), recipients: [{ type: 'channel', channelId: '19:c@thread.tacv2' }] });
    expect(errors.map((e) => e.path)).toEqual(['recipients[0].teamId']);
  });

  it('rejects blank ids (trimmed) on the field', () => {
    expect(pathsOf({ ...validRequest(), recipients: [{ type: 'team', teamId: '   ' }] })).toEqual(['recipients[0].teamId']);
  });

  it('reports an unknown recipient type under recipients[0]', () => {
    const paths = pathsOf({ ...validRequest(), recipients: [{ type: 'everyone' }] });
    expect(paths).toHaveLength(1);
    expect(paths[0]).toMatch(/^recipients\[0\]/);
  });

  it('rejects unknown fields inside a recipient (strict)', () => {
    const errors = errorsOf({ ...validRequest(), recipients: [{ type: 'team', teamId: 't', channelId: 'c' }] });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toMatch(/^recipients\[0\]/);
    expect(errors[0]?.message).toContain('channelId');
  });

  it('rejects an empty recipient list', () => {
    expect(pathsOf({ ...validRequest(), recipients: [] })).toEqual(['recipients']);
  });

  it(`accepts ${MAX_RECIPIENTS_PER_REQUEST} recipients and rejects one more`, () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'user', userId: `29:u${i}` }));
    expect(notificationRequestSchema.safeParse({ ...validRequest(), recipients: many(MAX_RECIPIENTS_PER_REQUEST) }).success).toBe(true);
    expect(pathsOf({ ...validRequest(), recipients: many(MAX_RECIPIENTS_PER_REQUEST + 1) })).toEqual(['recipients']);
  });

  it('requires text, card or a template, reported at message.text', () => {
    expect(pathsOf({ ...validRequest(), message: {} })).toEqual(['message.text']);
    expect(pathsOf({ ...validRequest(), message: { summary: 'only a summary' } })).toEqual(['message.text']);
  });

  it('reports a template action with a bad url at message.data.actions[0].url', () => {
    const data = { title: 't', whatHappened: 'w', actions: [{ title: 'Open', url: 'javascript:alert(1)' }] };
    expect(pathsOf({ ...validRequest(), message: { template: 'notification', data } })).toEqual(['message.data.actions[0].url']);
    const notAUrl = { ...data, actions: [{ title: 'Open', url: 'not a url' }] };
    expect(pathsOf({ ...validRequest(), message: { template: 'notification', data: notAUrl } })).toEqual(['message.data.actions[0].url']);
  });

  it('reports missing template data fields under message.data', () => {
    expect(pathsOf({ ...validRequest(), message: { template: 'notification', data: { title: 't' } } })).toEqual(['message.data.whatHappened']);
  });

  it('rejects a template together with text', () => {
    const errors = errorsOf({
      ...validRequest(),
      message: { template: 'notification', text: 'also text', data: { title: 't', whatHappened: 'w' } },
    });
    expect(errors.map((e) => e.path)).toEqual(['message.template']);
  });

  it('rejects data without a template', () => {
    expect(pathsOf({ ...validRequest(), message: { text: 'x', data: { title: 't' } } })).toEqual(['message.data']);
  });

  it('rejects a message larger than 28 KB and accepts one just under', () => {
    const overhead = Buffer.byteLength(JSON.stringify({ text: '' }), 'utf8');
    const fits = 'a'.repeat(MAX_MESSAGE_BYTES - overhead);
    expect(notificationRequestSchema.safeParse({ ...validRequest(), message: { text: fits } }).success).toBe(true);
    const errors = errorsOf({ ...validRequest(), message: { text: `${fits}a` } });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe('message');
    expect(errors[0]?.message).toMatch(/larger/);
    // Multi-byte text is measured in bytes, not characters.
    expect(pathsOf({ ...validRequest(), message: { text: 'é'.repeat(MAX_MESSAGE_BYTES / 2 + 10) } })).toEqual(['message']);
  });

  it('rejects an unknown top-level field (strict)', () => {
    const errors = errorsOf({ ...validRequest(), importance: 'high' });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain('importance');
  });

  it.each([
    ['sendAt', 'tomorrow'],
    ['sendAt', '2026-12-01 09:00'],
    ['sendAt', '2026-12-01T09:00:00'], // no time zone
    ['expiresAt', '12/01/2099'],
    ['expiresAt', 1_900_000_000_000],
  ])('rejects %s = %p as not ISO 8601 with a zone', (field, value) => {
    expect(pathsOf({ ...validRequest(), [field]: value })).toEqual([field]);
  });

  it('accepts offsets other than Z', () => {
    expect(notificationRequestSchema.safeParse({ ...validRequest(), sendAt: '2099-12-01T09:00:00+01:00' }).success).toBe(true);
  });

  it('rejects expiresAt before (or equal to) sendAt', () => {
    const errors = errorsOf({ ...validRequest(), sendAt: inHours(5), expiresAt: inHours(4) });
    expect(errors.map((e) => e.path)).toEqual(['expiresAt']);
    expect(errors[0]?.message).toMatch(/after sendAt/);
    const same = iso(FUTURE);
    expect(pathsOf({ ...validRequest(), sendAt: same, expiresAt: same })).toEqual(['expiresAt']);
  });

  it('rejects expiresAt in the past', () => {
    const errors = errorsOf({ ...validRequest(), expiresAt: '2020-01-01T00:00:00Z' });
    expect(errors.map((e) => e.path)).toEqual(['expiresAt']);
    expect(errors[0]?.message).toMatch(/past/);
  });
});

describe('recipientKey', () => {
  it('gives one key for the same user whatever the case of the aadObjectId', () => {
    const lower = recipientKey({ type: 'user', aadObjectId: 'abcdef01-2345-6789-abcd-ef0123456789' });
    const upper = recipientKey({ type: 'user', aadObjectId: 'ABCDEF01-2345-6789-ABCD-EF0123456789' });
    expect(upper).toBe(lower);
  });

  it('gives distinct keys to distinct targets', () => {
    const recipients: Recipient[] = [
      { type: 'user', aadObjectId: 'a1' },
      { type: 'user', aadObjectId: 'a2' },
      { type: 'user', userId: 'a1' },
      { type: 'user', userId: '29:x' },
      { type: 'conversation', conversationId: 'a1' },
      { type: 'channel', teamId: 't', channelId: 'c' },
      { type: 'channel', teamId: 't', channelId: 'c', replyToId: 'r' },
      { type: 'channel', teamId: 't', channelId: 'd' },
      { type: 'team', teamId: 't' },
      { type: 'teamMembers', teamId: 't' },
      { type: 'allUsers' },
      { type: 'allTeams' },
    ];
    const keys = recipients.map(recipientKey);
    expect(new Set(keys).size).toBe(recipients.length);
  });

  it('keeps the case of a Teams user id (not normalised like the Entra id)', () => {
    expect(recipientKey({ type: 'user', userId: '29:AbC' })).not.toBe(recipientKey({ type: 'user', userId: '29:abc' }));
  });
});

describe('parseJob', () => {
  const deliver = firstJob('n1', 'user:id:29:x', { type: 'user', userId: '29:x' }) as DeliverJob;

  it('reads an object, JSON text and bytes alike', () => {
    expect(parseJob(deliver)).toEqual({ ok: true, job: deliver });
    expect(parseJob(JSON.stringify(deliver))).toEqual({ ok: true, job: deliver });
    expect(parseJob(Buffer.from(JSON.stringify(deliver)))).toEqual({ ok: true, job: deliver });
    expect(parseJob(new Uint8Array(Buffer.from(JSON.stringify(deliver))))).toEqual({ ok: true, job: deliver });
  });

  it('dead-letters a body that is not JSON', () => {
    expect(parseJob('{"v":1,')).toEqual({ ok: false, reason: 'body is not JSON' });
    expect(parseJob(Buffer.from('not json'))).toEqual({ ok: false, reason: 'body is not JSON' });
  });

  it('dead-letters a body of the wrong schema, naming the field', () => {
    const result = parseJob({ ...deliver, attempt: -1 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/^body is not a job: attempt:/);
    const unknownKind = parseJob({ ...deliver, kind: 'explode' });
    expect(unknownKind.ok).toBe(false);
    if (!unknownKind.ok) expect(unknownKind.reason).toMatch(/^body is not a job/);
    const nul = parseJob('null');
    expect(nul.ok).toBe(false);
  });

  it('dead-letters a deliver job carrying a fan-out recipient, and an expand job carrying a target', () => {
    expect(parseJob({ ...deliver, recipient: { type: 'allUsers' } })).toEqual({ ok: false, reason: 'a deliver job cannot carry a allUsers recipient' });
    const expand: ExpandJob = { v: 1, kind: 'expand', notificationId: 'n1', recipientKey: 'allUsers', recipient: { type: 'allUsers' }, page: 0, expanded: 0, attempt: 0, throttled: 0 };
    expect(parseJob(expand)).toEqual({ ok: true, job: expand });
    const bad = parseJob({ ...expand, recipient: { type: 'team', teamId: 't' } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toContain('expand job cannot carry a team');
  });
});

describe('jobMessageId', () => {
  const job = firstJob('n00000000abcdef0123456789abcdef01234', 'user:aad:abc', { type: 'user', aadObjectId: 'abc' }) as DeliverJob;

  it('is deterministic for the same step and differs between steps', () => {
    expect(jobMessageId(job)).toBe(jobMessageId({ ...job }));
    const ids = new Set([
      jobMessageId(job),
      jobMessageId({ ...job, attempt: 1 }),
      jobMessageId({ ...job, throttled: 1 }),
      jobMessageId({ ...job, recipientKey: 'user:aad:abd' }),
      jobMessageId({ ...job, notificationId: `${job.notificationId}x` }),
    ]);
    expect(ids.size).toBe(5);
  });

  it('stays within Service Bus 128 characters even for very long ids', () => {
    const long: DeliverJob = { ...job, notificationId: 'n'.repeat(500), recipientKey: 'k'.repeat(2000) };
    expect(jobMessageId(long).length).toBeLessThanOrEqual(128);
    expect(jobMessageId(job).length).toBeLessThanOrEqual(128);
    expect(jobMessageId(long)).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
