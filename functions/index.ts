// First, for its side effect: OpenTelemetry starts before anything else loads (see telemetry.ts).
import { telemetry } from './telemetry';
import { app } from '@azure/functions';
import { functionDefinitions } from './definitions';

// The Azure Functions entry point (package.json "main"). Buffered telemetry is flushed as the
// worker stops.
app.hook.appTerminate(() => telemetry.shutdown());

// Each definition becomes one function.
for (const definition of functionDefinitions) {
  if (definition.kind === 'http') {
    app.http(definition.name, {
      methods: [...definition.methods],
      route: definition.route,
      authLevel: definition.authLevel,
      handler: definition.handler,
    });
  } else if (definition.kind === 'queue') {
    app.serviceBusQueue(definition.name, {
      queueName: definition.queueName,
      connection: definition.connection,
      handler: definition.handler,
    });
  } else {
    app.timer(definition.name, { schedule: definition.schedule, handler: definition.handler });
  }
}
