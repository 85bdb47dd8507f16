/** One page of a listing, with the token for the next (absent on the last page). */
export interface Page<T> {
  readonly items: readonly T[];
  readonly continuationToken?: string;
}

/**
 * The Tables SDK's own continuation (base64 JSON with a `nextPartitionKey`), checked before the
 * SDK sees it: the SDK decodes it blindly and throws on anything else, which would be a 500 for
 * what is the caller's mistake. The token itself when it is one, undefined otherwise.
 */
export function tableContinuation(token: string): string | undefined {
  if (token === '' || !/^[A-Za-z0-9+/=_-]+$/.test(token)) return undefined;
  try {
    const inner = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { nextPartitionKey?: unknown; nextRowKey?: unknown } | null;
    if (typeof inner?.nextPartitionKey !== 'string' || inner.nextPartitionKey === '') return undefined;
    return inner.nextRowKey === undefined || typeof inner.nextRowKey === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}
