import type { InvocationContext } from '@azure/functions';
import { withFields, type LogFields, type Logger, type LogLevel } from '../logger';
import { textLine } from './logLines';
import type { LogRecord, LogSink } from './logRecord';
import { sinkLogger } from './sinkLogger';

/**
 * The process-wide sink, when one is configured: in Azure, `functions/index.ts` sets the
 * OpenTelemetry sink when Application Insights is configured. Unset, a function's lines go to its
 * `InvocationContext` as text, which the Functions host records as it always did.
 */
let processSink: LogSink | undefined;

export function useLogSink(sink: LogSink | undefined): void {
  processSink = sink;
}

/** Loggers the local host gave its contexts: its lines keep their fields instead of passing through the context's `log(...args)`. */
const hostLoggers = new WeakMap<InvocationContext, Logger>();

/** The local host's side: `context`'s lines go to `log`, fields and all. */
export function attachLogger(context: InvocationContext, log: Logger): void {
  hostLoggers.set(context, log);
}

/**
 * The logger a function logs through, each line named by the function: the local host's logger
 * (text or JSON lines), else the process-wide sink (Azure with Application Insights), else the
 * context's own log as one text line (Azure without it).
 */
export function functionLogger(context: InvocationContext): Logger {
  const base: LogFields = { functionName: context.functionName };
  const hosted = hostLoggers.get(context);
  if (hosted !== undefined) return withFields(hosted, base);
  if (processSink !== undefined) return sinkLogger(processSink, base);
  // The host names the function on each of its lines already: the text leaves the prefix out.
  return sinkLogger((record) => CONTEXT_WRITE[record.level](context, textLine(record, { prefix: false })), base);
}

const CONTEXT_WRITE: Readonly<Record<LogLevel, (context: InvocationContext, line: string) => void>> = {
  info: (context, line) => context.log(line),
  warn: (context, line) => context.warn(line),
  error: (context, line) => context.error(line),
};

/**
 * The logger for lines that belong to no function (the bot endpoint's, services made outside a
 * handler): the process-wide sink when there is one, else text lines on the console.
 */
export const processLogger: Logger = sinkLogger((record) => (processSink ?? consoleSink)(record));

function consoleSink(record: LogRecord): void {
  const line = textLine(record);
  if (record.level === 'info') console.log(line);
  else if (record.level === 'warn') console.warn(line);
  else console.error(line);
}
