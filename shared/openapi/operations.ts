import type { SchemaName } from './componentSchemas';

/**
 * What the document says of each HTTP function, by its name in `functions/definitions.ts`. The
 * path, method and security come from the definition itself; a definition with no entry here
 * makes the document fail to build (and a test fail), so no endpoint goes undocumented.
 */

export type HeaderName = 'Location' | 'IdempotentReplayed' | 'RetryAfter';
export type ParameterName = 'IdempotencyKey' | 'DryRun' | 'PageSize' | 'StatusContinuationToken' | 'DeadLetterNotificationId' | 'DeadLetterListLimit' | 'DeadLetterRedriveLimit' | 'DeadLetterContinuationToken';

export interface ResponseDoc {
  readonly description: string;
  /** A component schema as `application/json`; `problem` for `application/problem+json`; `any` for JSON of no fixed shape; none: no body (or none of a fixed type). */
  readonly body?: SchemaName | 'problem' | 'any';
  readonly headers?: readonly HeaderName[];
}

export interface OperationDoc {
  readonly summary: string;
  readonly description: string;
  readonly tag: 'notifications' | 'operations' | 'bot';
  readonly parameters?: readonly ParameterName[];
  /** The path parameter's schema, when it is narrower than a string. */
  readonly pathPattern?: string;
  readonly requestBody?: { readonly schema: SchemaName; readonly required: boolean; readonly description?: string };
  /** Besides these, the builder adds 401 (keyed endpoints) and 500/503 (every endpoint: `withProblemDetails`). */
  readonly responses: Readonly<Record<number, ResponseDoc>>;
}

const invalid = (what: string): ResponseDoc => ({ description: `${what}: problem+json naming every offending field in \`errors\``, body: 'problem' });
const notFound: ResponseDoc = { description: 'No notification with that id', body: 'problem' };
const notJson: ResponseDoc = { description: 'The body is not `application/json`', body: 'problem' };
const tooLarge: ResponseDoc = { description: 'The body is larger than 1 MiB', body: 'problem' };
const statusAt = (body: SchemaName, what: string, headers: readonly HeaderName[] = ['Location']): ResponseDoc => ({ description: `${what}; \`Location\` is the status URL`, body, headers });

