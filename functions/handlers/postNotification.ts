import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { createHash } from 'node:crypto';
import type { AcceptResult } from '../../shared/requests/acceptNotification';
import { notificationRequestSchema, type NotificationRequest } from '../../shared/domain/notificationRequest';
import { fieldErrors, problem } from '../../shared/http/problem';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';
import { defaultTenantId } from '../../shared/config';
import { isFanOut, type Recipient } from '../../shared/domain/recipient';
import { withEntryTenants } from '../../shared/requests/entryTenants';
import { fanOutAudience, measureAudience } from '../../shared/requests/measureAudience';

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
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const parsed = notificationRequestSchema.safeParse(body.value);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error);
    return problem(400, `${errors.length} problem${errors.length === 1 ? '' : 's'} in the request: ${errors[0]?.path ?? ''} ${errors[0]?.message ?? ''}`.trim(), { errors });
  }

  const svc = services();
  const tenants = withEntryTenants(parsed.data.recipients as readonly Recipient[], { allowedTenants: svc.config.allowedTenants, defaultTenantId: defaultTenantId(svc.config) });
  if (!tenants.ok) return problem(400, `${tenants.errors[0]?.path ?? ''} ${tenants.errors[0]?.message ?? ''}`.trim(), { errors: tenants.errors });
  const notification: NotificationRequest = { ...(parsed.data as NotificationRequest), recipients: tenants.recipients };
  await svc.ready();
  const audienceDeps = { conversations: svc.conversations, graph: svc.graph, reach: svc.reach, allowedTenants: svc.config.allowedTenants };

  if (dryRun === 'true') {
    const audience = await measureAudience(notification.recipients, audienceDeps);
    if (audience.kind === 'unavailable') return unavailable(audience);
    const fanOutPeople = audience.value.entries.reduce((n, e) => n + (isFanOut(notification.recipients[e.index] as Recipient) ? (e.total ?? 0) : 0), 0);
    const needsMaxAudience = fanOutPeople > svc.config.audienceGuard;
    return { status: 200, jsonBody: { audience: audience.value, guard: { audienceGuard: svc.config.audienceGuard, maxAudienceRequired: needsMaxAudience } } };
  }

  // The guard against an accidental send to everyone: past AUDIENCE_GUARD people, the caller says how many they mean.
  if (notification.recipients.some(isFanOut)) {
    const guard = svc.config.audienceGuard;
    const limit = Math.max(guard, notification.maxAudience ?? 0);
    const people = await fanOutAudience(notification.recipients, audienceDeps, limit);
    if (people.kind === 'unavailable') return unavailable(people);
    const reach = people.value > limit ? `more than ${limit}` : String(people.value);
    if (notification.maxAudience === undefined && people.value > guard) {
      return problem(422, `The fan-out entries reach ${reach} people, more than AUDIENCE_GUARD (${guard}): to send anyway, add "maxAudience" with the most people you mean to reach`, {
        audience: people.value,
        audienceGuard: guard,
        errors: [{ path: 'maxAudience', message: `required when fan-out entries reach more than ${guard} people` }],
      });
    }
    if (notification.maxAudience !== undefined && people.value > notification.maxAudience) {
      return problem(422, `The fan-out entries reach ${reach} people, more than maxAudience (${notification.maxAudience})`, {
        audience: people.value,
        maxAudience: notification.maxAudience,
        errors: [{ path: 'maxAudience', message: `the audience is already ${reach}` }],
      });
    }
  }

  // Any failure in accepting undoes it (withProblemDetails answers 503 for an unreachable
  // dependency): nothing is half queued, so a plain retry is safe.
  const result: AcceptResult = await svc.accept(notification, idempotencyKey === undefined ? undefined : scopedKey(request, idempotencyKey));
  if (result.kind === 'idempotency-conflict') {
    return problem(409, `Idempotency-Key "${idempotencyKey ?? ''}" was already used with a different body`);
  }
  const statusUrl = `/api/notifications/${result.id}`;
  context.log(`notification ${result.id} ${result.replayed ? 'replayed' : result.status} (${parsed.data.recipients.length} recipient entries)`);
  return {
    status: 202,
    headers: { location: statusUrl, ...(result.replayed && { 'idempotent-replayed': 'true' }) },
    jsonBody: { id: result.id, status: result.status, statusUrl },
  };
}

function unavailable(failure: { readonly detail: string; readonly retryAfterMs?: number }): HttpResponseInit {
  const response = problem(503, failure.detail);
  if (failure.retryAfterMs === undefined) return response;
  return { ...response, headers: { ...(response.headers as Record<string, string>), 'retry-after': String(Math.ceil(failure.retryAfterMs / 1000)) } };
}
