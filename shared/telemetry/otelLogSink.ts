import { logs, SeverityNumber, type AnyValueMap, type Logger as OtelLogger } from '@opentelemetry/api-logs';
import type { LogLevel } from '../logger';
import { LOG_ATTRIBUTE, LOG_SCOPE, type LogSink, type WrittenFields } from './logRecord';

const SEVERITY: Readonly<Record<LogLevel, { readonly number: SeverityNumber; readonly text: string }>> = {
  info: { number: SeverityNumber.INFO, text: 'INFO' },
  warn: { number: SeverityNumber.WARN, text: 'WARN' },
  error: { number: SeverityNumber.ERROR, text: 'ERROR' },
};

/**
 * A sink that emits each record through the OpenTelemetry Logs API. With Azure Monitor's
 * distribution registered, each becomes a row of `traces` whose customDimensions are the fields,
 * under the metrics' attribute names (`teamsnotify.notification_id`, ...). The trace and span ids
 * come from the active context, which the SDK attaches by itself.
 *
 * `logger`: the registered provider's by default, looked up once (a no-op until a provider is set).
 */
export function otelLogSink(logger: OtelLogger = logs.getLogger(LOG_SCOPE)): LogSink {
  return (record) => {
    const severity = SEVERITY[record.level];
    logger.emit({
      timestamp: new Date(record.time),
      severityNumber: severity.number,
      severityText: severity.text,
      body: record.message,
      attributes: attributes(record.fields),
    });
  };
}

function attributes(fields: WrittenFields): AnyValueMap {
  const map: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(fields) as [keyof WrittenFields, string | number | undefined][]) {
    if (value !== undefined) map[LOG_ATTRIBUTE[key]] = value;
  }
  return map;
}
