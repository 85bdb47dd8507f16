import { ManagedIdentityCredential } from '@azure/identity';
import { shutdownAzureMonitor, useAzureMonitor } from '@azure/monitor-opentelemetry';
import type { AzureMonitorExport, RunningTelemetry } from './startTelemetry';

/**
 * The production exporter: metrics (customMetrics), spans (requests and dependencies) and our
 * structured logs (traces, with their fields as customDimensions) to Application Insights.
 */
export function startAzureMonitor(target: AzureMonitorExport): RunningTelemetry {
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString: target.connectionString,
      // Local auth is off on the Application Insights resource (infra/): the user-assigned identity sends.
      ...(target.managedIdentityClientId !== undefined && { credential: new ManagedIdentityCredential({ clientId: target.managedIdentityClientId }) }),
    },
    // Our structured logs are how an operator finds what happened: they are kept even when the
    // trace they belong to is sampled out.
    enableTraceBasedSamplingForLogs: false,
    // No automatic HTTP or Azure SDK spans: their URLs carry Entra object ids (Graph's
    // /users/{id}), conversation ids (the Bot Connector's) and recipient keys (table rows), which
    // nothing we write to Application Insights may hold. Our own spans say what happened.
    instrumentationOptions: { http: { enabled: false }, azureSdk: { enabled: false } },
  });
  return { exporting: 'azure-monitor', shutdown: shutdownAzureMonitor };
}
