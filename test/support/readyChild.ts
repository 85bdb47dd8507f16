import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export interface ReadyChild<T> {
  /** What the child printed after its ready prefix, parsed as JSON. */
  readonly ready: T;
  /** SIGTERM, SIGKILL after 3 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript entry (under tsx, since tests and the bench run from source) as a process of
 * its own, and waits for the line `<readyPrefix><json>` it prints once it listens. The child has
 * an IPC channel only so that it can stop itself when this process goes away; the channel does
 * not keep this process alive, and neither do the child's pipes once it is ready.
 */
export async function startReadyChild<T>(script: string, argument: string, readyPrefix: string, what: string, timeoutMs = 20_000): Promise<ReadyChild<T>> {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, script, argument], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { stdout, stderr: errors } = child;
  if (stdout === null || errors === null) throw new Error(`spawn gave the ${what} no stdout/stderr pipes`);
  let stderr = '';
  errors.setEncoding('utf8');
  errors.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    stdout.destroy();
    errors.destroy();
  };

  try {
    const ready = await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      let out = '';
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n').find((l) => l.startsWith(readyPrefix));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(readyPrefix.length)) as T);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (${code ?? signal}) before it was ready: ${stderr}`));
      });
    });
    // Whatever it prints later must not fill the pipe and stall it, nor keep this process alive.
    stdout.resume();
    (stdout as { unref?: () => void }).unref?.();
    (errors as { unref?: () => void }).unref?.();
    return { ready, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
