import { startAzureMonitor } from '../shared/telemetry/azureMonitor';
import { useLogSink } from '../shared/telemetry/functionLogger';
import { otelLogSink } from '../shared/telemetry/otelLogSink';
import { startTelemetry, telemetryExportFrom, type RunningTelemetry } from '../shared/telemetry/startTelemetry';

/**
 * OpenTelemetry for the Functions worker, started by importing this module, which `index.ts` does
 * first: before any service takes a meter and before the modules the distro may instrument load.
 * Application Insights when the app settings give its connection string; then log lines go as
 * OpenTelemetry log records, so their fields become customDimensions. A start that fails (a
 * malformed connection string) must not take the functions down with it: they run unmeasured and
 * say why once.
 */
function start(): RunningTelemetry {
  try {
    const running = startTelemetry(telemetryExportFrom(process.env), startAzureMonitor);
    if (running.exporting === 'azure-monitor') useLogSink(otelLogSink());
    return running;
  } catch (error) {
    console.error(`telemetry is off: it could not start (${error instanceof Error ? error.message : String(error)})`);
    return { exporting: 'off', shutdown: async () => undefined };
  }
}

export const telemetry = start();
