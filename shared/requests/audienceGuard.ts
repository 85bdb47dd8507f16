import { isFanOut, type Recipient } from '../domain/recipient';
import { fanOutAudience, type Audience, type AudienceDependencies, type Unavailable } from './measureAudience';

/** Why a request is refused before anything is written: its fan-out entries reach more people than it may. */
export interface GuardRefusal {
  readonly kind: 'refused';
  /** The count; with `more`, a lower bound (counting stopped once past the guard). */
  readonly audience: number;
  readonly more: boolean;
  readonly because: 'guard' | 'maxAudience';
}

export type GuardVerdict = { readonly kind: 'allowed' } | GuardRefusal | Unavailable;

/**
 * The guard against an accidental send to everyone (Company Communicator's #1399): fan-out entries
 * that reach more than `guard` people need `maxAudience`, and a request whose audience is already
 * past its own `maxAudience` is refused. Counting stops just past the guard, so an accept costs the
 * same however large the audience: a `maxAudience` above that is enforced by the expansion instead.
 */
export async function checkAudience(recipients: readonly Recipient[], maxAudience: number | undefined, guard: number, deps: AudienceDependencies): Promise<GuardVerdict> {
  if (!recipients.some(isFanOut)) return { kind: 'allowed' };
  const counted = await fanOutAudience(recipients, deps, guard);
  if (counted.kind === 'unavailable') return counted;
  return verdict(counted.value, counted.value > guard, maxAudience, guard);
}

/** The same verdict from a dry run's measured audience, so a dry run says whether the real send would be refused. */
export function dryRunVerdict(recipients: readonly Recipient[], audience: Audience, maxAudience: number | undefined, guard: number): GuardVerdict {
  const people = audience.entries.reduce((n, e) => n + (isFanOut(recipients[e.index] as Recipient) ? (e.total ?? 0) : 0), 0);
  return verdict(people, false, maxAudience, guard);
}

function verdict(people: number, more: boolean, maxAudience: number | undefined, guard: number): GuardVerdict {
  if (maxAudience === undefined) return people > guard ? { kind: 'refused', audience: people, more, because: 'guard' } : { kind: 'allowed' };
  // Past the guard the count is a lower bound: refuse only what is known to exceed the cap.
  return people > maxAudience ? { kind: 'refused', audience: people, more, because: 'maxAudience' } : { kind: 'allowed' };
}
