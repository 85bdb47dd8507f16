/**
 * `npm start` as a person runs it, stopped with Ctrl-C in the middle of a large send: the whole
 * stack (a child process with Azurite and the Playground under it) must be gone within 10 s with
 * every port free, print one line per component, and a second start on the same data must finish
 * the send with every recipient delivered exactly once.
 *
 * Deliveries go to the fake Bot Connector, answering each send after 250 ms, so that many are in
 * hand when the signal comes; the stack's own send budget (50 per second) keeps the send long.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { azuriteConnectionString, type AzuritePorts } from '../../local/azurite';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { Tables } from '../../shared/stores/tables';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { freePort } from '../support/freePort';
import { onOutputLines } from '../support/outputLines';
import { eventually } from '../support/pipeline';

const ROOT = resolve(__dirname, '..', '..');
const USERS = 1_000;
const TENANT = '00000000-0000-0000-0000-0000000000aa';
const KEY = 'stop-test-key';

interface Stack {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

describe('npm start under load, stopped with Ctrl-C', () => {
  let connector: FakeConnector;
  let stateDir: string;
  let ports: { host: number; playground: number; azurite: AzuritePorts };
  const running: Stack[] = [];

  beforeAll(async () => {
    connector = await startFakeConnector();
    connector.always({ op: 'send' }, { delayMs: 250 });
    stateDir = mkdtempSync(join(tmpdir(), 'teams-notify-stop-'));
    ports = {
      host: await freePort(),
      playground: await freePort(),
      azurite: { blob: await freePort(), queue: await freePort(), table: await freePort() },
    };
  });

  afterAll(async () => {
    for (const stack of running) {
      if (stack.child.exitCode !== null || stack.child.pid === undefined) continue;
      killGroup(stack.child.pid, 'SIGINT');
      const timer = setTimeout(() => killGroup(stack.child.pid as number), 15_000);
      await stack.exited;
      clearTimeout(timer);
    }
    await connector?.close();
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  /** `npm start` (its script, under tsx, so no build is needed), in a process group of its own like a terminal's job. */
  async function startStack(): Promise<Stack> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'local', 'start.ts')], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEAMSAPPTESTER_BROWSER: 'none',
        PORT: String(ports.host),
        PLAYGROUND_PORT: String(ports.playground),
        AZURITE_BLOB_PORT: String(ports.azurite.blob),
        AZURITE_QUEUE_PORT: String(ports.azurite.queue),
        AZURITE_TABLE_PORT: String(ports.azurite.table),
        LOCAL_STATE_DIR: stateDir,
        LOCAL_FUNCTION_KEY: KEY,
      },
    });
    const lines: string[] = [];
    onOutputLines([child.stdout, child.stderr], (line) => lines.push(line));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const stack = { child, lines, exited };
    running.push(stack);
    await eventually(async () => (lines.some((l) => l.startsWith('teams-notify is running')) ? true : undefined), 90_000, `the stack to start:\n${lines.join('\n')}`);
    return stack;
  }

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${ports.host}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-functions-key': KEY } });

  it('stops within 10 s with every port free and one line per component; a restart delivers to everyone exactly once', async () => {
    const first = await startStack();

    // The people to reach: users the bot knows in a tenant whose Bot Connector is the fake one.
    const conversations = new TableConversationStore(new Tables({ kind: 'connectionString', connectionString: azuriteConnectionString(ports.azurite) }));
    const now = new Date().toISOString();
    const users = Array.from({ length: USERS }, (_, i) => ({
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: '28:stop-test-bot',
      userId: `29:stop-user-${i}`,
      aadObjectId: `00000000-0000-0000-0001-${String(i).padStart(12, '0')}`,
      personalConversationId: `a:stop-chat-${i}`,
      installed: true,
      hasPersonalApp: true,
      updatedAt: now,
    }));
    for (let i = 0; i < users.length; i += 50) await Promise.all(users.slice(i, i + 50).map((user) => conversations.saveUser(user)));

    const accepted = await api('/api/notifications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ recipients: users.map((u) => ({ type: 'user', aadObjectId: u.aadObjectId })), message: { text: 'Deploy 7 finished.' } }),
    });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };

    // Ctrl-C once deliveries are well under way, as the terminal sends it: to the whole foreground group.
    await eventually(async () => (connector.delivered().length >= 100 ? true : undefined), 60_000, '100 deliveries');
    const linesBefore = first.lines.length;
    const signalled = Date.now();
    killGroup(first.child.pid as number, 'SIGINT');
    const code = await first.exited;
    const stopMs = Date.now() - signalled;
    if (code !== 0) console.log(first.lines.slice(-15).join('\n'));
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(10_000);
    for (const port of [ports.host, ports.playground, ports.azurite.blob, ports.azurite.queue, ports.azurite.table]) expect(await isFree(port)).toBe(true);

    // What it printed while stopping: a heading, one line per component, the time; no error dump.
    // (Lines before the heading were on their way through the pipe when the signal came.)
    const heading = first.lines.findIndex((l, i) => i >= linesBefore && l.startsWith('Stopping'));
    expect(heading).toBeGreaterThanOrEqual(0);
    const stopLines = first.lines.slice(heading).filter((l) => l.trim() !== '');
    expect(stopLines.at(-1)).toMatch(/^Stopped in \d+\.\d s\.$/);
    const components = stopLines.slice(1, -1);
    expect(components.map((l) => l.trim().split(/\s{2,}/)[0])).toEqual(['Function host', 'Timers', 'Queue worker', 'Queue services', 'Playground', 'Azurite']);
    const sentBeforeRestart = connector.delivered().length;
    expect(sentBeforeRestart).toBeLessThan(USERS);
    process.stdout.write(`stopped in ${stopMs} ms after ${sentBeforeRestart} of ${USERS} deliveries; ${components.find((l) => l.includes('Queue worker'))?.trim() ?? ''}\n`);

    // The next start on the same data finishes the send.
    const second = await startStack();
    const status = await eventually(async () => {
      const body = (await (await api(`/api/notifications/${id}`)).json()) as { status: string; counts: Record<string, number> };
      return body.status === 'completed' ? body : undefined;
    }, 120_000, 'the send to complete after the restart');
    expect(status.counts).toMatchObject({ total: USERS, delivered: USERS });

    const perConversation = new Map<string, number>();
    for (const message of connector.delivered()) perConversation.set(message.conversationId, (perConversation.get(message.conversationId) ?? 0) + 1);
    expect(perConversation.size).toBe(USERS);
    expect([...perConversation.values()].filter((n) => n > 1)).toEqual([]);

    // Killed outright (no chance to stop anything), it still leaves no emulator behind holding a port.
    process.kill(second.child.pid as number, 'SIGKILL');
    await second.exited;
    await eventually(async () => {
      const free = await Promise.all([ports.playground, ports.azurite.blob, ports.azurite.queue, ports.azurite.table].map(isFree));
      return free.every(Boolean) ? true : undefined;
    }, 5_000, 'the emulators to go with their parent');
  }, 300_000);
});

function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}
