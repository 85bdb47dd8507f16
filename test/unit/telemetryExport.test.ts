import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { jobMessageId, parseJob, type Job } from '../../shared/domain/job';
import type { DeadLetter, JobQueue, QueuedJob, QueueJob } from '../../shared/queue/jobQueue';
import { startTelemetry, telemetryExportFrom } from '../../shared/telemetry/startTelemetry';
import { TracedJobQueue } from '../../shared/telemetry/tracedJobQueue';
import { currentTraceparent, inSpan } from '../../shared/telemetry/tracing';

describe('where telemetry goes (telemetryExportFrom)', () => {
  const CONNECTION = 'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/';

  it('exports to Application Insights when its connection string is set, as the managed identity when the authentication string says AAD', () => {
    expect(telemetryExportFrom({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION })).toEqual({ kind: 'azure-monitor', connectionString: CONNECTION });
    expect(
      telemetryExportFrom({
        APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=1b2c;Authorization=AAD',
        AZURE_CLIENT_ID: '1b2c',
      }),
    ).toEqual({ kind: 'azure-monitor', connectionString: CONNECTION, managedIdentityClientId: '1b2c' });
    // The identity the authentication string names wins; AZURE_CLIENT_ID is the fallback.
    expect(
      telemetryExportFrom({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=9f8e' }),
    ).toEqual({ kind: 'azure-monitor', connectionString: CONNECTION, managedIdentityClientId: '9f8e' });
    // Without AAD in the authentication string the exporter uses the connection string alone.
    expect(telemetryExportFrom({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, AZURE_CLIENT_ID: '1b2c' })).toEqual({ kind: 'azure-monitor', connectionString: CONNECTION });
  });

  it('prints to the console locally only when OTEL_*_EXPORTER asks for it, and is off otherwise', () => {
    expect(telemetryExportFrom({})).toEqual({ kind: 'off' });
    expect(telemetryExportFrom({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toEqual({ kind: 'off' });
    expect(telemetryExportFrom({ OTEL_METRICS_EXPORTER: 'console' })).toEqual({ kind: 'console', metrics: true, traces: false });
    expect(telemetryExportFrom({ OTEL_TRACES_EXPORTER: 'otlp, Console' })).toEqual({ kind: 'console', metrics: false, traces: true });
    expect(telemetryExportFrom({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'otlp' })).toEqual({ kind: 'off' });
  });

  it('refuses to start Azure Monitor where the host gave no way to (a connection string must never be silently ignored)', () => {
    expect(() => startTelemetry({ kind: 'azure-monitor', connectionString: CONNECTION })).toThrow(/APPLICATIONINSIGHTS_CONNECTION_STRING/);
  });
});

describe('jobs carry the trace of the span that enqueued them (TracedJobQueue)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  class Recorder implements JobQueue {
    readonly jobs: QueueJob[] = [];
    async enqueue(jobs: readonly QueuedJob<QueueJob>[]): Promise<void> {
      this.jobs.push(...jobs.map((j) => j.job));
    }
    async deadLetter(_letter: DeadLetter): Promise<void> {}
    async ensureCreated(): Promise<void> {}
    async ping(): Promise<void> {}
    async close(): Promise<void> {}
  }
  const plan: Job = { v: 1, kind: 'plan', notificationId: 'n1', offset: 0 };

  it('adds the active span as a W3C traceparent that parses back, and leaves the message id alone', async () => {
    const inner = new Recorder();
    const queue = new TracedJobQueue(inner);
    await queue.enqueue([{ job: plan }]);
    expect(inner.jobs[0]).toEqual(plan);
    const traceparent = await inSpan('test.accept', {}, async () => {
      await queue.enqueue([{ job: plan }]);
      return currentTraceparent();
    });
    const carried = inner.jobs[1] as Job;
    expect(carried.trace).toBe(traceparent);
    expect(carried.trace).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const parsed = parseJob(JSON.stringify(carried));
    expect(parsed.ok && parsed.job.trace).toBe(traceparent);
    // A replayed accept (another trace) must still be de-duplicated by Service Bus.
    expect(jobMessageId(carried)).toBe(jobMessageId(plan));
  });

  it('continues the carried trace in the worker: the job span is the enqueuing span’s child', async () => {
    exporter.reset();
    const traceparent = await inSpan('test.accept', {}, async () => currentTraceparent());
    await inSpan('test.job', {}, async () => undefined, { parent: traceparent });
    const [accept, job] = exporter.getFinishedSpans();
    expect(job?.spanContext().traceId).toBe(accept?.spanContext().traceId);
    expect(job?.parentSpanContext?.spanId).toBe(accept?.spanContext().spanId);
  });

  it('drops a trace that is not a traceparent, and keeps the job (a diagnostic field must not make a job poison)', () => {
    const parsed = parseJob(JSON.stringify({ ...plan, trace: 'not-a-traceparent' }));
    expect(parsed).toEqual({ ok: true, job: plan });
  });
});
