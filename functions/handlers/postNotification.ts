import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AcceptedReceipt } from '../../shared/domain/notificationReceipt';
import { createHash } from 'node:crypto';
import type { AcceptResult } from '../../shared/requests/acceptNotification';
import { notificationRequestSchema, sendAtBeyondHorizon, type NotificationRequest } from '../../shared/domain/notificationRequest';
import { problem } from '../../shared/http/problem';
import { readValidatedBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';
import { defaultTenantId, runsInAzure } from '../../shared/config';
import { checkCallbackUrl, resolveSafeAddress } from '../../shared/callbacks/callbackUrl';
import type { Recipient } from '../../shared/domain/recipient';
import { withEntryTenants } from '../../shared/requests/entryTenants';
import { checkAudience, dryRunVerdict, type GuardRefusal } from '../../shared/requests/audienceGuard';
import { measureAudience, type Unavailable } from '../../shared/requests/measureAudience';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/**
 * Idempotency-Keys belong to the caller: two systems that both pick "deploy-42" must not share a
 * notification. Callers are told apart by the function key they present (a hash, never the key).
 */
function scopedKey(request: HttpRequest, key: string): string {
  const functionKey = request.headers.get('x-functions-key') ?? request.query.get('code') ?? '';
  return `${createHash('sha256').update(functionKey).digest('base64url').slice(0, 16)}:${key}`;
}

/**
 * POST /api/notifications: validate, check the audience against the guard, record, enqueue, answer
 * 202 with the id. With `?dryRun=true`: answer 200 with the audience it would reach, and do nothing.
 */
export async function postNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const dryRun = request.query.get('dryRun');
  if (dryRun !== null && dryRun !== 'true' && dryRun !== 'false') {
    return problem(400, 'dryRun must be true or false', { errors: [{ path: 'query:dryRun', message: 'must be true or false' }] });
  }
  const idempotencyKey = request.headers.get('idempotency-key') ?? undefined;
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    return problem(400, 'Idempotency-Key must be 1 to 128 visible ASCII characters', {
      errors: [{ path: 'header:Idempotency-Key', message: 'must be 1 to 128 visible ASCII characters' }],
    });
  }
  const body = await readValidatedBody(request, notificationRequestSchema);
  if (!body.ok) return body.response;
  const input = body.value;

  const svc = services();
  const tooFar = sendAtBeyondHorizon(input.sendAt, svc.config.sendAtHorizonDays);
  if (tooFar !== undefined) return problem(400, tooFar, { errors: [{ path: 'sendAt', message: tooFar }] });
  if (input.callbackUrl !== undefined) {
    const refused = await callbackUrlProblem(input.callbackUrl, svc.config.callbackSigningKey !== undefined);
    if (refused !== undefined) return problem(400, refused, { errors: [{ path: 'callbackUrl', message: refused }] });
  }
  const tenants = withEntryTenants(input.recipients as readonly Recipient[], { allowedTenants: svc.config.allowedTenants, defaultTenantId: defaultTenantId(svc.config) });
  if (!tenants.ok) return problem(400, `${tenants.errors[0]?.path ?? ''} ${tenants.errors[0]?.message ?? ''}`.trim(), { errors: tenants.errors });
  const notification: NotificationRequest = { ...(input as NotificationRequest), recipients: tenants.recipients };
  await svc.ready();
  const audienceDeps = { conversations: svc.conversations, graph: svc.graph, reach: svc.reach, allowedTenants: svc.config.allowedTenants };

  if (dryRun === 'true') {
    const audience = await measureAudience(notification.recipients, audienceDeps);
    if (audience.kind === 'unavailable') return unavailable(audience, context);
    const guard = svc.config.audienceGuard;
    const needsMaxAudience = dryRunVerdict(notification.recipients, audience.value, undefined, guard).kind === 'refused';
    const verdict = dryRunVerdict(notification.recipients, audience.value, notification.maxAudience, guard);
    // What the same request without ?dryRun would answer: refused (422) for the guard or its own maxAudience, or accepted.
    const wouldRefuse = verdict.kind === 'refused' ? { wouldRefuse: verdict.because } : {};
    return { status: 200, jsonBody: { audience: audience.value, guard: { audienceGuard: guard, maxAudienceRequired: needsMaxAudience, ...wouldRefuse } } };
  }

  // A replay of an accepted request answers as the first did: the guard judged it then.
  const scoped = idempotencyKey === undefined ? undefined : scopedKey(request, idempotencyKey);
  if (scoped === undefined || (await svc.notifications.findIdempotencyKey(scoped)) === undefined) {
    const verdict = await checkAudience(notification.recipients, notification.maxAudience, svc.config.audienceGuard, audienceDeps);
    if (verdict.kind === 'unavailable') return unavailable(verdict, context);
    if (verdict.kind === 'refused') return refusal(verdict, notification.maxAudience, svc.config.audienceGuard);
  }

  // Any failure in accepting undoes it (withProblemDetails answers 503 for an unreachable
  // dependency): nothing is half queued, so a plain retry is safe.
  const result: AcceptResult = await svc.accept(notification, scoped);
  if (result.kind === 'idempotency-conflict') {
    return problem(409, `Idempotency-Key "${idempotencyKey ?? ''}" was already used with a different body`);
  }
  const statusUrl = `/api/notifications/${result.id}`;
  functionLogger(context).log(`notification ${result.replayed ? 'replayed' : result.status} (${input.recipients.length} recipient entries)`, {
    notificationId: result.id,
    outcome: result.replayed ? 'replayed' : result.status,
    count: input.recipients.length,
  });
  return {
    status: 202,
    headers: { location: statusUrl, ...(result.replayed && { 'idempotent-replayed': 'true' }) },
    jsonBody: { id: result.id, status: result.status, statusUrl } satisfies AcceptedReceipt,
  };
}

