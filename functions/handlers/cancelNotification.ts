import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { cancelNotification as cancel } from '../../shared/requests/cancelNotification';
import { problem } from '../../shared/http/problem';
import { services } from '../../shared/services';

/** DELETE /api/notifications/{id}: stop what has not been sent yet (a scheduled send, a large fan-out). */
export async function cancelNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const svc = services();
  await svc.ready();
  const result = await cancel(id, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  context.log(`notification ${id} cancelled: ${result.skipped} recipients will not be sent`);
  return {
    status: 202,
    headers: { location: `/api/notifications/${id}` },
    jsonBody: { id, status: 'cancelled', skipped: result.skipped, statusUrl: `/api/notifications/${id}` },
  };
}