export const operationDocs: Readonly<Record<string, OperationDoc>> = {
  postNotification: {
    summary: 'Send a notification',
    description:
      'Validates, checks the audience against AUDIENCE_GUARD, records and enqueues, then answers 202 with the id. The same `Idempotency-Key` with the same body answers the same id again (`idempotent-replayed: true`) and sends nothing twice; with a different body, 409. With `?dryRun=true`: 200 with the audience it would reach; nothing is written, enqueued or sent.',
    tag: 'notifications',
    parameters: ['IdempotencyKey', 'DryRun'],
    requestBody: { schema: 'NotificationRequest', required: true },
    responses: {
      200: { description: '`?dryRun=true`: who the request would reach, and whether it would be refused', body: 'DryRunResult' },
      202: statusAt('AcceptedReceipt', 'Accepted (or scheduled, with `sendAt`)', ['Location', 'IdempotentReplayed']),
      400: invalid('Bad JSON, a schema error, a bad `Idempotency-Key` or `dryRun`, or an unusable `callbackUrl`'),
      409: { description: 'The `Idempotency-Key` was used with a different body', body: 'problem' },
      413: tooLarge,
      415: notJson,
      422: { description: 'The fan-out entries reach more people than AUDIENCE_GUARD (without `maxAudience`) or than `maxAudience`; the problem has `audience` and `audienceGuard`', body: 'problem' },
      502: { description: 'Microsoft Graph refused to count the audience (a missing permission or consent)', body: 'problem', headers: ['RetryAfter'] },
    },
  },
  getNotification: {
    summary: 'Status of a notification',
    description: 'Overall status, counts, and one page of per-recipient rows (`continuationToken` for the next).',
    tag: 'notifications',
    parameters: ['PageSize', 'StatusContinuationToken'],
    responses: {
      200: { description: 'The notification', body: 'NotificationStatus' },
      400: invalid('`pageSize` out of range, or a `continuationToken` this API did not give out'),
      404: notFound,
    },
  },
  cancelNotification: {
    summary: 'Cancel what has not been sent',
    description: 'Answers at once; recipients not yet sent end `skipped` (`cancelled`) in the background. Cancelling again answers the same.',
    tag: 'notifications',
    responses: { 202: statusAt('CancelledReceipt', 'Cancelling'), 404: notFound },
  },
  editNotification: {
    summary: 'Replace the sent message',
    description: 'A new version of the message, put in place of what Teams has; recipients still pending get the new version when sent.',
    tag: 'notifications',
    requestBody: { schema: 'EditRequest', required: true },
    responses: {
      202: statusAt('EditedReceipt', 'The new version is being put in place'),
      400: invalid('Bad JSON or a schema error'),
      404: notFound,
      409: { description: 'The notification was recalled: there is nothing to edit', body: 'problem' },
      413: tooLarge,
      415: notJson,
    },
  },
  retryNotification: {
    summary: 'Send again to the recipients that failed for a reason that can change',
    description:
      'Recipients that failed `retries-exhausted`, `not-installed`, `install-not-permitted`, or `expired` (with a new `expiresAt`) are reopened and planned again; delivered ones never. The same `Idempotency-Key` starts nothing more (`idempotent-replayed: true`). The body is optional.',
    tag: 'notifications',
    parameters: ['IdempotencyKey'],
    requestBody: { schema: 'RetryRequest', required: false },
    responses: {
      202: statusAt('RetryingReceipt', 'Retrying', ['Location', 'IdempotentReplayed']),
      400: invalid('Bad JSON, a schema error or a bad `Idempotency-Key`'),
      404: notFound,
      409: { description: 'The notification was cancelled or recalled: nothing is sent again', body: 'problem' },
      413: tooLarge,
      415: notJson,
    },
  },
  recallNotification: {
    summary: 'Delete the sent messages from Teams',
    description: 'Delivered messages are deleted in Teams (recipients end `recalled`); nothing more is sent.',
    tag: 'notifications',
    responses: { 202: statusAt('RecalledReceipt', 'Recalling'), 404: notFound },
  },
  listDeadLetters: {
    summary: 'List parked jobs',
    description: 'Jobs the queue gave up on, a page at a time, optionally of one notification. Admin key.',
    tag: 'operations',
    parameters: ['DeadLetterNotificationId', 'DeadLetterListLimit', 'DeadLetterContinuationToken'],
    responses: { 200: { description: 'A page of dead letters', body: 'DeadLetterPage' }, 400: invalid('A bad query parameter') },
  },
  redriveDeadLetter: {
    summary: 'Put one parked job back on the queue',
    description: 'Only where that is safe: recipients already settled for a reason of their own are left alone. Admin key.',
    tag: 'operations',
    pathPattern: '^[A-Za-z0-9-]{1,100}$',
    responses: {
      202: { description: 'Redriven', body: 'Redriven' },
      400: invalid('A malformed id'),
      404: { description: 'No dead letter with that id', body: 'problem' },
      409: { description: 'Nothing in the letter can be sent again safely; it stays parked (the problem lists `recipients`)', body: 'problem' },
    },
  },
  redriveNotificationDeadLetters: {
    summary: "Put a notification's parked jobs back on the queue",
    description: '`notificationId` (and `limit`, `continuationToken`) in the query or a JSON body; `limit` letters at a time, `continuationToken` goes on with the rest. Admin key.',
    tag: 'operations',
    parameters: ['DeadLetterNotificationId', 'DeadLetterRedriveLimit', 'DeadLetterContinuationToken'],
    requestBody: { schema: 'RedriveAllRequest', required: false },
    responses: {
      202: { description: 'What was redriven and what was refused', body: 'RedriveAllResult' },
      400: invalid('No or a bad `notificationId`, `limit` or `continuationToken`'),
      413: { description: 'The body is larger than 8 KiB', body: 'problem' },
      415: notJson,
    },
  },
  health: {
    summary: 'Health probe',
    description: 'Whether storage and the queue answer (anonymous; says what is down, never why).',
    tag: 'operations',
    responses: {
      200: { description: 'Storage and the queue answer', body: 'HealthReport' },
      503: { description: 'A dependency does not answer; the problem has `dependencies` and `failing`', body: 'problem' },
    },
  },
  statusPage: {
    summary: 'Status page (HTML)',
    description:
      'A page for people, not a JSON API: recent notifications (7 days, newest 20) with a progress bar, status and rate; with `?id=`, that notification\'s failures by reason and its recipients, filterable by `?status=` and `?reason=`. Open it with the key as `?code=`, which its links and fetches carry along; it refreshes itself every 2 s while a send runs, and lists dead letters (with redrive) when the key is the admin key. `text/html`, `cache-control: no-store`, a CSP with a nonce.',
    tag: 'operations',
    responses: {
      200: { description: 'The page (`text/html`)' },
      400: invalid('A malformed `id`, `status` or `reason`'),
    },
  },
  openApi: {
    summary: 'This document',
    description: 'The OpenAPI 3.1 document of this API, generated from the schemas the handlers validate with (anonymous).',
    tag: 'operations',
    responses: { 200: { description: 'The OpenAPI document', body: 'any' } },
  },
  botMessages: {
    summary: "The bot's messaging endpoint",
    description:
      'Bot Framework activities from Teams (or the Agents Playground locally), authenticated by the Bot Framework JWT in `Authorization` (checked by the adapter; none is needed while no MicrosoftAppId is set). Installs, member changes and messages update the stored references; `stop`, `start` and `help` are commands.',
    tag: 'bot',
    requestBody: { schema: 'Activity', required: true },
    responses: {
      // No `content`: most answers have no body, and an invoke's body is whatever its handler returns.
      200: { description: "Taken; no body, except an invoke's answer (JSON, as botbuilder writes it)" },
      400: invalid('Not a Bot Framework activity'),
      401: { description: 'No valid Bot Framework token (only when MicrosoftAppId is set)', body: 'problem' },
      403: { description: "The activity's serviceUrl is not one of Teams' hosts (TEAMS_SERVICE_URL_HOSTS): refused, nothing stored", body: 'problem' },
      413: tooLarge,
      415: notJson,
      501: { description: "An invoke the bot does not handle (botbuilder's own answer, not problem+json)" },
      502: { description: 'The reply could not be sent to the conversation; the activity itself was taken', body: 'problem' },
    },
  },
};
