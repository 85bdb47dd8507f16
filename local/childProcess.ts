import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Runs a Node CLI (Azurite, the Agents Playground) as a child that only its parent stops:
 *
 * - In its own process group (`detached`), so the terminal's Ctrl-C reaches `npm start` alone.
 *   Without this every child gets SIGINT at the same moment and the emulators close under the
 *   workers still draining into them.
 * - Through a few lines of supervision, loaded before the CLI with `node -e`: when the parent goes
 *   away without stopping it (killed, crashed), the IPC channel closes and the child stops itself,
 *   so no orphan keeps the ports.
 * - Stopped as a group: SIGTERM to the group, SIGKILL after the grace, so nothing it spawned outlives it.
 */
const SUPERVISION = [
  // argv is [node, cli, ...args] for the CLI, as if it had been started directly.
  'const [cli, ...args] = process.argv.slice(1);',
  'process.argv = [process.argv[0], cli, ...args];',
  // The parent went away without stopping us: stop as if it had.
  "const parentGone = () => { setTimeout(() => process.exit(0), 2000).unref(); process.kill(process.pid, 'SIGTERM'); };",
  "process.on('disconnect', parentGone);",
  // Stopping: let go of the channel, so the CLI exits as soon as its own shutdown is done (a CLI
  // that listens for IPC messages would otherwise be kept alive by it); a CLI with no SIGTERM
  // handler of its own would have died of the signal, so die.
  "process.on('SIGTERM', () => { process.off('disconnect', parentGone); if (process.connected) process.disconnect(); if (process.listenerCount('SIGTERM') <= 1) process.exit(143); });",
  'require(cli);',
].join('\n');

export interface SupervisedChild {
  readonly process: ChildProcess;
  /** SIGTERM to the child's process group, SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnSupervised(cliPath: string, args: readonly string[], options: Pick<SpawnOptions, 'cwd' | 'env'> = {}): SupervisedChild {
  const child = spawn(process.execPath, ['-e', SUPERVISION, cliPath, ...args], {
    ...options,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // The channel is only there to close when this process ends; it must not keep this process alive.
  (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 3000): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Anything the child started in its group goes with it.
      signalGroup(child, 'SIGKILL');
      if (child.connected) child.disconnect();
      child.stdout?.destroy();
      child.stderr?.destroy();
    })());
  return { process: child, stop };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}
