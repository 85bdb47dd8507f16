import type { LogLevel } from '../logger';
import type { LogRecord, LogSink } from './logRecord';

/** How lines are written: `text` for a person at a terminal, `json` for a machine (LOG_FORMAT). */
export type LogFormat = 'text' | 'json';

/**
 * Today's look: `[functionName] message key=value ...`. A value with a space, a quote or an `=` is
 * written as a JSON string, so that the pairs still split. No time or level, as before: the local
 * host writes warnings and errors to stderr, and Azure's host records both itself.
 */
export function textLine(record: LogRecord, options: { readonly prefix?: boolean } = {}): string {
  const { functionName, ...rest } = record.fields;
  const prefix = options.prefix !== false && functionName !== undefined ? `[${functionName}]` : undefined;
  const pairs = Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && /[\s"=]/.test(value) ? JSON.stringify(value) : String(value)}`);
  return [prefix, record.message, ...pairs].filter((part) => part !== undefined && part !== '').join(' ');
}

/** One JSON object on one line: `time`, `level`, `message`, then the fields and the trace ids. Nothing else. */
export function jsonLine(record: LogRecord): string {
  const { time, level, message, fields, traceId, spanId } = record;
  // JSON.stringify escapes line breaks inside strings, so a record is always exactly one line.
  return JSON.stringify({ time, level, message, ...fields, ...(traceId !== undefined && { traceId, spanId }) });
}

/** A sink that writes each record as one line in `format`; `write` gets the level to choose a stream. */
export function lineLogSink(format: LogFormat, write: (level: LogLevel, line: string) => void): LogSink {
  const formatLine = format === 'json' ? jsonLine : textLine;
  return (record) => write(record.level, formatLine(record));
}
