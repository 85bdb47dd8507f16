/**
 * Launches the Microsoft 365 Agents Playground (`@microsoft/m365agentsplayground`, pinned 0.2.28)
 * as a child process: a local stand-in for Teams with a mock Bot Connector at `/_connector`.
 *
 * Used by `npm start` (local/start.ts) and by the end-to-end tests.
 *
 * What the CLI does (read from its bundled server code, version 0.2.28):
 * - `-p <port>`: if the port is taken it silently picks a random one; when stdout is not a TTY it
 *   prints `Listening on <port>`, which is how the real port is learned here.
 * - `-e <endpoint>`: the bot's `/api/messages`. `-c msteams`: Teams activity shapes. `--dt`: no
 *   telemetry. `--er`: "events recording" (every connector call and every activity sent to the
 *   bot, with bodies, url and method) to `M365_AGENTS_PLAYGROUND_RECORDING_FILE`.
 * - `TEAMSAPPTESTER_BROWSER=none` or it tries to open a browser.
 * - Console output goes to `M365_AGENTS_PLAYGROUND_LOGFILE` (default `./devTools/m365agentsplayground.log`
 *   relative to its cwd; deleted at start). It contains connector bodies only while no web UI is
 *   connected (they are lines `debug No websocket clients connected, buffering message: {...}`), so the
 *   recording file is the reliable record.
 * - Mock tenant/users/chats/team come from `M365_AGENTS_PLAYGROUND_CONFIG_PATH`, else
 *   `<cwd>/.m365agentsplayground.yml`, else a built-in set whose personal and group chat ids are random
 *   uuids per run. No config file is required. The schema demands exactly 5 `users` and at most 1
 *   extra channel. JSON is valid YAML, so the config is written as JSON.
 * - `serviceUrl` in activities it sends is `http://localhost:<port>/_connector` (unless `--su`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_APP_NAME } from '../shared/config';
import { spawnSupervised } from './childProcess';

export interface PlaygroundUser {
  /** Channel account id (Teams: `29:...`). */
  id: string;
  name: string;
  /** Spelled like this in the Playground's schema. */
  userPrincipleName: string;
  aadObjectId: string;
  givenName: string;
  surname: string;
  email: string;
}

/** The `.m365agentsplayground.yml` schema (version 0.1.1). */
export interface PlaygroundConfig {
  version: '0.1.1';
  tenantId: string;
  bot: { id: string; name: string };
  currentUser: PlaygroundUser;
  /** Exactly 5 (schema). They are the members of the group chat and of the team. */
  users: [PlaygroundUser, PlaygroundUser, PlaygroundUser, PlaygroundUser, PlaygroundUser];
  personalChat: { id: string };
  groupChat: { id: string; name: string };
  /** The team id is also the General channel's conversation id. At most one extra channel. */
  team: { id: string; name: string; aadGroupId: string; channels: [] | [{ id: string; name: string }] };
}

function user(n: number, key: string, given: string, surname: string): PlaygroundUser {
  const suffix = String(20 + n).padStart(4, '0');
  return {
    id: `29:1${key}-playground-user`,
    name: `${given} ${surname}`,
    userPrincipleName: `${key}@example.com`,
    aadObjectId: `00000000-0000-0000-0000-00000000${suffix}`,
    givenName: given,
    surname,
    email: `${key}@example.com`,
  };
}

/**
 * Fixed, Teams-shaped ids (the built-in config uses `user-id-0`, `team-id`, random chat ids), so tests
 * and local runs can refer to them and the app's id validation sees realistic values.
 */
export const DEFAULT_PLAYGROUND_CONFIG: PlaygroundConfig = {
  version: '0.1.1',
  tenantId: '00000000-0000-0000-0000-000000000001',
  // The name npm start gives the app by default, so the Playground shows the bot as its cards name it.
  bot: { id: '28:00000000-0000-0000-0000-000000000011', name: DEFAULT_APP_NAME },
  currentUser: user(0, 'alexw', 'Alex', 'Wilber'),
  users: [
    user(1, 'meganb', 'Megan', 'Bowen'),
    user(2, 'adelev', 'Adele', 'Vance'),
    user(3, 'isaiahl', 'Isaiah', 'Langer'),
    user(4, 'pattif', 'Patti', 'Fernandez'),
    user(5, 'lynner', 'Lynne', 'Robbins'),
  ],
  personalChat: { id: 'a:1playground-personal-chat-alexw' },
  groupChat: { id: '19:playground-group-chat@thread.v2', name: 'Group Chat' },
  team: {
    id: '19:playground-general@thread.tacv2',
    name: 'My Team',
    aadGroupId: '00000000-0000-0000-0000-000000000031',
    channels: [{ id: '19:playground-announcements@thread.tacv2', name: 'Announcements' }],
  },
};

/** Writes a Playground config file (JSON, which the Playground's YAML parser accepts). */
export function writePlaygroundConfig(filePath: string, config: PlaygroundConfig = DEFAULT_PLAYGROUND_CONFIG): string {
  mkdirSync(path.dirname(filePath), { recursive: true });
  writeFileSync(filePath, `${JSON.stringify(config, null, 2)}\n`, 'utf8');
  return filePath;
}

