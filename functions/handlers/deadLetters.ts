import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { fieldErrors, problem, type FieldError } from '../../shared/http/problem';
import { InvalidContinuationToken } from '../../shared/queue/deadLetters';
import { listDeadLetters as list } from '../../shared/requests/listDeadLetters';
import { redriveDeadLetter as redriveOne, redriveNotification } from '../../shared/requests/redriveDeadLetters';
import { services } from '../../shared/services';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;
/** Letters one `POST /api/deadletters/redrive` handles at most: it stays well inside the HTTP time limit. */
const DEFAULT_REDRIVE_LIMIT = 100;
const MAX_REDRIVE_LIMIT = 500;
const NOTIFICATION_ID = /^[a-z0-9]{1,64}$/;
/** Any adapter's id: `native-42`, `parked-7` (Service Bus), a queue message id (Azurite). */
const LETTER_ID = /^[A-Za-z0-9-]{1,100}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,2000}$/;
/** The redrive-all body names a notification and maybe a limit and a token: a few hundred bytes. */
const MAX_BODY_BYTES = 8 * 1024;

const TYPE_BASE = 'https://github.com/teams-notify/teams-notify/blob/main/README.md#errors';

/** GET /api/deadletters?notificationId=&limit=&continuationToken=: parked jobs, a page at a time. */
export async function listDeadLetters(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const query = readQuery(request, MAX_LIMIT, DEFAULT_LIMIT);
  if (!query.ok) return query.response;
  const svc = services();
  await svc.ready();
  let page;
  try {
    page = await list(query.value, svc);
  } catch (error) {
    if (error instanceof InvalidContinuationToken) return badRequest([{ path: 'query:continuationToken', message: 'not one this API gave out' }]);
    throw error;
  }
  const next =
    page.continuationToken === undefined ? undefined : `/api/deadletters?${pageQuery({ ...query.value, continuationToken: page.continuationToken })}`;
  return { status: 200, jsonBody: { items: page.items, ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken, next }) } };
}

/** POST /api/deadletters/{id}/redrive: one parked job back on the queue, where that is safe (see `redriveDeadLetter`). */
export async function redriveDeadLetter(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = request.params.id ?? '';
  if (!LETTER_ID.test(id)) return badRequest([{ path: 'path:id', message: 'must be 1 to 100 letters, digits or dashes' }]);
  const svc = services();
  await svc.ready();
  const result = await redriveOne(id, svc);
  if (result.kind === 'not-found') return problem(404, `no dead letter with id "${id}"`);
  if (result.kind === 'refused') {
    return problem(409, `not redriven: ${result.why}`, {
      type: `${TYPE_BASE}-not-redrivable`,
      title: 'The dead letter cannot be redriven safely',
      id,
      recipients: result.recipients,
    });
  }
  context.log(`dead letter ${id} redriven (${result.jobKind} of ${result.notificationId})`);
  return { status: 202, jsonBody: { id, status: 'redriven', jobKind: result.jobKind, notificationId: result.notificationId, recipients: result.recipients } };
}

export const redriveAllSchema = z
  .object({
    notificationId: z.string().regex(NOTIFICATION_ID, 'must be a notification id (1 to 64 lower-case letters and digits)'),
    limit: z.number().int().min(1).max(MAX_REDRIVE_LIMIT).optional(),
    continuationToken: z.string().regex(TOKEN, 'not one this API gave out').optional(),
  })
  .strict();

/**
 * POST /api/deadletters/redrive (`notificationId` in the query or a JSON body): every parked job of
 * one notification, `limit` at a time; the answer's `continuationToken` goes on with the rest.
 */
