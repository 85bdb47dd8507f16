/**
 * A `Retry-After` header in milliseconds: seconds (whole or not; a negative one is 0) or an HTTP
 * date. `undefined` for a value that is neither: the caller decides what a broken header means.
 */
export function parseRetryAfter(value: string, now = Date.now()): number | undefined {
  const v = value.trim();
  const seconds = Number(v);
  if (v !== '' && Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
