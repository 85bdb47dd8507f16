import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { createHash } from 'node:crypto';
import type { AcceptResult } from '../../shared/requests/acceptNotification';
import { notificationRequestSchema, type NotificationRequest } from '../../shared/domain/notificationRequest';
import { fieldErrors, problem } from '../../shared/http/problem';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/**
 * Idempotency-Keys belong to the caller: two systems that both pick "deploy-42" must not share a
 * notification. Callers are told apart by the function key they present (a hash, never the key).
 */
function scopedKey(request: HttpRequest, key: string): string {
  const functionKey = request.headers.get('x-functions-key') ?? request.query.get('code') ?? '';
  return `${createHash('sha256').update(functionKey).digest('base64url').slice(0, 16)}:${key}`;
}

/** POST /api/notifications: validate, record, enqueue, answer 202 with the id. */
export async function postNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
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
  await svc.ready();
  // Any failure in accepting undoes it (withProblemDetails answers 503 for an unreachable
  // dependency): nothing is half queued, so a plain retry is safe.
  const result: AcceptResult = await svc.accept(parsed.data as NotificationRequest, idempotencyKey === undefined ? undefined : scopedKey(request, idempotencyKey));
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
