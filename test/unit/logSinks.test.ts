import { InvocationContext } from '@azure/functions';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { hashId } from '../../shared/logger';
import { attachLogger, functionLogger, useLogSink } from '../../shared/telemetry/functionLogger';
import { LOG_ATTRIBUTE, LOG_SCOPE, type LogRecord } from '../../shared/telemetry/logRecord';
import { otelLogSink } from '../../shared/telemetry/otelLogSink';
import { sinkLogger } from '../../shared/telemetry/sinkLogger';

const AAD = '0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e';

/** A context like the Functions host's, whose log calls land in `lines`. */
function hostContext(functionName: string): { context: InvocationContext; lines: [string, string][] } {
  const lines: [string, string][] = [];
  const context = new InvocationContext({ functionName, invocationId: 'inv-1', logHandler: (level, ...args) => lines.push([level, args.map(String).join(' ')]) });
  return { context, lines };
}

describe('the OpenTelemetry log sink', () => {
  it('emits each record with its severity, the message as body and the fields under the metrics\' attribute names', async () => {
    const exporter = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor(exporter)] });
    const log = sinkLogger(otelLogSink(provider.getLogger(LOG_SCOPE)));
    log.log('deliver: delivered as 1:abc', { notificationId: 'n1', jobKind: 'deliver', outcome: 'delivered', tenantId: 't1', recipient: `user:aad:${AAD}`, durationMs: 41 });
    log.error('table write failed', { error: new TypeError('boom') });
    await provider.forceFlush();
    const [first, second] = exporter.getFinishedLogRecords();
    expect(first).toMatchObject({
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body: 'deliver: delivered as 1:abc',
      attributes: {
        'teamsnotify.notification_id': 'n1',
        'teamsnotify.job_kind': 'deliver',
        'teamsnotify.outcome': 'delivered',
        'teamsnotify.tenant_id': 't1',
        'teamsnotify.recipient_hash': hashId(AAD),
        'teamsnotify.duration_ms': 41,
      },
    });
    expect(first?.instrumentationScope.name).toBe('teams-notify');
    expect(JSON.stringify(first?.attributes)).not.toContain(AAD);
    expect(second).toMatchObject({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', attributes: { 'error.message': 'TypeError: boom' } });
    await provider.shutdown();
  });

  it('names every written field with a teamsnotify.* attribute, or error.message', () => {
    for (const name of Object.values(LOG_ATTRIBUTE)) expect(name).toMatch(/^(teamsnotify\.[a-z_]+|error\.message)$/);
  });
});

describe('a function\'s logger', () => {
  afterEach(() => useLogSink(undefined));

  it('without a sink, writes one text line to the context, which names the function itself', () => {
    const { context, lines } = hostContext('deliverJob');
    const log = functionLogger(context);
    log.log('deliver: delivered', { notificationId: 'n1', recipient: AAD });
    log.warn('retrying', { count: 2 });
    log.error('failed', { error: new Error('x\ny') });
    expect(lines).toEqual([
      ['information', `deliver: delivered notificationId=n1 recipientHash=${hashId(AAD)}`],
      ['warning', 'retrying count=2'],
      ['error', 'failed error="Error: x | y"'],
    ]);
  });

  it('with a process-wide sink (Application Insights), sends records there, named by the function', () => {
    const records: LogRecord[] = [];
    useLogSink((record) => records.push(record));
    const { context, lines } = hostContext('postNotification');
    functionLogger(context).log('notification accepted', { notificationId: 'n1', outcome: 'accepted', count: 2 });
    expect(lines).toEqual([]);
    expect(records.map((r) => [r.level, r.message, r.fields])).toEqual([['info', 'notification accepted', { notificationId: 'n1', outcome: 'accepted', functionName: 'postNotification', count: 2 }]]);
  });

  it('in the local host, goes to the host\'s logger with its fields, before any process-wide sink', () => {
    const hosted: LogRecord[] = [];
    const elsewhere: LogRecord[] = [];
    useLogSink((record) => elsewhere.push(record));
    const { context, lines } = hostContext('deliverJob');
    attachLogger(context, sinkLogger((record) => hosted.push(record)));
    functionLogger(context).warn('job failed; retrying later', { jobKind: 'slice' });
    expect([lines, elsewhere]).toEqual([[], []]);
    expect(hosted.map((r) => r.fields)).toEqual([{ jobKind: 'slice', functionName: 'deliverJob' }]);
  });
});
