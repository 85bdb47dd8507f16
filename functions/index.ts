import { app } from '@azure/functions';
import { startAzureMonitor } from '../shared/telemetry/azureMonitor';
import { useLogSink } from '../shared/telemetry/functionLogger';
import { otelLogSink } from '../shared/telemetry/otelLogSink';
import { startTelemetry, telemetryExportFrom } from '../shared/telemetry/startTelemetry';
import { functionDefinitions } from './definitions';

// The Azure Functions entry point (package.json "main"). First the OpenTelemetry SDK, before any
// service takes a meter (services are made on the first invocation): Application Insights when
// the app settings give its connection string.
const telemetry = startTelemetry(telemetryExportFrom(process.env), startAzureMonitor);
// Log lines then go as OpenTelemetry log records, so their fields become customDimensions.
if (telemetry.exporting === 'azure-monitor') useLogSink(otelLogSink());
app.hook.appTerminate(() => telemetry.shutdown());

// Each definition becomes one function.
for (const definition of functionDefinitions) {
  if (definition.kind === 'http') {
    app.http(definition.name, {
      methods: [...definition.methods],
      route: definition.route,
      authLevel: definition.authLevel,
      handler: definition.handler,
    });
  } else if (definition.kind === 'queue') {
    app.serviceBusQueue(definition.name, {
      queueName: definition.queueName,
      connection: definition.connection,
      handler: definition.handler,
    });
  } else {
    app.timer(definition.name, { schedule: definition.schedule, handler: definition.handler });
  }
}
