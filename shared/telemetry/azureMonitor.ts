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
    // Our structured logs are few (a line per job, not per recipient) and are how an operator
    // finds what happened: they are kept even when the trace they belong to is sampled out.
    enableTraceBasedSamplingForLogs: false,
  });
  return { exporting: 'azure-monitor', shutdown: shutdownAzureMonitor };
}
