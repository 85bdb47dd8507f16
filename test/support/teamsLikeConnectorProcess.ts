/**
 * The Teams-like connector as a process of its own, and a typed client for its control endpoints.
 *
 * A benchmark must not share its event loop with the connector it measures: timers of the one
 * would delay the answers of the other, and both figures would be wrong together. So benchmarks
 * start it with `startTeamsLikeConnectorProcess`; unit tests may use the in-process server.
 * Tests run from source, so the child runs the .ts entry under tsx (`node --import tsx`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  ConfigPatch,
  ConnectorStats,
  ConversationSeed,
  StatsOptions,
  TeamsLikeConfig,
  TeamsLikeConnector,
  TeamsLikeConnectorOptions,
} from './teamsLikeConnector';

/** The line the CLI prints once it listens, followed by `{ "serviceUrl": ... }`. */
export const READY_PREFIX = 'TEAMS_LIKE_CONNECTOR_READY ';

export interface ProcessOptions extends Omit<TeamsLikeConnectorOptions, 'random'> {
  /** How long to wait for the child to answer (tsx compiles on start). Default 20 s. */
  readonly startTimeoutMs?: number;
}

/** A client for a connector that is already running (the process did not start here, so `stop` only lets go). */
export function connectTeamsLikeConnector(serviceUrl: string): TeamsLikeConnector {
  const base = serviceUrl.endsWith('/') ? serviceUrl : `${serviceUrl}/`;
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`teams-like connector: ${method} /${path} answered ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
  return {
    serviceUrl: base,
    stats: (options: StatsOptions = {}) => call<ConnectorStats>('GET', options.perConversation === false ? '_stats?perConversation=false' : '_stats'),
    config: () => call<TeamsLikeConfig>('GET', '_config'),
    setConfig: (patch: ConfigPatch) => call<TeamsLikeConfig>('POST', '_config', patch),
    registerConversations: (conversations: readonly ConversationSeed[]) => call<void>('POST', '_conversations', { conversations }),
    reset: () => call<void>('POST', '_reset'),
    stop: async () => undefined,
  };
}

/**
 * Spawns the connector (`teamsLikeConnectorCli.ts`) on a free port, waits until it answers, and
 * returns the client; `stop()` ends the child. The child also ends when this process goes away
 * (its IPC channel closes), so a crashed benchmark leaves no connector behind.
 */
export async function startTeamsLikeConnectorProcess(options: ProcessOptions = {}): Promise<TeamsLikeConnector> {
  const { startTimeoutMs = 20_000, ...connectorOptions } = options;
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, join(__dirname, 'teamsLikeConnectorCli.ts'), JSON.stringify(connectorOptions)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // The channel exists to close when this process ends; it must not keep this process alive.
  (child.channel as { unref?: () => void } | null | undefined)?.unref?.();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { stdout, stderr: errors } = child;
  if (stdout === null || errors === null) throw new Error('spawn gave the teams-like connector no stdout/stderr pipes');
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
    const serviceUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`teams-like connector did not start within ${startTimeoutMs} ms: ${stderr}`)), startTimeoutMs);
      let out = '';
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve((JSON.parse(line.slice(READY_PREFIX.length)) as { serviceUrl: string }).serviceUrl);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`teams-like connector exited (${code ?? signal}) before it was ready: ${stderr}`));
      });
    });
    // Whatever it prints later must not fill the pipe and stall it, nor keep this process alive.
    stdout.resume();
    (stdout as { unref?: () => void }).unref?.();
    (errors as { unref?: () => void }).unref?.();
    const client = connectTeamsLikeConnector(serviceUrl);
    await client.stats({ perConversation: false });
    return { ...client, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
