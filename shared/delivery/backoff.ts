export interface BackoffPolicy {
  /** First transient retry waits about this long; each further one doubles it. */
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 2_000, maxMs: 5 * 60_000 };

/**
 * Exponential backoff with "equal jitter": half fixed, half random, so retries of many recipients
 * spread out instead of arriving together, while each still waits at least half the step.
 */
export function transientDelayMs(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry));
  return Math.round(step / 2 + random() * (step / 2));
}

/** After a 429: what Teams asked for (Retry-After) plus up to 20% jitter, else backoff by throttle count. */
export function throttleDelayMs(retryAfterMs: number | undefined, throttles: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined) return Math.round(retryAfterMs * (1 + random() * 0.2));
  return transientDelayMs(throttles, policy, random);
}
