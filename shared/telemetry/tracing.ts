import { context, defaultTextMapGetter, defaultTextMapSetter, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { describeError } from '../logger';
import { scrubIds } from './logRecord';
import { INSTRUMENTATION_SCOPE } from './names';

/**
 * Jobs carry their trace as a W3C `traceparent`, so the accept, the fan-out and every delivery of
 * one notification are one trace (one operation id in Application Insights), across queue hops and
 * instances. This propagator is used directly, not the global one: carrying the trace must not
 * depend on which SDK (if any) registered what.
 */
const w3c = new W3CTraceContextPropagator();

/** The active span as a `traceparent`; undefined when nothing is traced (no SDK, or not sampled in). */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  w3c.inject(context.active(), carrier, defaultTextMapSetter);
  return carrier.traceparent;
}

function contextOf(traceparent: string | undefined): Context {
  return traceparent === undefined ? context.active() : w3c.extract(context.active(), { traceparent }, defaultTextMapGetter);
}

export interface SpanOptions {
  /** The `traceparent` a job carried: the span continues that trace. */
  readonly parent?: string;
  readonly kind?: SpanKind;
}

/**
 * Runs `work` in a span of its own, made active so that logs, nested spans and the jobs it
 * enqueues belong to it. A thrown error marks the span failed with its description (never the
 * error object: SDK errors carry requests, bodies and tokens).
 */
export function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, options: SpanOptions = {}): Promise<T> {
  const tracer = trace.getTracer(INSTRUMENTATION_SCOPE);
  return tracer.startActiveSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL }, contextOf(options.parent), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error, scrubIds) });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };
