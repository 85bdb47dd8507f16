import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HOST_CHILD_READY_PREFIX, type HostChildArgument } from './hostChild';
import { onOutputLines } from './outputLines';

export interface HostChild {
  /** The function host's base URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly pid: number;
  /** Every line it printed (stdout and stderr), oldest first. */
  readonly lines: readonly string[];
  /** Set once it exited: the code, or the signal that ended it. */
  readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  /** SIGKILL: no drain, no hand-back, as a crash or an out-of-memory kill; resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * Starts `test/support/hostChild.ts` (under tsx) as a process of its own, with `env` added to this
 * process's environment, and waits until its function host listens. The IPC channel only lets the
 * child stop itself if this process goes away; it does not keep this process alive.
 */
export async function startHostChild(argument: HostChildArgument, env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<HostChild> {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, join(__dirname, 'hostChild.ts'), JSON.stringify(argument)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  const lines: string[] = [];
  let exit: HostChild['exit'];
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  let ready: ((url: string) => void) | undefined;
  const url = new Promise<string>((resolve) => (ready = resolve));
  onOutputLines([child.stdout, child.stderr], (line) => {
    if (line.startsWith(HOST_CHILD_READY_PREFIX)) ready?.((JSON.parse(line.slice(HOST_CHILD_READY_PREFIX.length)) as { url: string }).url);
    else lines.push(line);
  });
  const kill = async (): Promise<void> => {
    if (exit === undefined) child.kill('SIGKILL');
    await exited;
    child.stdout?.destroy();
    child.stderr?.destroy();
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const started = await Promise.race([
      url,
      exited.then(() => Promise.reject(new Error(`the host exited (${exit?.code ?? exit?.signal ?? '?'}) before it was ready:\n${lines.slice(-20).join('\n')}`))),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the host did not start within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`)), timeoutMs))),
    ]);
    return {
      url: started,
      pid: child.pid as number,
      lines,
      get exit() {
        return exit;
      },
      kill,
    };
  } catch (error) {
    await kill();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
