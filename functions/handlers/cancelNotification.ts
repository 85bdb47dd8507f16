import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { CancelledReceipt } from '../../shared/domain/notificationReceipt';
import { cancelNotification as cancel } from '../../shared/requests/cancelNotification';
import { problem } from '../../shared/http/problem';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

/**
 * DELETE /api/notifications/{id}: stop what has not been sent yet (a scheduled send, a large
 * fan-out). Answers at once: the recipients not sent end skipped in the background, so the body
 * gives no count; the status URL shows `skipped` growing to its final figure.
 */
export async function cancelNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const svc = services();
  await svc.ready();
  const result = await cancel(id, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  functionLogger(context).log(`notification cancelled${result.already ? ' again' : ''}: the recipients not sent are being skipped`, { notificationId: id, outcome: 'cancelled' });
  const statusUrl = `/api/notifications/${id}`;
  return { status: 202, headers: { location: statusUrl }, jsonBody: { id, status: 'cancelled', statusUrl } satisfies CancelledReceipt };
}
