import type { LogFields, Logger, LogLevel } from '../logger';
import { logRecord, type LogSink } from './logRecord';

/** A `Logger` that makes a record of each call and hands it to `sink`; `base` is added to every record. */
export function sinkLogger(sink: LogSink, base: LogFields = {}): Logger {
  const write = (level: LogLevel) => (message: string, fields?: LogFields) => sink(logRecord(level, message, { ...base, ...fields }));
  return { log: write('info'), warn: write('warn'), error: write('error') };
}
