import type { Readable } from 'node:stream';

/** Calls `onLine` with each whole line a child process prints on these streams (a partial last line waits for its end). */
export function onOutputLines(streams: readonly (Readable | null | undefined)[], onLine: (line: string) => void): void {
  for (const stream of streams) {
    let buffer = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffer += chunk;
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    });
  }
}
