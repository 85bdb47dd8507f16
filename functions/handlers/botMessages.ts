import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { checkActivity } from '../../shared/bot/activitySchema';
import type { BotResponse } from '../../shared/bot/botEndpoint';
import { problem } from '../../shared/http/problem';
import { readJsonBody } from '../../shared/http/readJsonBody';
import { services } from '../../shared/services';

/**
 * POST /api/messages: the bot's messaging endpoint (Teams, or the Agents Playground locally).
 * The activity's shape is checked here, before any service or botbuilder sees it: a wrong one is
 * a 400 naming the fields, whoever sent it.
 */
export async function botMessages(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const checked = checkActivity(body.value);
  if (!checked.ok) {
    const first = checked.errors[0];
    return problem(400, `the body is not a Bot Framework activity: ${first?.path === '' ? '' : `${first?.path ?? ''} `}${first?.message ?? ''}`.trim(), { errors: checked.errors });
  }
  const svc = services();
  await svc.ready();
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return toHttpResponse(await svc.bot.process({ method: request.method, headers, body: checked.activity }));
}

/** Success and botbuilder's own answers (an invoke's body, 501 for an unknown invoke) as they are; our failures as problem+json. */
function toHttpResponse(response: BotResponse): HttpResponseInit {
  const { status } = response;
  if (status < 400 || status === 501) {
    if (response.body === undefined) return { status };
    return typeof response.body === 'string' ? { status, body: response.body } : { status, jsonBody: response.body };
  }
  switch (status) {
    case 400:
      return problem(400, 'the body is not a Bot Framework activity', errorsOf(response.body));
    case 401:
      return problem(401, 'a valid Bot Framework token is required', { title: 'A valid Bot Framework token is required' });
    case 502:
      return problem(502, 'the reply could not be sent to the conversation; the activity itself was taken', { title: 'The Bot Connector did not take the reply' });
    case 503:
      return problem(503, 'a dependency did not answer; send the activity again later');
    default:
      return problem(status, status >= 500 ? 'the activity could not be processed' : 'the activity was refused');
  }
}

function errorsOf(body: unknown): { errors?: readonly { path: string; message: string }[] } {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? { errors: errors as { path: string; message: string }[] } : {};
}
