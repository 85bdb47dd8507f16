import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { DELIVERY_QUEUE_NAME } from '../../shared/queue/jobQueue';
import { functionDefinitions } from '../../functions/definitions';

/**
 * What the Azure Functions worker would register, seen without the host: `@azure/functions` looks
 * for the worker-injected module `@azure/functions-core`; this virtual mock stands in for it and
 * records every registration (see ../shared/TEAMS-FACTS.md, "Seeing what Azure would register").
 */
interface Binding {
  readonly type: string;
  readonly direction: 'in' | 'out';
  readonly name: string;
  readonly [property: string]: unknown;
}

interface FunctionMetadata {
  readonly name: string;
  readonly bindings: Record<string, Binding>;
}

type Callback = (...args: unknown[]) => unknown;

interface FakeCore {
  readonly registered: { metadata: FunctionMetadata; callback: Callback }[];
  readonly hooks: string[];
  readonly models: unknown[];
  reset(): void;
}

jest.mock(
  '@azure/functions-core',
  () => {
    const registered: { metadata: unknown; callback: unknown }[] = [];
    const hooks: string[] = [];
    const models: unknown[] = [];
    return {
      registered,
      hooks,
      models,
      reset() {
        registered.length = 0;
        hooks.length = 0;
        models.length = 0;
      },
      registerFunction(metadata: unknown, callback: unknown) {
        registered.push({ metadata, callback });
        return { dispose: () => undefined };
      },
      registerHook(name: string) {
        hooks.push(name);
        return { dispose: () => undefined };
      },
      setProgrammingModel(model: unknown) {
        models.push(model);
      },
      log: () => undefined,
      getProgrammingModel: () => models[0],
    };
  },
  { virtual: true },
);

interface Registration {
  readonly core: FakeCore;
  readonly byName: Map<string, { metadata: FunctionMetadata; callback: Callback }>;
}

async function loadApp(): Promise<Registration> {
  let core: FakeCore | undefined;
  await jest.isolateModulesAsync(async () => {
    core = (await import('@azure/functions-core' as string)) as FakeCore;
    core.reset();
    await import('../../functions/index');
  });
  if (core === undefined) throw new Error('the fake core was not loaded');
  return { core, byName: new Map(core.registered.map((r) => [r.metadata.name, r])) };
}

function trigger(metadata: FunctionMetadata): Binding {
  const triggers = Object.values(metadata.bindings).filter((b) => b.direction === 'in' && b.type.endsWith('Trigger'));
  expect(triggers).toHaveLength(1);
  return triggers[0] as Binding;
}

