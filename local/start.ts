import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { functionDefinitions, type TimerFunctionDefinition } from '../functions/definitions';
import { loadConfig, SETTINGS } from '../shared/config';
import { describeError } from '../shared/logger';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../shared/services';
import { startAzureMonitor } from '../shared/telemetry/azureMonitor';
import { startTelemetry, telemetryExportFrom } from '../shared/telemetry/startTelemetry';
import { startAzurite } from './azurite';
import { startFunctionHost } from './functionHost';
import { azuritePorts, packageRoot, startDeliveryTrigger } from './localStack';
import { humanStream, localLogger } from './localLogger';
import { DEFAULT_PLAYGROUND_CONFIG, installApp, startPlayground } from './playground';
import { startTimers } from './timerTrigger';

/** Ctrl-C must leave nothing running within 10 s; past this the rest is killed. */
const STOP_DEADLINE_MS = 9_000;
/** How long deliveries in hand may take to finish before their messages are handed back. */
const DRAIN_GRACE_MS = 5_000;

/** A component that was started, and how to stop it; the stop says in a few words what it did. */
interface Started {
  readonly name: string;
  stop(): Promise<string>;
  /** Last resort when the orderly stop runs past the deadline. */
  kill?(): void;
}

/**
 * `npm start`: the whole pipeline on this machine with zero configuration. Azurite (tables and
 * queues), the Microsoft 365 Agents Playground as local Teams, and a function host on port 7071
 * that serves the very handlers Azure runs and feeds the queue handler from Azurite.
 *
 * Ctrl-C (or SIGTERM) stops it in order: no new request or job is taken, deliveries in hand finish
 * or go back to the queue, and the emulators stop last, so the next start finds the work intact.
 */