export async function redriveNotificationDeadLetters(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readSmallJsonObject(request);
  if (!body.ok) return body.response;
  const value = body.value;
  const fromQuery = readQuery(request, MAX_REDRIVE_LIMIT, DEFAULT_REDRIVE_LIMIT);
  if (!fromQuery.ok) return fromQuery.response;
  const merged = {
    ...(fromQuery.value.notificationId !== undefined && { notificationId: fromQuery.value.notificationId }),
    ...(request.query.has('limit') || request.query.has('pageSize') ? { limit: fromQuery.value.limit } : {}),
    ...(fromQuery.value.continuationToken !== undefined && { continuationToken: fromQuery.value.continuationToken }),
    ...value,
  };
  const parsed = redriveAllSchema.safeParse(merged);
  if (!parsed.success) return badRequest(fieldErrors(parsed.error));
  const { notificationId, limit = DEFAULT_REDRIVE_LIMIT, continuationToken } = parsed.data;
  const svc = services();
  await svc.ready();
  let result;
  try {
    result = await redriveNotification(notificationId, { limit, ...(continuationToken !== undefined && { continuationToken }) }, svc);
  } catch (error) {
    if (error instanceof InvalidContinuationToken) return badRequest([{ path: 'continuationToken', message: 'not one this API gave out' }]);
    throw error;
  }
  context.log(`dead letters of ${notificationId}: ${result.redriven} redriven, ${result.refused} refused`);
  return { status: 202, jsonBody: result };
}

type QueryResult =
  | { readonly ok: true; readonly value: { readonly notificationId?: string; readonly limit: number; readonly continuationToken?: string } }
  | { readonly ok: false; readonly response: HttpResponseInit };

/** `notificationId`, `limit` (or `pageSize`) and `continuationToken` from the query string. */
function readQuery(request: HttpRequest, maxLimit: number, defaultLimit: number): QueryResult {
  const errors: FieldError[] = [];
  const notificationId = request.query.get('notificationId') ?? undefined;
  if (notificationId !== undefined && !NOTIFICATION_ID.test(notificationId)) errors.push({ path: 'query:notificationId', message: 'must be a notification id (1 to 64 lower-case letters and digits)' });
  const limitText = request.query.get('limit') ?? request.query.get('pageSize') ?? undefined;
  const limit = limitText === undefined ? defaultLimit : /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) errors.push({ path: 'query:limit', message: `must be a whole number from 1 to ${maxLimit}` });
  const continuationToken = request.query.get('continuationToken') ?? undefined;
  if (continuationToken !== undefined && !TOKEN.test(continuationToken)) errors.push({ path: 'query:continuationToken', message: 'not one this API gave out' });
  if (errors.length > 0) return { ok: false, response: badRequest(errors) };
  return {
    ok: true,
    value: { limit, ...(notificationId !== undefined && { notificationId }), ...(continuationToken !== undefined && { continuationToken }) },
  };
}

function pageQuery(value: { readonly notificationId?: string; readonly limit: number; readonly continuationToken?: string }): string {
  const params = new URLSearchParams();
  if (value.notificationId !== undefined) params.set('notificationId', value.notificationId);
  params.set('limit', String(value.limit));
  if (value.continuationToken !== undefined) params.set('continuationToken', value.continuationToken);
  return params.toString();
}

/** The optional body of a redrive-all: nothing, or a small JSON object. */
async function readSmallJsonObject(request: HttpRequest): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; response: HttpResponseInit }> {
  const text = await request.text();
  if (text.trim() === '') return { ok: true, value: {} };
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) return { ok: false, response: problem(413, `the body is larger than ${MAX_BODY_BYTES} bytes`) };
  if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test((request.headers.get('content-type') ?? '').trim())) {
    return { ok: false, response: problem(415, 'send the body as application/json') };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return { ok: false, response: badRequest([{ path: '', message: 'not valid JSON' }]) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, response: badRequest([{ path: '', message: 'expected a JSON object' }]) };
  return { ok: true, value: { ...(value as Record<string, unknown>) } };
}

function badRequest(errors: readonly FieldError[]): HttpResponseInit {
  const first = errors[0];
  return problem(400, `${first?.path ?? ''} ${first?.message ?? 'invalid'}`.trim(), { errors });
}
