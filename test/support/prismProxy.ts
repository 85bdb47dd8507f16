import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from './freePort';

const PRISM = join(resolve(__dirname, '../..'), 'node_modules', '.bin', 'prism');

/** One finding of Prism's validation: where (`['response', 'body', 'status']`, `['request']`), and what. */
export interface Violation {
  readonly location: readonly (string | number)[];
  readonly severity: string;
  readonly code: string | number;
  readonly message: string;
}

export interface PrismProxy {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Stoplight Prism's validation proxy (`prism proxy <document> <upstream>`), a process of its own
 * on a free loopback port. Without `--errors` it forwards every request, even one the document
 * calls invalid (so the API's own 400/413/415 answers are checked too), and reports what breaks
 * the document in the `sl-violations` header of the answer.
 */
export async function startPrismProxy(document: string, upstream: string, timeoutMs = 60_000): Promise<PrismProxy> {
  const port = await freePort();
  const child = spawn(PRISM, ['proxy', document, upstream, '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let output = '';
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`prism did not start within ${timeoutMs} ms: ${output}`)), timeoutMs);
      const watch = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-8000);
        if (output.includes('Prism is listening')) {
          clearTimeout(timer);
          ready();
        }
      };
      child.stdout.on('data', watch);
      child.stderr.on('data', watch);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        fail(new Error(`prism exited (${code ?? signal}) before it listened: ${output}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  // Its request log must not fill the pipes and stall it.
  child.stdout.resume();
  child.stderr.resume();
  return { url: `http://127.0.0.1:${port}`, stop };
}

/** The violations Prism reported for one answer (none: no header). */
export function violationsOf(response: Response): Violation[] {
  const header = response.headers.get('sl-violations');
  return header === null ? [] : (JSON.parse(header) as Violation[]);
}
