import { metrics, type Attributes, type Counter, type Histogram, type Meter } from '@opentelemetry/api';
import type { AmendAction } from '../domain/job';
import type { FailureReason } from '../domain/outcome';
import { ATTRIBUTE, INSTRUMENTATION_SCOPE, METRIC, UNKNOWN_TENANT } from './names';

/** One tenant's pacing as this instance last saw it: what the backlog and rate gauges report. */
export interface TenantReading {
  readonly tenantId: string;
  /** Sends planned on the tenant's timeline and not yet due. */
  readonly backlog: number;
  /** Requests per second the tenant's planned sends run at now. */
  readonly rate: number;
}

/** How a recipient's row ended. */
export type RecipientEnd = { readonly status: 'delivered' } | { readonly status: 'failed' | 'skipped'; readonly reason: FailureReason };

/** A Bot Connector call, by what it did and how it ended (a `SendOutcome` kind, or `created`, `changed`). */
export interface ConnectorCall {
  readonly operation: 'send' | 'create-conversation' | 'create-thread' | 'list-members' | 'update' | 'delete';
  readonly outcome: string;
  readonly tenantId: string;
  readonly durationMs: number;
}

/**
 * The delivery pipeline's instruments, in domain terms. Built from the meter provider registered
 * when it is made (the OpenTelemetry metrics API has no proxy: a meter taken before the SDK is
 * set up stays a no-op), so `createServices` makes it after `startTelemetry`. Without an SDK
 * every call is a no-op.
 */
export class DeliveryMetrics {
  private readonly delivered: Counter;
  private readonly failed: Counter;
  private readonly skipped: Counter;
  private readonly throttled: Counter;
  private readonly amended: Counter;
  private readonly sendDuration: Histogram;
  private readonly deliveryLatency: Histogram;

  constructor(private readonly meter: Meter = metrics.getMeter(INSTRUMENTATION_SCOPE)) {
    this.delivered = meter.createCounter(METRIC.delivered, { description: 'Messages Teams accepted (201)', unit: '{message}' });
    this.failed = meter.createCounter(METRIC.failed, { description: 'Recipients that ended failed, by reason', unit: '{message}' });
    this.skipped = meter.createCounter(METRIC.skipped, { description: 'Recipients that ended skipped, by reason', unit: '{message}' });
    this.throttled = meter.createCounter(METRIC.throttled, { description: 'Bot Connector answers 429', unit: '{response}' });
    this.amended = meter.createCounter(METRIC.amended, { description: 'Edits and recalls of delivered messages, by outcome', unit: '{message}' });
    this.sendDuration = meter.createHistogram(METRIC.sendDuration, { description: 'Bot Connector call duration', unit: 'ms' });
    this.deliveryLatency = meter.createHistogram(METRIC.deliveryLatency, {
      description: 'From the accept (or the sendAt, if later) to Teams accepting the message',
      unit: 's',
    });
  }

  /** A recipient's row took its final status (`count` rows at once, for passes that end many). */
  ended(end: RecipientEnd, tenantId: string | undefined, count = 1): void {
    if (count <= 0) return;
    const tenant = { [ATTRIBUTE.tenantId]: tenantDimension(tenantId) };
    if (end.status === 'delivered') this.delivered.add(count, tenant);
    else (end.status === 'failed' ? this.failed : this.skipped).add(count, { ...tenant, [ATTRIBUTE.reason]: end.reason });
  }

  /** Teams accepted a message `seconds` after it was due to go (its accept, or its sendAt). */
  deliveredAfter(seconds: number, tenantId: string): void {
    this.deliveryLatency.record(Math.max(0, seconds), { [ATTRIBUTE.tenantId]: tenantDimension(tenantId) });
  }

  connectorCall(call: ConnectorCall): void {
    const tenant = tenantDimension(call.tenantId);
    const attributes: Attributes = { [ATTRIBUTE.tenantId]: tenant, [ATTRIBUTE.operation]: call.operation, [ATTRIBUTE.outcome]: call.outcome };
    this.sendDuration.record(call.durationMs, attributes);
    if (call.outcome === 'throttled') this.throttled.add(1, { [ATTRIBUTE.tenantId]: tenant, [ATTRIBUTE.operation]: call.operation });
  }

  /** An edit or recall reached a recipient's message (`done`), or gave up on it (`failed`). */
  amendedMessage(action: AmendAction, outcome: 'done' | 'failed', tenantId: string): void {
    this.amended.add(1, { [ATTRIBUTE.tenantId]: tenantDimension(tenantId), [ATTRIBUTE.action]: action, [ATTRIBUTE.outcome]: outcome });
  }

  /** Reports the tenants' backlog and rate at each collection, as `read` gives them. */
  observeTenants(read: () => readonly TenantReading[]): void {
    const backlog = this.meter.createObservableGauge(METRIC.backlog, { description: 'Sends planned on the tenant timeline and not yet due', unit: '{message}' });
    const rate = this.meter.createObservableGauge(METRIC.tenantRate, { description: 'The rate the tenant planned sends run at now', unit: '{message}/s' });
    this.meter.addBatchObservableCallback(
      (result) => {
        for (const reading of read()) {
          const tenant = { [ATTRIBUTE.tenantId]: tenantDimension(reading.tenantId) };
          result.observe(backlog, reading.backlog, tenant);
          result.observe(rate, reading.rate, tenant);
        }
      },
      [backlog, rate],
    );
  }
}

/** One spelling per tenant: a request may name it in capitals, Teams writes it in lower case. */
function tenantDimension(tenantId: string | undefined): string {
  return tenantId === undefined || tenantId === '' ? UNKNOWN_TENANT : tenantId.toLowerCase();
}
