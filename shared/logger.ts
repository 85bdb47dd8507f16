/** The slice of the Functions `InvocationContext` the core logs through; any console-like sink fits. */
export interface Logger {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export const silentLogger: Logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
