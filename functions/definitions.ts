import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import { problem } from '../shared/http/problem';
import { isConnectionFailure } from '../shared/http/connectionFailure';
import { functionLogger } from '../shared/telemetry/functionLogger';
import { DELIVERY_QUEUE_NAME } from '../shared/queue/jobQueue';
import { botMessages } from './handlers/botMessages';
import { cancelNotification } from './handlers/cancelNotification';
import { listDeadLetters, redriveDeadLetter, redriveNotificationDeadLetters } from './handlers/deadLetters';
import { editNotification } from './handlers/editNotification';
import { recallNotification } from './handlers/recallNotification';
import { retryNotification } from './handlers/retryNotification';
import { deliverJob } from './handlers/deliverJob';
import { getNotification } from './handlers/getNotification';
import { health } from './handlers/health';
import { openApi } from './handlers/openApi';
import { postNotification } from './handlers/postNotification';
import { sweepStuck } from './handlers/sweepStuck';
import { statusPage } from './handlers/statusPage';
import { purgeExpired } from './handlers/purgeExpired';

/** The app setting prefix of the Service Bus connection (identity-based: `...__fullyQualifiedNamespace`). */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';

/** Our HTTP handlers answer with a plain `HttpResponseInit`, which both hosts can write out. */
export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

export interface HttpFunctionDefinition {
  readonly kind: 'http';
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** Relative to the `api` route prefix. */
  readonly route: string;
  /** `admin`: the host's master key (locally LOCAL_ADMIN_KEY); the function key does not open it. */
  readonly authLevel: 'anonymous' | 'function' | 'admin';
  readonly handler: HttpHandler;
}

export interface QueueFunctionDefinition {
  readonly kind: 'queue';
  readonly name: string;
  readonly queueName: string;
  readonly connection: string;
  readonly handler: (message: unknown, context: InvocationContext) => Promise<void>;
}

export interface TimerFunctionDefinition {
  readonly kind: 'timer';
  readonly name: string;
  /** NCRONTAB, as Azure reads it. */
  readonly schedule: string;
  /** The same period in milliseconds, for the local host (a test keeps the two in step). */
  readonly everyMs: number;
  readonly handler: (timer: Timer, context: InvocationContext) => Promise<void>;
}

export type FunctionDefinition = HttpFunctionDefinition | QueueFunctionDefinition | TimerFunctionDefinition;

/**
 * Every function of the app, once. `functions/index.ts` registers them with the Azure Functions
 * host; `local/functionHost.ts` serves the same handlers on port 7071 and feeds the queue handler from Azurite.
 */
export const functionDefinitions: readonly FunctionDefinition[] = [
  { kind: 'http', name: 'postNotification', methods: ['POST'], route: 'notifications', authLevel: 'function', handler: withProblemDetails(postNotification) },
  { kind: 'http', name: 'getNotification', methods: ['GET'], route: 'notifications/{id}', authLevel: 'function', handler: withProblemDetails(getNotification) },
  { kind: 'http', name: 'cancelNotification', methods: ['DELETE'], route: 'notifications/{id}', authLevel: 'function', handler: withProblemDetails(cancelNotification) },
  { kind: 'http', name: 'editNotification', methods: ['PATCH'], route: 'notifications/{id}', authLevel: 'function', handler: withProblemDetails(editNotification) },
  { kind: 'http', name: 'retryNotification', methods: ['POST'], route: 'notifications/{id}/retry', authLevel: 'function', handler: withProblemDetails(retryNotification) },
  { kind: 'http', name: 'recallNotification', methods: ['POST'], route: 'notifications/{id}/recall', authLevel: 'function', handler: withProblemDetails(recallNotification) },
  // Operators only: parked jobs, and sending them again.
  { kind: 'http', name: 'listDeadLetters', methods: ['GET'], route: 'deadletters', authLevel: 'admin', handler: withProblemDetails(listDeadLetters) },
  { kind: 'http', name: 'redriveDeadLetter', methods: ['POST'], route: 'deadletters/{id}/redrive', authLevel: 'admin', handler: withProblemDetails(redriveDeadLetter) },
  { kind: 'http', name: 'redriveNotificationDeadLetters', methods: ['POST'], route: 'deadletters/redrive', authLevel: 'admin', handler: withProblemDetails(redriveNotificationDeadLetters) },
  { kind: 'http', name: 'health', methods: ['GET'], route: 'health', authLevel: 'anonymous', handler: withProblemDetails(health) },
  // The status page (HTML), keyed like the API: `?code=` carries the key on its links and fetches.
  { kind: 'http', name: 'statusPage', methods: ['GET'], route: 'ui', authLevel: 'function', handler: withProblemDetails(statusPage) },
  // The OpenAPI document, built from this very table.
  { kind: 'http', name: 'openApi', methods: ['GET'], route: 'openapi.json', authLevel: 'anonymous', handler: withProblemDetails(openApi(() => functionDefinitions)) },
  // Anonymous at the host: Bot Framework JWTs, checked by the adapter, are this endpoint's key.
  { kind: 'http', name: 'botMessages', methods: ['POST'], route: 'messages', authLevel: 'anonymous', handler: withProblemDetails(botMessages) },
  { kind: 'queue', name: 'deliverJob', queueName: DELIVERY_QUEUE_NAME, connection: SERVICE_BUS_CONNECTION, handler: deliverJob },
  { kind: 'timer', name: 'sweepStuck', schedule: '0 */15 * * * *', everyMs: 15 * 60_000, handler: sweepStuck },
  // Hourly, at minute 7 (clear of the sweeper's quarter hours): a bounded slice of RETENTION_DAYS' purge.
  { kind: 'timer', name: 'purgeExpired', schedule: '0 7 * * * *', everyMs: 60 * 60_000, handler: purgeExpired },
];

/** An unexpected error becomes a problem+json 500 (or 503 for an unreachable dependency), logged, never leaked. */
export function withProblemDetails(handler: HttpHandler): HttpHandler {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      return await handler(request, context);
    } catch (error) {
      functionLogger(context).error('failed', { invocationId: context.invocationId, error });
      const unavailable = isConnectionFailure(error);
      return problem(unavailable ? 503 : 500, unavailable ? 'a dependency did not answer; retry later (with the same Idempotency-Key)' : `internal error; invocation ${context.invocationId}`);
    }
  };
}
