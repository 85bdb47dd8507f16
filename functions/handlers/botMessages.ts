import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';

/** POST /api/messages: the bot's messaging endpoint (Teams, or the Agents Playground locally). */
export async function botMessages(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const svc = services();
  await svc.ready();
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const response = await svc.bot.process({ method: request.method, headers, body: body.value });
  if (response.body === undefined) return { status: response.status };
  return typeof response.body === 'string' ? { status: response.status, body: response.body } : { status: response.status, jsonBody: response.body };
}
