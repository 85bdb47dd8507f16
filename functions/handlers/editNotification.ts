import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { EditedReceipt } from '../../shared/domain/notificationReceipt';
import type { Message } from '../../shared/domain/message';
import { problem } from '../../shared/http/problem';
import { readValidatedBody } from '../../shared/http/readJsonBody';
import { editNotification as edit, editRequestSchema } from '../../shared/requests/amendNotification';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';


/** PATCH /api/notifications/{id}: a new version of the message, put in place of what Teams has. */
export async function editNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const body = await readValidatedBody(request, editRequestSchema);
  if (!body.ok) return body.response;
  const svc = services();
  await svc.ready();
  const result = await edit(id, body.value.message as Message, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  if (result.kind === 'recalled') return problem(409, 'the notification was recalled: there is nothing left to edit', { title: 'The notification was recalled' });
  functionLogger(context).log(`notification edited: version ${result.version}`, { notificationId: id, outcome: 'edited', count: result.version });
  const statusUrl = `/api/notifications/${id}`;
  return { status: 202, headers: { location: statusUrl }, jsonBody: { id, version: result.version, statusUrl } satisfies EditedReceipt };
}
