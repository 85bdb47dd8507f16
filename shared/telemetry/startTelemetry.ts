import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { INSTRUMENTATION_SCOPE } from './names';

/** Where this process's metrics and spans go. */
export type TelemetryExport =
  /** Azure: Application Insights, as the managed identity when the connection string says AAD. */
  | { readonly kind: 'azure-monitor'; readonly connectionString: string; readonly managedIdentityClientId?: string }
  /** Locally, and only when asked (`OTEL_METRICS_EXPORTER=console`, `OTEL_TRACES_EXPORTER=console`). */
  | { readonly kind: 'console'; readonly metrics: boolean; readonly traces: boolean }
  | { readonly kind: 'off' };

export type AzureMonitorExport = Extract<TelemetryExport, { kind: 'azure-monitor' }>;

/** How often the console exporter prints the metrics. */
const CONSOLE_METRICS_INTERVAL_MS = 10_000;

/**
 * The standard variables decide: Application Insights' connection string (set by the Bicep app
 * settings), else OpenTelemetry's `OTEL_*_EXPORTER=console`, else nothing is exported and every
 * instrument is a no-op.
 */
export function telemetryExportFrom(env: NodeJS.ProcessEnv): TelemetryExport {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (connectionString !== undefined && connectionString !== '') {
    // Local auth is off on the Application Insights resource (infra/): telemetry is sent as the
    // user-assigned identity, which APPLICATIONINSIGHTS_AUTHENTICATION_STRING names for the host.
    const authentication = env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '';
    const aad = /(^|;)\s*Authorization=AAD\s*(;|$)/i.test(authentication);
    // The identity the host is told to send as, else the app's own (AZURE_CLIENT_ID).
    const clientId = /(?:^|;)\s*ClientId=([^;]+)/i.exec(authentication)?.[1]?.trim() ?? env.AZURE_CLIENT_ID?.trim();
    return { kind: 'azure-monitor', connectionString, ...(aad && clientId !== undefined && clientId !== '' && { managedIdentityClientId: clientId }) };
  }
  const asked = (name: string): boolean => (env[name] ?? '').split(',').map((part) => part.trim().toLowerCase()).includes('console');
  const wanted = { metrics: asked('OTEL_METRICS_EXPORTER'), traces: asked('OTEL_TRACES_EXPORTER') };
  return wanted.metrics || wanted.traces ? { kind: 'console', ...wanted } : { kind: 'off' };
}

export interface RunningTelemetry {
  readonly exporting: TelemetryExport['kind'];
  /** Flushes what is buffered and stops exporting (a host stopping). */
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry SDK for this process, once, before `createServices` takes its meter.
 * Synchronous, so that nothing can be measured before it. The Azure Monitor start is passed in
 * (`azureMonitor.ts`), so this module and its tests do not load the distro.
 */
export function startTelemetry(target: TelemetryExport, azureMonitor?: (target: AzureMonitorExport) => RunningTelemetry): RunningTelemetry {
  switch (target.kind) {
    case 'off':
      return { exporting: 'off', shutdown: async () => undefined };
    case 'azure-monitor':
      if (azureMonitor === undefined) throw new Error('APPLICATIONINSIGHTS_CONNECTION_STRING is set, but this host cannot export to Azure Monitor');
      return azureMonitor(target);
    case 'console': {
      const resource = resourceFromAttributes({ 'service.name': INSTRUMENTATION_SCOPE });
      const stops: (() => Promise<void>)[] = [];
      if (target.metrics) {
        const provider = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: CONSOLE_METRICS_INTERVAL_MS })] });
        metrics.setGlobalMeterProvider(provider);
        stops.push(() => provider.shutdown());
      }
      if (target.traces) {
        const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] });
        context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
        trace.setGlobalTracerProvider(provider);
        stops.push(() => provider.shutdown());
      }
      return { exporting: 'console', shutdown: async () => void (await Promise.all(stops.map((stop) => stop()))) };
    }
  }
}
