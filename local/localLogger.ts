import type { Logger, LogLevel } from '../shared/logger';
import { lineLogSink, type LogFormat } from '../shared/telemetry/logLines';
import { sinkLogger } from '../shared/telemetry/sinkLogger';

export interface LocalLoggerOptions {
  /** LOG_FORMAT: `text` (a person at a terminal) or `json` (a machine). */
  readonly format: LogFormat;
  /** Asked at each info line: true drops it (while stopping, or a quiet worker). */
  readonly quiet?: () => boolean;
  /** Put before each text line (`[worker 123] `); JSON lines stay bare objects. */
  readonly textPrefix?: string;
}

/**
 * The local processes' logger: one line a record. Text as before: info on stdout, warnings and
 * errors on stderr. JSON: every level on stdout, so that stdout is nothing but JSON lines (the
 * process's own words to a person, its banner and stop report, go to stderr then: see `humanStream`).
 */
export function localLogger(options: LocalLoggerOptions): Logger {
  const prefix = options.textPrefix ?? '';
  return sinkLogger(
    lineLogSink(options.format, (level: LogLevel, line: string) => {
      if (level === 'info' && options.quiet?.() === true) return;
      if (options.format === 'json') process.stdout.write(`${line}\n`);
      else (level === 'info' ? process.stdout : process.stderr).write(`${prefix}${line}\n`);
    }),
  );
}

/** Where a local process writes what it says to a person: stdout, unless stdout carries JSON lines. */
export function humanStream(format: LogFormat): NodeJS.WriteStream {
  return format === 'json' ? process.stderr : process.stdout;
}
