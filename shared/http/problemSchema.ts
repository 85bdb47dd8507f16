import { z } from 'zod';
import type { FieldError, Problem } from './problem';

/** One offending field of a 400 (or the field a 422 is about): `recipients[0].teamId`, `query:pageSize`, `header:Idempotency-Key`. */
export const fieldErrorSchema = z
  .object({ path: z.string().describe('Where: a body path (`recipients[0].teamId`), or `query:<name>` / `header:<name>` / `path:<name>`; empty for the body as a whole'), message: z.string() })
  .strict();

/**
 * RFC 9457 problem details, the body of every 4xx/5xx (`application/problem+json`). Some problems
 * carry extensions (a 422's `audience`, a 503's `dependencies`): other members are allowed.
 */
export const problemSchema = z
  .object({
    type: z.url().describe('A URI naming the kind of problem (a README anchor)'),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    errors: z.array(fieldErrorSchema).optional(),
  })
  .catchall(z.unknown());

// The schema and the type `problem()` builds must stay one shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _fieldError: Same<z.infer<typeof fieldErrorSchema>, FieldError> = true;
const _problem: z.infer<typeof problemSchema> extends Problem ? true : false = true;
void _fieldError;
void _problem;