describe('Azure Functions registration (functions/index.ts)', () => {
  let app: Registration;

  beforeAll(async () => {
    app = await loadApp();
  });

  it('sets the v4 programming model once and registers exactly the thirteen functions', () => {
    expect(app.core.models).toHaveLength(1);
    expect(app.core.registered.map((r) => r.metadata.name).sort()).toEqual([
      'botMessages',
      'cancelNotification',
      'deliverJob',
      'editNotification',
      'getNotification',
      'health',
      'listDeadLetters',
      'openApi',
      'postNotification',
      'purgeExpired',
      'recallNotification',
      'redriveDeadLetter',
      'redriveNotificationDeadLetters',
      'retryNotification',
      'statusPage',
      'sweepStuck',
    ]);
    for (const r of app.core.registered) expect(typeof r.callback).toBe('function');
  });

  it.each([
    ['postNotification', ['POST'], 'notifications', 'function'],
    ['getNotification', ['GET'], 'notifications/{id}', 'function'],
    ['cancelNotification', ['DELETE'], 'notifications/{id}', 'function'],
    ['editNotification', ['PATCH'], 'notifications/{id}', 'function'],
    ['recallNotification', ['POST'], 'notifications/{id}/recall', 'function'],
    ['retryNotification', ['POST'], 'notifications/{id}/retry', 'function'],
    ['listDeadLetters', ['GET'], 'deadletters', 'admin'],
    ['redriveDeadLetter', ['POST'], 'deadletters/{id}/redrive', 'admin'],
    ['redriveNotificationDeadLetters', ['POST'], 'deadletters/redrive', 'admin'],
    ['health', ['GET'], 'health', 'anonymous'],
    ['statusPage', ['GET'], 'ui', 'function'],
    ['openApi', ['GET'], 'openapi.json', 'anonymous'],
    ['botMessages', ['POST'], 'messages', 'anonymous'],
  ])('%s is an httpTrigger %p on route %s with authLevel %s and an http output', (name, methods, route, authLevel) => {
    const registration = app.byName.get(name);
    if (registration === undefined) throw new Error(`${name} not registered`);
    const t = trigger(registration.metadata);
    expect(t).toMatchObject({ type: 'httpTrigger', direction: 'in', route, authLevel });
    expect(t.methods).toEqual(methods);
    const outputs = Object.values(registration.metadata.bindings).filter((b) => b.direction === 'out');
    expect(outputs).toHaveLength(1);
    expect(outputs[0]?.type).toBe('http');
    expect(registration.metadata.bindings.$return).toBe(outputs[0]);
  });

  it('deliverJob is a serviceBusTrigger on the delivery queue through the ServiceBusConnection setting', () => {
    const registration = app.byName.get('deliverJob');
    if (registration === undefined) throw new Error('deliverJob not registered');
    const t = trigger(registration.metadata);
    expect(t).toMatchObject({ type: 'serviceBusTrigger', direction: 'in', queueName: DELIVERY_QUEUE_NAME, connection: 'ServiceBusConnection' });
    expect(DELIVERY_QUEUE_NAME).toBe('delivery-jobs');
    // A queue function returns nothing: no output binding, so a normal return completes the message.
    expect(Object.values(registration.metadata.bindings).filter((b) => b.direction === 'out')).toEqual([]);
  });

  it('sweepStuck is a timerTrigger whose NCRONTAB schedule and local period agree', () => {
    const registration = app.byName.get('sweepStuck');
    if (registration === undefined) throw new Error('sweepStuck not registered');
    const t = trigger(registration.metadata);
    expect(t).toMatchObject({ type: 'timerTrigger', direction: 'in', schedule: '0 */15 * * * *' });
    const definition = functionDefinitions.find((d) => d.kind === 'timer' && d.name === 'sweepStuck');
    const minutes = /^0 \*\/(\d+) \* \* \* \*$/.exec(String(t.schedule))?.[1];
    expect(definition?.kind === 'timer' ? definition.everyMs : undefined).toBe(Number(minutes) * 60_000);
  });

  it('purgeExpired is an hourly timerTrigger whose NCRONTAB schedule and local period agree', () => {
    const registration = app.byName.get('purgeExpired');
    if (registration === undefined) throw new Error('purgeExpired not registered');
    const t = trigger(registration.metadata);
    expect(t).toMatchObject({ type: 'timerTrigger', direction: 'in' });
    // Second 0 of one fixed minute, every hour: once an hour.
    expect(String(t.schedule)).toMatch(/^0 \d{1,2} \* \* \* \*$/);
    const definition = functionDefinitions.find((d) => d.kind === 'timer' && d.name === 'purgeExpired');
    expect(definition?.kind === 'timer' ? definition.everyMs : undefined).toBe(60 * 60_000);
  });

  it('no function is anonymous except health, the OpenAPI document and the bot endpoint', () => {
    const anonymous = app.core.registered
      .filter((r) => Object.values(r.metadata.bindings).some((b) => b.type === 'httpTrigger' && b.authLevel === 'anonymous'))
      .map((r) => r.metadata.name)
      .sort();
    expect(anonymous).toEqual(['botMessages', 'health', 'openApi']);
  });

  it('the dead-letter endpoints, and only they, need the admin (master) key', () => {
    const admin = app.core.registered
      .filter((r) => Object.values(r.metadata.bindings).some((b) => b.type === 'httpTrigger' && b.authLevel === 'admin'))
      .map((r) => r.metadata.name)
      .sort();
    expect(admin).toEqual(['listDeadLetters', 'redriveDeadLetter', 'redriveNotificationDeadLetters']);
  });

  it('the callback the host would invoke is the real, problem-wrapped handler', async () => {
    const registration = app.byName.get('postNotification');
    if (registration === undefined) throw new Error('postNotification not registered');
    const request = new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/notifications',
      headers: { 'content-type': 'text/plain' },
      body: { string: 'hello' },
    });
    const response = (await registration.callback(request, new InvocationContext({ logHandler: () => undefined }))) as HttpResponseInit;
    expect(response.status).toBe(415);
    expect((response.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
  });
});
