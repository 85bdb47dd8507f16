import { createHttpHeaders, createPipelineRequest, RestError } from '@azure/core-rest-pipeline';
import { describeError, lineLogger, logLine } from '../../shared/logger';

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

describe('log lines', () => {
  it('describes an SDK error by name, status, code and message on one line, without the request it carries', () => {
    const line = describeError(storageError());
    expect(line).toBe('RestError 404 TableNotFound: The table specified does not exist. | RequestId:8f2c | Time:2026-12-01T20:00:00Z');
    expect(line).not.toMatch(/SharedKey|message body|authorization/i);
  });

  it('joins arguments into one line; errors are described, other objects named by type only', () => {
    const line = logLine(['[deliverJob] failed:', storageError(), { text: 'the message body', token: 'eyJ0' }, 3, '\nmore\ttext']);
    expect(line).not.toContain('\n');
    expect(line).toContain('RestError 404 TableNotFound');
    expect(line).toContain('[Object]');
    expect(line).not.toMatch(/message body|eyJ0/);
    expect(line).toMatch(/3 \| more\ttext$/);
  });

  it('caps what an error message contributes to a line', () => {
    expect(describeError(new Error('x'.repeat(5_000))).length).toBeLessThan(400);
    expect(describeError('plain text\nthrown')).toBe('plain text | thrown');
  });

  it('a line logger writes each call as exactly one line, with its level', () => {
    const written: [string, string][] = [];
    const log = lineLogger((level, line) => written.push([level, line]));
    log.log('a', 'b');
    log.warn('c\nd');
    log.error('e', new TypeError('f'));
    expect(written).toEqual([
      ['info', 'a b'],
      ['warn', 'c | d'],
      ['error', 'e TypeError: f'],
    ]);
  });
});