/**
 * Why a callbackUrl cannot be used, if it cannot: callbacks not configured, not https (loopback is
 * allowed only locally), or (in Azure) a host that resolves to a private, link-local or metadata
 * address. The address is checked again at every send.
 */
async function callbackUrlProblem(url: string, configured: boolean): Promise<string | undefined> {
  if (!configured) return 'callbackUrl cannot be used: this service has no CALLBACK_SIGNING_KEY to sign callbacks with';
  const options = { allowLoopback: !runsInAzure() };
  const checked = checkCallbackUrl(url, options);
  if (!checked.ok) return checked.reason;
  if (!runsInAzure()) return undefined;
  try {
    const address = await resolveSafeAddress(checked.url, options);
    return address.ok ? undefined : address.reason;
  } catch {
    return 'callbackUrl has a host name that does not resolve';
  }
}

/** 422 naming the size: the caller says how many people they mean (`maxAudience`), or sends to fewer. */
function refusal(refused: GuardRefusal, maxAudience: number | undefined, guard: number): HttpResponseInit {
  const size = refused.more ? `at least ${refused.audience}` : String(refused.audience);
  const extra = { audience: refused.audience, audienceGuard: guard, ...(maxAudience !== undefined && { maxAudience }) };
  return refused.because === 'guard'
    ? problem(422, `The fan-out entries reach ${size} people, more than AUDIENCE_GUARD (${guard}): to send anyway, add "maxAudience" with the most people you mean to reach`, {
        ...extra,
        errors: [{ path: 'maxAudience', message: `required when fan-out entries reach more than ${guard} people` }],
      })
    : problem(422, `The fan-out entries reach ${size} people, more than maxAudience (${maxAudience ?? 0})`, {
        ...extra,
        errors: [{ path: 'maxAudience', message: `the audience is already ${size}` }],
      });
}

/** Graph could not count: the log gets what it said, the caller only what happened. */
function unavailable(failure: Unavailable, context: InvocationContext): HttpResponseInit {
  functionLogger(context).warn('Microsoft Graph could not count the audience', { reason: failure.detail });
  const response =
    failure.status === 502
      ? problem(502, 'Microsoft Graph refused to count the audience: the app may lack a Graph permission or its admin consent (see the README, Graph permissions)')
      : problem(503, 'Microsoft Graph did not answer while counting the audience: retry later');
  if (failure.retryAfterMs === undefined) return response;
  return { ...response, headers: { ...(response.headers as Record<string, string>), 'retry-after': String(Math.ceil(failure.retryAfterMs / 1000)) } };
}