async function main(): Promise<void> {
  const root = packageRoot(__dirname);
  const env = process.env;
  const port = Number(env.PORT ?? 7071);
  const playgroundPort = Number(env.PLAYGROUND_PORT ?? 56150);
  const ports = azuritePorts(env);
  const stateDir = resolve(env.LOCAL_STATE_DIR ?? root);
  const generatedKey = env.LOCAL_FUNCTION_KEY === undefined || env.LOCAL_FUNCTION_KEY === '';
  const functionKey = generatedKey ? randomBytes(18).toString('base64url') : (env.LOCAL_FUNCTION_KEY as string);
  // The admin endpoints (dead letters) take a key of their own, as Azure's master key: never the function key.
  const generatedAdminKey = env.LOCAL_ADMIN_KEY === undefined || env.LOCAL_ADMIN_KEY === '';
  const adminKey = generatedAdminKey ? randomBytes(18).toString('base64url') : (env.LOCAL_ADMIN_KEY as string);
  if (adminKey === functionKey) throw new Error('LOCAL_ADMIN_KEY must differ from LOCAL_FUNCTION_KEY: the function key must not open the admin endpoints');
  const started: Started[] = [];
  // With LOG_FORMAT=json stdout carries only JSON lines, and what we say to a person goes to stderr.
  // (loadConfig below refuses a LOG_FORMAT that is neither text nor json.)
  const human = humanStream(env[SETTINGS.logFormat] === 'json' ? 'json' : 'text');
  const say = (line: string) => human.write(`${line}\n`);
  let stopping = false;

  const stopAll = async (code: number): Promise<never> => {
    if (stopping) {
      // A second Ctrl-C: stop waiting.
      for (const component of started) component.kill?.();
      process.exit(code === 0 ? 130 : code);
    }
    stopping = true;
    const began = Date.now();
    say('\nStopping (Ctrl-C again to force)...');
    const deadline = setTimeout(() => {
      say(`  deadline of ${STOP_DEADLINE_MS / 1000} s passed: killing what is left`);
      for (const component of started) component.kill?.();
      process.exit(1);
    }, STOP_DEADLINE_MS);
    for (const component of [...started].reverse()) {
      const what = await component.stop().catch((error: unknown) => `stopped with an error: ${describeError(error)}`);
      say(`  ${component.name.padEnd(16)}${what}`);
    }
    clearTimeout(deadline);
    say(`Stopped in ${((Date.now() - began) / 1000).toFixed(1)} s.`);
    process.exit(code);
  };
  // A closed pipe (`npm start | tee`, whose end got the same Ctrl-C) must not cut the orderly stop short.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    say(`Starting Azurite (tables, queues, blobs; data in ${join(stateDir, '.azurite')})...`);
    const azurite = await startAzurite({ ports, location: join(stateDir, '.azurite') });
    started.push({ name: 'Azurite', stop: () => azurite.stop().then(() => 'stopped'), kill: () => void azurite.stop(0) });

    const config = loadConfig({ [SETTINGS.storageConnectionString]: azurite.connectionString, ...env });
    // Before the services take their meter: the console exporters when OTEL_*_EXPORTER=console asks,
    // Application Insights when its connection string is set, as in Azure; else nothing.
    const telemetry = startTelemetry(telemetryExportFrom(env), startAzureMonitor);
    if (telemetry.exporting !== 'off') started.push({ name: 'Telemetry', stop: () => telemetry.shutdown().then(() => 'flushed') });
    // Every log line is one line; once stopping, only warnings and errors, so the stop reads as one line per component.
    const log = localLogger({ format: config.logFormat, quiet: () => stopping });
    const queue = new StorageQueueJobQueue(config.storageConnectionString ?? azurite.connectionString);
    const services = createServices(config, { queue, log });
    useServices(services);
    await services.ready();

    say('Starting the Microsoft 365 Agents Playground (local Teams)...');
    const host = await startFunctionHost({ port, functionKey, adminKey, log });
    const teams = { ...DEFAULT_PLAYGROUND_CONFIG, bot: { ...DEFAULT_PLAYGROUND_CONFIG.bot, name: config.appName } };
    const playground = await startPlayground({
      port: playgroundPort,
      botEndpoint: `${host.url}/api/messages`,
      // Its config (fixed tenant, user, team ids), log and recording live in a git-ignored folder.
      cwd: join(stateDir, '.playground'),
      config: teams,
      onOutput: (line: string) => {
        if (/error/i.test(line) && !stopping) log.warn(`playground: ${line}`);
      },
    });
    started.push({ name: 'Playground', stop: () => playground.stop().then(() => 'stopped'), kill: () => void playground.stop() });
    if (playground.port !== playgroundPort) say(`  (port ${playgroundPort} was busy: the Playground took ${playground.port})`);

    started.push({ name: 'Queue services', stop: () => services.close().then(() => 'closed') });
    const trigger = startDeliveryTrigger(queue, config, log, root);
    started.push({
      name: 'Queue worker',
      stop: async () => {
        const report = await trigger.stop({ graceMs: DRAIN_GRACE_MS, interrupt: () => services.worker.stop() });
        return `no new jobs; ${report.finished} in hand finished, ${report.returned} back in the queue`;
      },
    });
    const timers = startTimers(functionDefinitions.filter((d): d is TimerFunctionDefinition => d.kind === 'timer'), log);
    started.push({ name: 'Timers', stop: () => timers.stop().then(() => 'stopped') });
    // Last started, first stopped: no request is taken once stopping begins.
    started.push({ name: 'Function host', stop: () => host.close().then(() => 'no new requests') });

    // Install the app for the Playground's user and in its team, so the curl below works at once.
    await installApp(playground.url, teams.personalChat.id);
    await installApp(playground.url, teams.team.id);

    const user = teams.currentUser.aadObjectId;
    say(`
teams-notify is running.

  Function host   ${host.url}/api  (same handlers as Azure)
  Teams (local)   ${playground.url}  <- open it: ${config.appName} is installed for ${teams.currentUser.name} and in "${teams.team.name}"
  Bot endpoint    ${host.url}/api/messages
  Azurite         tables 127.0.0.1:${ports.table}  queues 127.0.0.1:${ports.queue}  blobs 127.0.0.1:${ports.blob}
  Function key    ${functionKey}${generatedKey ? '   (generated; set LOCAL_FUNCTION_KEY to choose one)' : ''}
  Admin key       ${adminKey}${generatedAdminKey ? '   (generated; set LOCAL_ADMIN_KEY to choose one)' : ''}  <- for /api/deadletters

Send a notification to ${teams.currentUser.name} (then look at the Playground):

  curl -i -X POST '${host.url}/api/notifications' \\
    -H 'content-type: application/json' -H 'x-functions-key: ${functionKey}' \\
    -d '{"recipients":[{"type":"user","aadObjectId":"${user}"}],
         "message":{"template":"notification","data":{"title":"Build 42 passed","whatHappened":"The nightly build of main finished.","result":"All 312 tests passed","triggeredBy":"Nightly schedule","actions":[{"title":"Open the build","url":"https://example.com/builds/42"}]}}}'

  curl -s '${host.url}/api/notifications/<id>' -H 'x-functions-key: ${functionKey}'

Or post to the team's General channel: "recipients":[{"type":"team","teamId":"${teams.team.id}"}]

Ctrl-C stops everything.`);
  } catch (error) {
    say(`\nCould not start: ${describeError(error)}`);
    await stopAll(1);
  }
}

void main();