export interface PlaygroundOptions {
  /** Port to ask for. If taken, the Playground picks another one; `RunningPlayground.port` tells which. */
  port: number;
  /** The bot's messaging endpoint, e.g. `http://127.0.0.1:7071/api/messages`. */
  botEndpoint: string;
  /** Working directory of the Playground process (default: `process.cwd()`). Relative paths resolve here. */
  cwd?: string;
  /** Console log of the Playground (default `<cwd>/devTools/m365agentsplayground.log`). */
  logFile?: string;
  /** Events recording (default `<cwd>/devTools/m365agentsplayground.recording.log`). */
  recordingFile?: string;
  /**
   * Mock tenant/users/team. An object is written to `<cwd>/.m365agentsplayground.yml`; a string is the
   * path of an existing file; `false` uses the Playground's own lookup (cwd file or built-in defaults).
   * Default: `DEFAULT_PLAYGROUND_CONFIG`.
   */
  config?: PlaygroundConfig | string | false;
  /** Extra environment for the child (merged over `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Receives each line the Playground prints on stdout/stderr. */
  onOutput?: (line: string) => void;
  /** How long to wait for the HTTP port to answer (default 30 s). */
  startTimeoutMs?: number;
}

export interface RunningPlayground {
  /** e.g. `http://127.0.0.1:56150` (web UI at `/`). */
  url: string;
  /** The mock Bot Connector, e.g. `http://127.0.0.1:56150/_connector`. */
  connectorUrl: string;
  /** The `serviceUrl` the Playground puts in activities it sends (`http://localhost:<port>/_connector`). */
  serviceUrl: string;
  port: number;
  pid: number;
  logFile: string;
  recordingFile: string;
  /** Path of the config file in use, if any. */
  configFile: string | undefined;
  /** The mock data in effect when it came from an object (undefined for a path or `false`). */
  config: PlaygroundConfig | undefined;
  /** SIGTERM to its process group, then SIGKILL after 3 s; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

const READY_LINE = /Listening on (\d+)/;

/** Path of the Playground CLI inside node_modules (no npx). */
export function playgroundCliPath(): string {
  return require.resolve('@microsoft/m365agentsplayground/cli.js');
}

export async function startPlayground(options: PlaygroundOptions): Promise<RunningPlayground> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const logFile = path.resolve(cwd, options.logFile ?? path.join('devTools', 'm365agentsplayground.log'));
  const recordingFile = path.resolve(
    cwd,
    options.recordingFile ?? path.join('devTools', 'm365agentsplayground.recording.log'),
  );
  mkdirSync(path.dirname(logFile), { recursive: true });
  mkdirSync(path.dirname(recordingFile), { recursive: true });
  // The recording is appended to; start each run with an empty one.
  writeFileSync(recordingFile, '', 'utf8');

  let configFile: string | undefined;
  let config: PlaygroundConfig | undefined;
  const configOption = options.config ?? DEFAULT_PLAYGROUND_CONFIG;
  if (typeof configOption === 'string') {
    configFile = path.resolve(cwd, configOption);
  } else if (configOption !== false) {
    config = configOption;
    configFile = writePlaygroundConfig(path.join(cwd, '.m365agentsplayground.yml'), configOption);
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    TEAMSAPPTESTER_BROWSER: 'none',
    M365_AGENTS_PLAYGROUND_LOGFILE: logFile,
    M365_AGENTS_PLAYGROUND_RECORDING_FILE: recordingFile,
  };
  if (configFile) env.M365_AGENTS_PLAYGROUND_CONFIG_PATH = configFile;

  const args = ['-p', String(options.port), '-e', options.botEndpoint, '-c', 'msteams', '--dt', '--er'];
  const supervised = spawnSupervised(playgroundCliPath(), args, { cwd, env });
  const child = supervised.process;
  const stop = (): Promise<void> => supervised.stop();

  const recent: string[] = [];
  let reportedPort: number | undefined;
  let portWaiter: ((port: number) => void) | undefined;
  const onLine = (line: string): void => {
    recent.push(line);
    if (recent.length > 50) recent.shift();
    const match = READY_LINE.exec(line);
    if (match?.[1] && reportedPort === undefined) {
      reportedPort = Number(match[1]);
      portWaiter?.(reportedPort);
    }
    options.onOutput?.(line);
  };
  forEachLine(child.stdout, onLine);
  forEachLine(child.stderr, onLine);

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Agents Playground did not start within ${timeoutMs} ms.\n${recent.join('\n')}`)),
        timeoutMs,
      );
      const done = (port: number): void => {
        clearTimeout(timer);
        resolve(port);
      };
      if (reportedPort !== undefined) done(reportedPort);
      else portWaiter = done;
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Agents Playground exited (code ${code}, signal ${signal}) before it was ready.\n${recent.join('\n')}`));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/_debug/ping`, timeoutMs, () => child.exitCode !== null);
    return {
      url,
      connectorUrl: `${url}/_connector`,
      serviceUrl: `http://localhost:${port}/_connector`,
      port,
      pid: child.pid ?? -1,
      logFile,
      recordingFile,
      configFile,
      config,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, newline).replace(/\r$/, ''));
      buffer = buffer.slice(newline + 1);
    }
  });
  stream.on('end', () => {
    if (buffer) onLine(buffer);
    buffer = '';
  });
}

async function waitForHttp(url: string, timeoutMs: number, gaveUp: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline && !gaveUp()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
      lastError = new Error(`HTTP ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Agents Playground did not answer at ${url}: ${String(lastError)}`);
}

/**
 * Installs the app in one of the Playground's conversations, as opening its web UI does: the
 * Playground sends installationUpdate (add) and conversationUpdate (membersAdded) to the bot.
 */
export async function installApp(playgroundUrl: string, conversationId: string): Promise<void> {
  const res = await fetch(`${playgroundUrl}/_debug/conversation/${encodeURIComponent(conversationId)}/installation`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (!res.ok) throw new Error(`Playground install in ${conversationId} answered ${res.status}: ${await res.text()}`);
}
