/** One page of a listing, with the token for the next (absent on the last page). */
export interface Page<T> {
  readonly items: readonly T[];
  readonly continuationToken?: string;
}
