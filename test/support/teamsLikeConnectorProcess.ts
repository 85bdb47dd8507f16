/**
 * The Teams-like connector as a process of its own, and a typed client for its control endpoints.
 *
 * A benchmark must not share its event loop with the connector it measures: timers of the one
 * would delay the answers of the other, and both figures would be wrong together. So benchmarks
 * start it with `startTeamsLikeConnectorProcess`; unit tests may use the in-process server.
 * Tests run from source, so the child runs the .ts entry under tsx (`node --import tsx`).
 */
import { join } from 'node:path';
import { startReadyChild } from './readyChild';
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
  const child = await startReadyChild<{ serviceUrl: string }>(
    join(__dirname, 'teamsLikeConnectorCli.ts'),
    JSON.stringify(connectorOptions),
    READY_PREFIX,
    'teams-like connector',
    startTimeoutMs,
  );
  try {
    const client = connectTeamsLikeConnector(child.ready.serviceUrl);
    await client.stats({ perConversation: false });
    return { ...client, stop: child.stop };
  } catch (error) {
    await child.stop();
    throw error;
  }
}
