import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';
import { jsonShapeProblem } from './jsonShape';
import { fieldErrors, problem } from './problem';

/** The contract's 1 MiB: room for 10,000 recipient entries and a 28 KB message, small enough to refuse floods. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type BodyResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly response: HttpResponseInit };

/** Reads a JSON body, refusing what is not JSON (415), too large (413) or malformed (400). */
export async function readJsonBody(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<BodyResult> {
  const refused = contentTypeProblem(request) ?? declaredSizeProblem(request, maxBytes);
  if (refused !== undefined) return { ok: false, response: refused };
  return parseJsonText(await request.text(), maxBytes);
}

/** For a body that may be left out: none at all (or only white space) reads as `{}`; anything else as `readJsonBody`. */
export async function readOptionalJsonBody(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<BodyResult> {
  const tooLarge = declaredSizeProblem(request, maxBytes);
  if (tooLarge !== undefined) return { ok: false, response: tooLarge };
  // Read once, within the size check: a blank body needs no content type.
  const text = await request.text();
  if (text.trim() === '') return { ok: true, value: {} };
  const wrongType = contentTypeProblem(request);
  if (wrongType !== undefined) return { ok: false, response: wrongType };
  return parseJsonText(text, maxBytes);
}

function contentTypeProblem(request: HttpRequest): HttpResponseInit | undefined {
  const contentType = request.headers.get('content-type') ?? '';
  if (/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(contentType.trim())) return undefined;
  return problem(415, `send the body as application/json (got ${contentType === '' ? 'no content-type' : JSON.stringify(contentType.slice(0, 100))})`);
}

function declaredSizeProblem(request: HttpRequest, maxBytes: number): HttpResponseInit | undefined {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  return Number.isFinite(declared) && declared > maxBytes ? problem(413, `the body is ${declared} bytes; the limit is ${maxBytes}`) : undefined;
}

/** The body's text as JSON: its real size (413), empty or malformed (400), depth and prototype keys (400). */
function parseJsonText(text: string, maxBytes: number): BodyResult {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) return { ok: false, response: problem(413, `the body is ${size} bytes; the limit is ${maxBytes}`) };
  if (text.trim() === '') return { ok: false, response: problem(400, 'the body is empty', { errors: [{ path: '', message: 'expected a JSON object' }] }) };
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    // Where, not the parser's own words (they quote the body and change between Node versions).
    const position = error instanceof Error ? /at position (\d+)/.exec(error.message)?.[1] : undefined;
    const message = position === undefined ? 'not valid JSON' : `not valid JSON at position ${position}`;
    return { ok: false, response: problem(400, `the body is ${message}`, { errors: [{ path: '', message }] }) };
  }
  const shape = jsonShapeProblem(value);
  if (shape !== undefined) return { ok: false, response: problem(400, `the body is refused: ${shape.path === '' ? '' : `${shape.path} `}${shape.message}`, { errors: [shape] }) };
  return { ok: true, value };
}

export type ValidatedBody<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly response: HttpResponseInit };

/** A JSON body checked against a schema: 400 naming every offending field, as every endpoint answers. */
export async function readValidatedBody<S extends z.ZodType>(request: HttpRequest, schema: S): Promise<ValidatedBody<z.infer<S>>> {
  const body = await readJsonBody(request);
  if (!body.ok) return body;
  const parsed = schema.safeParse(body.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors = fieldErrors(parsed.error);
  const detail = `${errors.length} problem${errors.length === 1 ? '' : 's'} in the request: ${errors[0]?.path ?? ''} ${errors[0]?.message ?? ''}`.trim();
  return { ok: false, response: problem(400, detail, { errors }) };
}
