import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { RetryingReceipt } from '../../shared/domain/notificationReceipt';
import { fieldErrors, problem } from '../../shared/http/problem';
import { readOptionalJsonBody } from '../../shared/http/readJsonBody';
import { retryNotification as retry, retryRequestSchema } from '../../shared/requests/retryNotification';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** POST /api/notifications/{id}/retry: send again to the recipients that failed for a reason that can change. */
export async function retryNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const key = request.headers.get('idempotency-key') ?? undefined;
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    return problem(400, 'Idempotency-Key must be 1 to 128 visible ASCII characters', { errors: [{ path: 'header:Idempotency-Key', message: 'must be 1 to 128 visible ASCII characters' }] });
  }
  // The body is optional: `{}` or none at all.
  const body = await readOptionalJsonBody(request);
  if (!body.ok) return body.response;
  const parsed = retryRequestSchema.safeParse(body.value);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error);
    return problem(400, `${errors[0]?.path ?? ''} ${errors[0]?.message ?? ''}`.trim(), { errors });
  }
  const svc = services();
  await svc.ready();
  const result = await retry(id, { ...(parsed.data.expiresAt !== undefined && { expiresAt: parsed.data.expiresAt }), ...(key !== undefined && { key }) }, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  if (result.kind === 'closed') return problem(409, `the notification was ${result.why}: nothing is sent again`, { title: `The notification was ${result.why}` });
  functionLogger(context).log(`resend to the failed ${result.replayed ? 'replayed' : 'started'}`, { notificationId: id, outcome: result.replayed ? 'replayed' : 'retrying' });
  const statusUrl = `/api/notifications/${id}`;
  return { status: 202, headers: { location: statusUrl, ...(result.replayed && { 'idempotent-replayed': 'true' }) }, jsonBody: { id, status: 'retrying', statusUrl } satisfies RetryingReceipt };
}
