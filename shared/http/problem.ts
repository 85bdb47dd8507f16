import type { HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';

export interface FieldError {
  /** Where in the request body, e.g. `recipients[0].teamId`. */
  readonly path: string;
  readonly message: string;
}

/** RFC 9457 problem details, as every 4xx/5xx of the API answers. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
  readonly [extension: string]: unknown;
}

const TYPE_BASE = 'https://github.com/teams-notify/teams-notify/blob/main/README.md#errors';

const TITLES: Record<number, { slug: string; title: string }> = {
  400: { slug: 'invalid-request', title: 'The request is not valid' },
  401: { slug: 'unauthorized', title: 'A valid function key is required' },
  403: { slug: 'forbidden', title: 'Forbidden' },
  404: { slug: 'not-found', title: 'Not found' },
  405: { slug: 'method-not-allowed', title: 'Method not allowed' },
  409: { slug: 'idempotency-conflict', title: 'The Idempotency-Key was used with a different request' },
  413: { slug: 'payload-too-large', title: 'The request body is too large' },
  415: { slug: 'unsupported-media-type', title: 'The request body must be JSON' },
  422: { slug: 'audience-too-large', title: 'The audience is larger than the request allows' },
  500: { slug: 'internal-error', title: 'Internal error' },
  502: { slug: 'dependency-refused', title: 'A dependency refused the request' },
  503: { slug: 'unavailable', title: 'A dependency is unavailable' },
};

export function problem(status: number, detail: string, extra: { errors?: readonly FieldError[]; [k: string]: unknown } = {}): HttpResponseInit {
  const known = TITLES[status] ?? { slug: 'error', title: 'Error' };
  const body: Problem = { type: `${TYPE_BASE}-${known.slug}`, title: known.title, status, detail, ...extra };
  return { status, jsonBody: body, headers: { 'content-type': 'application/problem+json' } };
}

/** The `type` of a problem of this endpoint's own (`slug`), under the same base as the standard ones. */
export function problemType(slug: string): string {
  return `${TYPE_BASE}-${slug}`;
}

/** 400 naming every offending field, the first one in the detail. */
export function badRequest(errors: readonly FieldError[]): HttpResponseInit {
  const first = errors[0];
  return problem(400, `${first?.path ?? ''} ${first?.message ?? 'invalid'}`.trim(), { errors });
}

/** `recipients.0.teamId` → `recipients[0].teamId`, the path style the contract shows. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number' || (typeof part === 'string' && /^\d+$/.test(part))) out += `[${String(part)}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}
