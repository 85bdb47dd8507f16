import { z } from 'zod';
import { fieldErrors, type FieldError } from '../http/problem';

/** `GET /api/deadletters`: entries per page. */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 200;
/** Letters one `POST /api/deadletters/redrive` handles at most: it stays well inside the HTTP time limit. */
export const DEFAULT_REDRIVE_LIMIT = 100;
export const MAX_REDRIVE_LIMIT = 500;
/** The redrive-all body names a notification and maybe a limit and a token: a few hundred bytes. */
export const MAX_REDRIVE_BODY_BYTES = 8 * 1024;

const NOTIFICATION_ID = /^[a-z0-9]{1,64}$/;
const NOTIFICATION_ID_MESSAGE = 'must be a notification id (1 to 64 lower-case letters and digits)';
/** Any adapter's id: `native-42`, `parked-7` (Service Bus), a letter id (Azurite). */
const LETTER_ID = /^[A-Za-z0-9-]{1,100}$/;
/** The shape of our tokens (base64url); whether one is ours is for the adapter to say. */
const TOKEN = /^[A-Za-z0-9_-]{1,2000}$/;
const TOKEN_MESSAGE = 'not one this API gave out';

/** The query string as the Functions runtime gives it (URLSearchParams). */
export interface QueryParameters {
  get(name: string): string | null;
  has(name: string): boolean;
}

export interface DeadLetterQueryValue {
  readonly notificationId?: string;
  readonly limit: number;
  readonly continuationToken?: string;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: readonly FieldError[] };

export function checkLetterId(id: string): Parsed<string> {
  return LETTER_ID.test(id) ? { ok: true, value: id } : { ok: false, errors: [{ path: 'path:id', message: 'must be 1 to 100 letters, digits or dashes' }] };
}

/** `notificationId`, `limit` (or `pageSize`) and `continuationToken` from the query string. */
export function readDeadLetterQuery(query: QueryParameters, limits: { readonly max: number; readonly default: number }): Parsed<DeadLetterQueryValue> {
  const errors: FieldError[] = [];
  const notificationId = query.get('notificationId') ?? undefined;
  if (notificationId !== undefined && !NOTIFICATION_ID.test(notificationId)) errors.push({ path: 'query:notificationId', message: NOTIFICATION_ID_MESSAGE });
  const limitText = query.get('limit') ?? query.get('pageSize') ?? undefined;
  const limit = limitText === undefined ? limits.default : /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > limits.max) errors.push({ path: 'query:limit', message: `must be a whole number from 1 to ${limits.max}` });
  const continuationToken = query.get('continuationToken') ?? undefined;
  if (continuationToken !== undefined && !TOKEN.test(continuationToken)) errors.push({ path: 'query:continuationToken', message: TOKEN_MESSAGE });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { limit, ...(notificationId !== undefined && { notificationId }), ...(continuationToken !== undefined && { continuationToken }) } };
}

/** The relative URL of the listing's next page. */
export function nextPageLink(value: DeadLetterQueryValue & { readonly continuationToken: string }): string {
  const params = new URLSearchParams();
  if (value.notificationId !== undefined) params.set('notificationId', value.notificationId);
  params.set('limit', String(value.limit));
  params.set('continuationToken', value.continuationToken);
  return `/api/deadletters?${params.toString()}`;
}

export const redriveAllSchema = z
  .object({
    notificationId: z.string().regex(NOTIFICATION_ID, NOTIFICATION_ID_MESSAGE),
    limit: z.number().int().min(1).max(MAX_REDRIVE_LIMIT).optional(),
    continuationToken: z.string().regex(TOKEN, TOKEN_MESSAGE).optional(),
  })
  .strict();

export type RedriveAllRequest = z.infer<typeof redriveAllSchema>;

/**
 * A redrive-all's request: the query string's fields, then the JSON body's (an empty body reads as
 * `{}`), the body's winning where both give one.
 */
export function readRedriveAllRequest(query: QueryParameters, body: unknown): Parsed<RedriveAllRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errors: [{ path: '', message: 'expected a JSON object' }] };
  const fromQuery = readDeadLetterQuery(query, { max: MAX_REDRIVE_LIMIT, default: DEFAULT_REDRIVE_LIMIT });
  if (!fromQuery.ok) return fromQuery;
  const merged = {
    ...(fromQuery.value.notificationId !== undefined && { notificationId: fromQuery.value.notificationId }),
    ...((query.has('limit') || query.has('pageSize')) && { limit: fromQuery.value.limit }),
    ...(fromQuery.value.continuationToken !== undefined && { continuationToken: fromQuery.value.continuationToken }),
    ...body,
  };
  const parsed = redriveAllSchema.safeParse(merged);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, errors: fieldErrors(parsed.error) };
}
