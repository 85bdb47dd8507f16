import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { messageSchema, type Message } from '../../shared/domain/message';
import { fieldErrors, problem } from '../../shared/http/problem';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { editNotification as edit } from '../../shared/requests/amendNotification';
import { services } from '../../shared/services';

const editRequestSchema = z.object({ message: messageSchema }).strict();

/** PATCH /api/notifications/{id}: a new version of the message, put in place of what Teams has. */
export async function editNotification(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const parsed = editRequestSchema.safeParse(body.value);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error);
    return problem(400, `${errors.length} problem${errors.length === 1 ? '' : 's'} in the request: ${errors[0]?.path ?? ''} ${errors[0]?.message ?? ''}`.trim(), { errors });
  }
  const svc = services();
  await svc.ready();
  const result = await edit(id, parsed.data.message as Message, svc);
  if (result.kind === 'not-found') return problem(404, `no notification with id "${id}"`);
  if (result.kind === 'recalled') return problem(409, 'the notification was recalled: there is nothing left to edit', { title: 'The notification was recalled' });
  context.log(`notification ${id} edited: version ${result.version}`);
  const statusUrl = `/api/notifications/${id}`;
  return { status: 202, headers: { location: statusUrl }, jsonBody: { id, version: result.version, statusUrl } };
}
