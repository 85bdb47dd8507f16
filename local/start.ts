import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionDefinitions, type QueueFunctionDefinition, type TimerFunctionDefinition } from '../functions/definitions';
import { loadConfig, SETTINGS } from '../shared/config';
import { StorageQueueJobQueue } from '../shared/queue/storageQueueJobQueue';
import { createServices, useServices } from '../shared/services';
import { startAzurite, type AzuritePorts } from './azurite';
import { startFunctionHost } from './functionHost';
import { DEFAULT_PLAYGROUND_CONFIG, installApp, startPlayground } from './playground';
import { startStorageQueueTrigger } from './storageQueueTrigger';
import { startTimers } from './timerTrigger';

/**
 * `npm start`: the whole pipeline on this machine with zero configuration. Azurite (tables and
 * queues), the Microsoft 365 Agents Playground as local Teams, and a function host on port 7071
 * that serves the very handlers Azure runs and feeds the queue handler from Azurite.
 */
async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  const env = process.env;
  const port = Number(env.PORT ?? 7071);
  const playgroundPort = Number(env.PLAYGROUND_PORT ?? 56150);
  const ports: AzuritePorts = { blob: 10000, queue: 10001, table: 10002 };
  const generatedKey = env.LOCAL_FUNCTION_KEY === undefined || env.LOCAL_FUNCTION_KEY === '';
  const functionKey = generatedKey ? randomBytes(18).toString('base64url') : (env.LOCAL_FUNCTION_KEY as string);
  const stops: (() => Promise<void>)[] = [];
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('\nStopping...');
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => say(`  (while stopping: ${String(error)})`));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    say('Starting Azurite (tables, queues, blobs; data in .azurite/)...');
    const azurite = await startAzurite({ ports, location: join(root, '.azurite') });
    stops.push(() => azurite.stop());

    const config = loadConfig({ [SETTINGS.storageConnectionString]: azurite.connectionString, ...env });
    const queue = new StorageQueueJobQueue(config.storageConnectionString ?? azurite.connectionString);
    const services = createServices(config, { queue });
    useServices(services);
    await services.ready();

    const host = await startFunctionHost({ port, functionKey });
    stops.push(() => host.close());
    const definition = functionDefinitions.find((d): d is QueueFunctionDefinition => d.kind === 'queue');
    if (definition === undefined) throw new Error('no queue-triggered function is defined');
    // The same concurrency host.json gives the Service Bus trigger in Azure.
    const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as { extensions?: { serviceBus?: { maxConcurrentCalls?: number } } };
    const trigger = startStorageQueueTrigger({
      queue: queue.deliveries,
      deadLetters: queue,
      definition,
      maxDeliveryCount: config.maxDeliveryCount,
      concurrency: hostJson.extensions?.serviceBus?.maxConcurrentCalls ?? 16,
    });
    stops.push(() => trigger.stop());
    const timers = startTimers(functionDefinitions.filter((d): d is TimerFunctionDefinition => d.kind === 'timer'), console);
    stops.push(() => timers.stop());

    say('Starting the Microsoft 365 Agents Playground (local Teams)...');
    const playground = await startPlayground({
      port: playgroundPort,
      botEndpoint: `${host.url}/api/messages`,
      // Its config (fixed tenant, user, team ids), log and recording live in a git-ignored folder.
      cwd: join(root, '.playground'),
      config: DEFAULT_PLAYGROUND_CONFIG,
      onOutput: (line: string) => {
        if (/error/i.test(line)) say(`  [playground] ${line}`);
      },
    });
    stops.push(() => playground.stop());
    if (playground.port !== playgroundPort) say(`  (port ${playgroundPort} was busy: the Playground took ${playground.port})`);
    // Install the app for the Playground's user and in its team, so the curl below works at once.
    const teams = DEFAULT_PLAYGROUND_CONFIG;
    await installApp(playground.url, teams.personalChat.id);
    await installApp(playground.url, teams.team.id);

    const user = teams.currentUser.aadObjectId;
    say(`
teams-notify is running.

  Function host   ${host.url}/api  (same handlers as Azure)
  Teams (local)   ${playground.url}  <- open it: the app is installed for ${teams.currentUser.name} and in "${teams.team.name}"
  Bot endpoint    ${host.url}/api/messages
  Azurite         tables 127.0.0.1:${ports.table}  queues 127.0.0.1:${ports.queue}  blobs 127.0.0.1:${ports.blob}
  Function key    ${functionKey}${generatedKey ? '   (generated; set LOCAL_FUNCTION_KEY to choose one)' : ''}

Send a notification to ${teams.currentUser.name} (then look at the Playground):

  curl -i -X POST '${host.url}/api/notifications' \\
    -H 'content-type: application/json' -H 'x-functions-key: ${functionKey}' \\
    -d '{"recipients":[{"type":"user","aadObjectId":"${user}"}],
         "message":{"template":"notification","data":{"title":"Build 42 passed","whatHappened":"The nightly build of main finished.","result":"All 312 tests passed","triggeredBy":"Nightly schedule","actions":[{"title":"Open the build","url":"https://example.com/builds/42"}]}}}'

  curl -s '${host.url}/api/notifications/<id>' -H 'x-functions-key: ${functionKey}'

Or post to the team's General channel: "recipients":[{"type":"team","teamId":"${teams.team.id}"}]

Ctrl-C stops everything.`);
  } catch (error) {
    say(`\nCould not start: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll(1);
  }
}

void main();
