import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { userSubject } from '../../shared/domain/optOut';
import { ATTRIBUTE, METRIC, SPAN } from '../../shared/telemetry/names';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { eventually, startTestPipeline, type TestPipeline } from '../support/pipeline';

/**
 * The OpenTelemetry the pipeline emits, captured with the SDK's in-memory exporters after a real
 * delivery: the local host and queue trigger on Azurite, the fake Bot Connector answering one 429.
 * What is asserted is what an operator charts (README, "Metrics and Kusto"): the names, the
 * attributes, and that the counts match what happened.
 */
const TENANT = '7e1e0000-0000-4000-8000-000000007e17';
const people = {
  alex: { aadObjectId: '7e1e0000-0000-4000-8000-00000000a1e5', userId: '29:alex' },
  blake: { aadObjectId: '7e1e0000-0000-4000-8000-0000000b1a4e', userId: '29:blake' },
  quiet: { aadObjectId: '7e1e0000-0000-4000-8000-0000000901e7', userId: '29:quiet' },
};
/** Nobody the bot has seen: fails `not-installed` (proactive install is off). */
const STRANGER = '7e1e0000-0000-4000-8000-00000057a4ce';

describe('telemetry of a real delivery (in-memory OpenTelemetry exporters)', () => {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [metricReader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  let connector: FakeConnector;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    // Registered before the services are made, as the entry points do (startTelemetry first).
    metrics.setGlobalMeterProvider(meterProvider);
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(tracerProvider);
    connector = await startFakeConnector();
    pipeline = await startTestPipeline();
    for (const [name, person] of Object.entries(people)) {
      await pipeline.services.conversations.saveUser({ ...person, serviceUrl: connector.serviceUrl, tenantId: TENANT, botId: 'bot-1', name, installed: true, updatedAt: new Date().toISOString() });
    }
    await pipeline.services.optOuts.optOut(userSubject(TENANT, people.quiet.userId));
  });
  afterAll(async () => {
    await pipeline.stop();
    await connector.close();
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    metrics.disable();
    trace.disable();
    context.disable();
  });

  async function collected(): Promise<MetricData[]> {
    metricExporter.reset();
    await metricReader.forceFlush();
    return metricExporter.getMetrics().flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
  }

  function points(all: MetricData[], name: string): DataPoint<unknown>[] {
    const metric = all.find((m) => m.descriptor.name === name);
    if (metric === undefined) throw new Error(`no metric ${name}; have ${all.map((m) => m.descriptor.name).join(', ')}`);
    return metric.dataPoints as DataPoint<unknown>[];
  }

  /** A counter's value for the points whose attributes include `where`. */
  function sum(all: MetricData[], name: string, where: Record<string, string>): number {
    return points(all, name)
      .filter((p) => Object.entries(where).every(([key, value]) => p.attributes[key] === value))
      .reduce((total, p) => total + (p.value as number), 0);
  }

  it('counts each outcome per tenant and reason, times the sends, and traces accept → plan → slice → each delivery in one trace', async () => {
    // Alex's first send meets a 429 (Retry-After 1 s), then goes through.
    connector.script({ op: 'send', conversationId: `a:fake-${people.alex.userId}` }, [{ status: 429, retryAfterSeconds: 1 }]);
    const post = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        recipients: [people.alex, people.blake, people.quiet, { aadObjectId: STRANGER }].map((p) => ({ type: 'user', aadObjectId: p.aadObjectId, tenantId: TENANT })),
        message: { text: 'Deploy 7 finished' },
      }),
    });
    expect(post.status).toBe(202);
    const { id } = (await post.json()) as { id: string };
    const worker = pipeline.startWorker();
    const status = await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { status: string; counts: Record<string, number>; recipients: { status: string; reason?: string }[] };
      return body.status === 'completed' ? body : undefined;
    }, 30_000, 'completed');
    expect(status.counts).toMatchObject({ delivered: 2, failed: 1, skipped: 1 });

    // An edit reaches both delivered messages.
    expect((await pipeline.api(`/api/notifications/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { text: 'Deploy 7 finished (edited)' } }) })).status).toBe(202);
    await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { edits?: { delivered: Record<string, number> } };
      return body.edits?.delivered['2'] === 2 ? true : undefined;
    }, 30_000, 'edited');
    await worker.stop();

    const all = await collected();
    const tenant = { [ATTRIBUTE.tenantId]: TENANT };
    expect(sum(all, METRIC.delivered, tenant)).toBe(2);
    expect(sum(all, METRIC.failed, { ...tenant, [ATTRIBUTE.reason]: 'not-installed' })).toBe(1);
    expect(sum(all, METRIC.skipped, { ...tenant, [ATTRIBUTE.reason]: 'opted-out' })).toBe(1);
    expect(sum(all, METRIC.throttled, tenant)).toBe(1);
    expect(sum(all, METRIC.amended, { ...tenant, [ATTRIBUTE.action]: 'edit', [ATTRIBUTE.outcome]: 'done' })).toBe(2);

    // Every connector call is timed: 2 chats created, 3 sends (one of them the 429), 2 updates.
    const durations = points(all, METRIC.sendDuration).filter((p) => p.attributes[ATTRIBUTE.tenantId] === TENANT);
    const callsBy = (operation: string, outcome: string) =>
      durations.filter((p) => p.attributes[ATTRIBUTE.operation] === operation && p.attributes[ATTRIBUTE.outcome] === outcome).reduce((n, p) => n + (p.value as { count: number }).count, 0);
    expect(callsBy('create-conversation', 'created')).toBe(2);
    expect(callsBy('send', 'delivered')).toBe(2);
    expect(callsBy('send', 'throttled')).toBe(1);
    expect(callsBy('update', 'changed')).toBe(2);
    const latency = points(all, METRIC.deliveryLatency).find((p) => p.attributes[ATTRIBUTE.tenantId] === TENANT);
    const histogram = latency?.value as { count: number; min?: number; max?: number } | undefined;
    expect(histogram?.count).toBe(2);
    // The 429 held Alex back at least its Retry-After.
    expect(histogram?.max).toBeGreaterThanOrEqual(1);
    expect(all.find((m) => m.descriptor.name === METRIC.deliveryLatency)?.descriptor.unit).toBe('s');
    expect(all.find((m) => m.descriptor.name === METRIC.sendDuration)?.descriptor.unit).toBe('ms');
    // The tenant's timeline, as this instance last saw it.
    const backlog = points(all, METRIC.backlog).find((p) => p.attributes[ATTRIBUTE.tenantId] === TENANT);
    expect(all.find((m) => m.descriptor.name === METRIC.backlog)?.dataPointType).toBe(DataPointType.GAUGE);
    expect(backlog?.value).toBe(0);
    const rate = points(all, METRIC.tenantRate).find((p) => p.attributes[ATTRIBUTE.tenantId] === TENANT);
    expect(rate?.value as number).toBeGreaterThan(0);

    // Spans: the accept, the plan, the slice and each delivery, one trace, each naming the notification.
    const spans = spanExporter.getFinishedSpans().filter((s) => s.attributes[ATTRIBUTE.notificationId] === id);
    const named = (name: string): ReadableSpan[] => spans.filter((s) => s.name === name);
    const [accept] = named(SPAN.accept);
    expect(accept).toBeDefined();
    const traceId = accept?.spanContext().traceId;
    const [plan] = named(SPAN.plan);
    expect(plan?.spanContext().traceId).toBe(traceId);
    expect(plan?.parentSpanContext?.spanId).toBe(accept?.spanContext().spanId);
    const slices = named(SPAN.slice);
    expect(slices.length).toBeGreaterThanOrEqual(1);
    for (const slice of slices) expect(slice.parentSpanContext?.spanId).toBe(plan?.spanContext().spanId);
    const deliveries = named(SPAN.deliver);
    const outcomes = deliveries.map((s) => s.attributes[ATTRIBUTE.outcome]);
    // Four recipients in the slice, and Alex's retry after the 429 as a job of its own.
    expect(outcomes.filter((o) => o === 'delivered')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'failed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'skipped')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'rescheduled')).toHaveLength(1);
    for (const span of deliveries) expect(span.spanContext().traceId).toBe(traceId);
    for (const span of [...slices, ...deliveries]) expect(span.attributes[ATTRIBUTE.jobKind]).toBeDefined();
    // The edit is a trace of its own (its own request), its jobs in it.
    const edits = spans.filter((s) => s.attributes[ATTRIBUTE.jobKind] === 'amendSlice');
    expect(edits.length).toBeGreaterThanOrEqual(1);
    expect(edits.every((s) => s.spanContext().traceId !== traceId)).toBe(true);
  }, 90_000);

  it('counts a cancelled send as skipped / cancelled, once per recipient, however its rows were ended', async () => {
    const before = sum(await collected(), METRIC.skipped, { [ATTRIBUTE.reason]: 'cancelled' });
    const post = await pipeline.api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        recipients: Object.values(people).map((p) => ({ type: 'user', aadObjectId: p.aadObjectId, tenantId: TENANT })),
        message: { text: 'Maintenance tonight' },
        sendAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    });
    expect(post.status).toBe(202);
    const { id } = (await post.json()) as { id: string };
    const worker = pipeline.startWorker();
    expect((await pipeline.api(`/api/notifications/${id}`, { method: 'DELETE' })).status).toBe(202);
    await eventually(async () => {
      const body = (await (await pipeline.api(`/api/notifications/${id}`)).json()) as { counts: { skipped: number; pending: number } };
      return body.counts.skipped === 3 && body.counts.pending === 0 ? true : undefined;
    }, 30_000, 'all three skipped');
    // A pass that finds nothing more to end must not count again.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await worker.stop();
    expect(sum(await collected(), METRIC.skipped, { [ATTRIBUTE.reason]: 'cancelled' }) - before).toBe(3);
  }, 60_000);
});
