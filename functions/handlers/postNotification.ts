import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { notificationRequestSchema, type NotificationRequest } from '../../shared/domain/notificationRequest';
import { fieldErrors, problem } from '../../shared/http/problem';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

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
  const result = await svc.accept(parsed.data as NotificationRequest, idempotencyKey);
  if (result.kind === 'idempotency-conflict') {
    return problem(409, `Idempotency-Key "${idempotencyKey ?? ''}" was already used for notification ${result.id} with a different body`, { notificationId: result.id });
  }
  const statusUrl = `/api/notifications/${result.id}`;
  context.log(`notification ${result.id} ${result.replayed ? 'replayed' : result.status} (${parsed.data.recipients.length} recipient entries)`);
  return {
    status: 202,
    headers: { location: statusUrl, ...(result.replayed && { 'idempotent-replayed': 'true' }) },
    jsonBody: { id: result.id, status: result.status, statusUrl },
  };
}
