import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { badRequest, problem, problemType } from '../../shared/http/problem';
import { readOptionalJsonBody } from '../../shared/http/readJsonBody';
import { InvalidContinuationToken } from '../../shared/queue/deadLetters';
import {
  checkLetterId,
  DEFAULT_LIST_LIMIT,
  DEFAULT_REDRIVE_LIMIT,
  MAX_LIST_LIMIT,
  MAX_REDRIVE_BODY_BYTES,
  nextPageLink,
  readDeadLetterQuery,
  readRedriveAllRequest,
} from '../../shared/requests/deadLetterQuery';
import { listDeadLetters as list } from '../../shared/requests/listDeadLetters';
import { redriveDeadLetter as redriveOne, redriveNotification } from '../../shared/requests/redriveDeadLetters';
import { services } from '../../shared/services';
import { functionLogger } from '../../shared/telemetry/functionLogger';

/** GET /api/deadletters?notificationId=&limit=&continuationToken=: parked jobs, a page at a time. */
export async function listDeadLetters(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const query = readDeadLetterQuery(request.query, { max: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT });
  if (!query.ok) return badRequest(query.errors);
  const svc = services();
  await svc.ready();
  const page = await refusingForeignTokens(() => list(query.value, svc));
  if (!page.ok) return page.response;
  const { items, continuationToken } = page.value;
  if (continuationToken === undefined) return { status: 200, jsonBody: { items } };
  return { status: 200, jsonBody: { items, continuationToken, next: nextPageLink({ ...query.value, continuationToken }) } };
}

/** POST /api/deadletters/{id}/redrive: one parked job back on the queue, where that is safe (see `redriveDeadLetter`). */
export async function redriveDeadLetter(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const id = checkLetterId(request.params.id ?? '');
  if (!id.ok) return badRequest(id.errors);
  const svc = services();
  await svc.ready();
  const result = await redriveOne(id.value, svc);
  if (result.kind === 'not-found') return problem(404, `no dead letter with id "${id.value}"`);
  if (result.kind === 'refused') {
    return problem(409, `not redriven: ${result.why}`, { type: problemType('not-redrivable'), title: 'The dead letter cannot be redriven safely', id: id.value, recipients: result.recipients });
  }
  const { kind: _kind, ...redriven } = result;
  functionLogger(context).log(`dead letter ${id.value} redriven (letter ${result.letter})`, { notificationId: result.notificationId, jobKind: result.jobKind, outcome: 'redriven' });
  return { status: 202, jsonBody: { ...redriven, status: 'redriven' } };
}

/**
 * POST /api/deadletters/redrive (`notificationId` in the query or a JSON body): every parked job of
 * one notification, `limit` at a time; the answer's `continuationToken` goes on with the rest.
 */
export async function redriveNotificationDeadLetters(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const body = await readOptionalJsonBody(request, MAX_REDRIVE_BODY_BYTES);
  if (!body.ok) return body.response;
  const parsed = readRedriveAllRequest(request.query, body.value);
  if (!parsed.ok) return badRequest(parsed.errors);
  const { notificationId, limit = DEFAULT_REDRIVE_LIMIT, continuationToken } = parsed.value;
  const svc = services();
  await svc.ready();
  const result = await refusingForeignTokens(() => redriveNotification(notificationId, { limit, ...(continuationToken !== undefined && { continuationToken }) }, svc));
  if (!result.ok) return result.response;
  functionLogger(context).log(`dead letters: ${result.value.redriven} redriven (${result.value.kept} kept), ${result.value.refused} refused`, { notificationId, outcome: 'redriven', count: result.value.redriven });
  return { status: 202, jsonBody: result.value };
}

/** A token of the right shape that an adapter does not recognise is the caller's mistake: 400, not 500. */
async function refusingForeignTokens<T>(run: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; response: HttpResponseInit }> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    if (error instanceof InvalidContinuationToken) return { ok: false, response: badRequest([{ path: 'continuationToken', message: 'not one this API gave out' }]) };
    throw error;
  }
}
