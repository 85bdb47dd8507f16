import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every callback carries: `sha256=<hex HMAC-SHA256 of the exact body>`. */
export const SIGNATURE_HEADER = 'X-Signature-256';

const PREFIX = 'sha256=';

/** The `X-Signature-256` value for `body`, signed with `key` (CALLBACK_SIGNING_KEY). */
export function signBody(body: string, key: string): string {
  return PREFIX + createHmac('sha256', key).update(body, 'utf8').digest('hex');
}

/**
 * True when `header` is the signature of `body` under `key`. A receiver verifies the raw body as
 * received, before parsing it: re-serialized JSON need not be the same bytes.
 */
export function verifySignature(body: string, header: string | undefined, key: string): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signBody(body, key));
  const actual = Buffer.from(header.trim());
  // timingSafeEqual throws on different lengths; the length of a hex digest is no secret.
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
