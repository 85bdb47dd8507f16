import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { RecalledReceipt } from '../../shared/domain/notificationReceipt';
import { problem } from '../../shared/http/problem';
import { recallNotification as recall } from '../../shared/requests/amendNotification';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

/** POST /api/notifications/{id}/recall: delete what was sent from Teams, and send nothing more. */
export async function recallNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const svc = services();
  await svc.ready();
  const result = await recall(id, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  functionLogger(context).log('notification recalled: the recipients not sent are being skipped', { notificationId: id, outcome: 'recalled' });
  const statusUrl = `/api/notifications/${id}`;
  return { status: 202, headers: { location: statusUrl }, jsonBody: { id, status: 'recalled', statusUrl } satisfies RecalledReceipt };
}
