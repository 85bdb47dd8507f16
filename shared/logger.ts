/** The slice of the Functions `InvocationContext` the core logs through; any console-like sink fits. */
export interface Logger {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export const silentLogger: Logger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Longest message text an error contributes to a log line; storage errors append request ids and XML. */
const MAX_ERROR_MESSAGE = 300;

/**
 * One line for an error: its name, code, HTTP status and message. Never the error object itself:
 * SDK errors (RestError) carry the whole request and response, with headers, bodies and tokens.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error) && (typeof error !== 'object' || error === null)) return flatten(String(error), MAX_ERROR_MESSAGE);
  const fields = error as { name?: unknown; code?: unknown; statusCode?: unknown; status?: unknown; message?: unknown };
  const name = typeof fields.name === 'string' ? fields.name : 'Error';
  const code = typeof fields.code === 'string' || typeof fields.code === 'number' ? String(fields.code) : undefined;
  const status = typeof fields.statusCode === 'number' ? fields.statusCode : typeof fields.status === 'number' ? fields.status : undefined;
  const message = typeof fields.message === 'string' ? fields.message : '';
  const head = [name, status !== undefined ? String(status) : undefined, code].filter((part) => part !== undefined).join(' ');
  return `${head}: ${flatten(message, MAX_ERROR_MESSAGE)}`;
}

/**
 * Log arguments as one line: text as it is, errors as `describeError`, numbers and booleans as
 * text. Any other object is named by its type only, since it may hold a message body or a token.
 */
export function logLine(args: readonly unknown[]): string {
  return flatten(
    args
      .map((arg) => {
        if (typeof arg === 'string') return arg;
        if (typeof arg === 'number' || typeof arg === 'boolean' || typeof arg === 'bigint') return String(arg);
        if (arg === undefined || arg === null) return String(arg);
        if (arg instanceof Error || (typeof arg === 'object' && 'message' in arg)) return describeError(arg);
        return `[${(arg as object).constructor?.name ?? typeof arg}]`;
      })
      .join(' '),
  );
}

/** Line breaks become ` | ` so that one event stays one line in a terminal or a log file. */
function flatten(text: string, max = Number.POSITIVE_INFINITY): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' | ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A console-like logger that writes every call as exactly one line. */
export function lineLogger(write: (level: 'info' | 'warn' | 'error', line: string) => void): Logger {
  return {
    log: (...args) => write('info', logLine(args)),
    warn: (...args) => write('warn', logLine(args)),
    error: (...args) => write('error', logLine(args)),
  };
}
