/**
 * A tenant's send timeline: the one piece of state that lets any number of instances share the
 * tenant's Bot Connector limit without knowing of each other. Every recipient gets a send time
 * on it, `1000 / rate` ms after the one before, when its page is expanded; instances then send
 * at those times. Kept in Table Storage (see `TableTimelineStore`); these are its rules, pure.
 *
 * The rate adapts, because Teams says its limit is "subject to change": a 429 lowers it
 * multiplicatively (once per `decreaseWindowMs`, so one burst of 429s counts once), and every
 * `increaseEveryMs` without one raises it by `increaseStep`, up to the configured rate.
 */
export interface TimelineState {
  /** Epoch ms of the next free send time for bulk work. */
  readonly nextAt: number;
  /** Requests per second the timeline is spaced at now. */
  readonly rate: number;
  /** Epoch ms until which Teams asked this tenant to wait (429 Retry-After). */
  readonly pausedUntil: number;
  readonly lastDecreaseAt: number;
  readonly lastIncreaseAt: number;
}

export interface PacingPolicy {
  /** The configured rate (SEND_RATE_PER_SECOND). */
  readonly maxRate: number;
  readonly minRate: number;
  /**
   * Share of the rate that planned sends use. The rest absorbs what is not planned (welcomes,
   * command replies, retries) and the latency jitter that would push the rate-th + 1 request of a
   * sliding second into it.
   */
  readonly headroom: number;
  readonly decreaseFactor: number;
  readonly decreaseWindowMs: number;
  readonly increaseStep: number;
  readonly increaseEveryMs: number;
}

export const DEFAULT_PACING_POLICY: Omit<PacingPolicy, 'maxRate'> = {
  minRate: 1,
  headroom: 0.98,
  decreaseFactor: 0.85,
  decreaseWindowMs: 1_000,
  increaseStep: 1,
  increaseEveryMs: 5_000,
};

/** Bulk work queues behind the tenant's backlog; urgent work starts now and pushes the backlog back. */
export type Lane = 'bulk' | 'urgent';

export interface Reservation {
  /** Send time of the first recipient (epoch ms). */
  readonly startAt: number;
  /** Time between two sends. */
  readonly spacingMs: number;
}

export function initialTimeline(policy: PacingPolicy, now: number): TimelineState {
  return { nextAt: now, rate: policy.maxRate, pausedUntil: 0, lastDecreaseAt: 0, lastIncreaseAt: now };
}

/** Send times for `count` recipients, no earlier than `earliest`, and the timeline after them. */
export function reserve(
  state: TimelineState,
  count: number,
  earliest: number,
  lane: Lane,
  now: number,
  policy: PacingPolicy,
): { state: TimelineState; reservation: Reservation } {
  const recovered = recover(state, now, policy);
  const spacingMs = 1000 / (recovered.rate * policy.headroom);
  const notBefore = Math.max(earliest, recovered.pausedUntil, now);
  const span = count * spacingMs;
  if (lane === 'urgent') {
    // Ahead of the backlog: it starts at once, and the bulk work not yet planned moves back by as much.
    const startAt = notBefore;
    return { state: { ...recovered, nextAt: Math.max(recovered.nextAt, startAt) + span }, reservation: { startAt, spacingMs } };
  }
  const startAt = Math.max(recovered.nextAt, notBefore);
  return { state: { ...recovered, nextAt: startAt + span }, reservation: { startAt, spacingMs } };
}

/** Teams answered 429 for this tenant: pause it, and lower the rate unless a 429 just did. */
export function throttled(state: TimelineState, retryAfterMs: number, now: number, policy: PacingPolicy): TimelineState {
  const pausedUntil = Math.max(state.pausedUntil, now + retryAfterMs);
  const decrease = now - state.lastDecreaseAt >= policy.decreaseWindowMs;
  return {
    ...state,
    pausedUntil,
    nextAt: Math.max(state.nextAt, pausedUntil),
    ...(decrease && { rate: Math.max(policy.minRate, state.rate * policy.decreaseFactor), lastDecreaseAt: now }),
  };
}

/** Additive increase: one step for every quiet interval since the last change, up to the configured rate. */
export function recover(state: TimelineState, now: number, policy: PacingPolicy): TimelineState {
  if (state.rate >= policy.maxRate) return state.rate === policy.maxRate ? state : { ...state, rate: policy.maxRate };
  const since = Math.max(state.lastDecreaseAt, state.lastIncreaseAt);
  const steps = Math.floor((now - since) / policy.increaseEveryMs);
  if (steps <= 0) return state;
  return { ...state, rate: Math.min(policy.maxRate, state.rate + steps * policy.increaseStep), lastIncreaseAt: since + steps * policy.increaseEveryMs };
}

/** How far ahead of now the tenant's bulk work is already planned. */
export function backlogMs(state: TimelineState, now: number): number {
  return Math.max(0, state.nextAt - now);
}
