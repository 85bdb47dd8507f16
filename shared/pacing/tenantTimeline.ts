/**
 * A tenant's send timeline: the one piece of state that lets any number of instances share the
 * tenant's Bot Connector limit without knowing of each other. Every recipient gets a send time
 * on it, `1000 / rate` ms after the one before, when its page is planned; instances then send
 * at those times. Kept in Table Storage (see `TableTimelineStore`); these are its rules, pure.
 *
 * The rate adapts, because Teams says its limit is "subject to change" (older documentation: 30).
 * A 429 lowers it multiplicatively, once per `decreaseWindowMs` so that one burst of 429s counts
 * once, and remembers the rate that met it as the `ceiling`. Quiet time brings the rate back:
 * quickly up to just under the ceiling, then in small steps past it, since every 429 costs the
 * tenant a whole `Retry-After` of silence. So a tenant whose limit is lower than configured
 * settles just under it, and one whose limit rises is found again.
 */
export interface TimelineState {
  /**
   * The next free send time for bulk work, on the plan's clock. Send times are planned on a clock
   * that stops while Teams has the tenant paused: a planned time `at` is due at `at + shiftMs`.
   * So a pause moves every planned send back by its length at once, on every instance, and the
   * sends held by it go out at their spacing afterwards instead of all together.
   */
  readonly nextAt: number;
  /** Total time the tenant has been paused by 429s: how far planned times lag the wall clock. */
  readonly shiftMs: number;
  /** Requests per second the timeline is spaced at now. */
  readonly rate: number;
  /** Epoch ms until which Teams asked this tenant to wait (429 Retry-After). */
  readonly pausedUntil: number;
  readonly lastDecreaseAt: number;
  readonly lastIncreaseAt: number;
  /** The rate the last 429 met (0 before any): recovery is quick below it and slow past it. */
  readonly ceiling: number;
}

export interface PacingPolicy {
  /** The configured rate (SEND_RATE_PER_SECOND). */
  readonly maxRate: number;
  readonly minRate: number;
  /**
   * Share of the rate that planned sends use. Fifty sends 1000 / 50 ms apart span exactly one
   * second, so at the full rate a few milliseconds of timer jitter put the 51st request of a
   * sliding second into it; the rest also absorbs what is not planned (welcomes, command replies).
   */
  readonly headroom: number;
  readonly decreaseFactor: number;
  readonly decreaseWindowMs: number;
  /** Each quiet second, the rate closes this share of its distance to just under the ceiling. */
  readonly recoverShare: number;
  /** Where quick recovery stops: this share of the ceiling. */
  readonly nearCeiling: number;
  /** Past that, the rate grows by this much every `probeEveryMs` without a 429. */
  readonly probeStep: number;
  readonly probeEveryMs: number;
}

export const DEFAULT_PACING_POLICY: Omit<PacingPolicy, 'maxRate'> = {
  minRate: 1,
  headroom: 0.975,
  decreaseFactor: 0.9,
  decreaseWindowMs: 1_000,
  recoverShare: 0.4,
  nearCeiling: 0.97,
  probeStep: 0.25,
  probeEveryMs: 5_000,
};

/** Bulk work queues behind the tenant's backlog; urgent work starts now and pushes the backlog back. */
export type Lane = 'bulk' | 'urgent';

export interface Reservation {
  /** Send time of the first recipient, on the plan's clock (epoch ms). */
  readonly startAt: number;
  /** Time between two sends. */
  readonly spacingMs: number;
  /** The plan's lag behind the wall clock when reserved: a time `at` was due at `at + shiftMs` then. */
  readonly shiftMs: number;
}

export function initialTimeline(policy: PacingPolicy, now: number): TimelineState {
  return { nextAt: now, shiftMs: 0, rate: policy.maxRate, pausedUntil: 0, lastDecreaseAt: 0, lastIncreaseAt: now, ceiling: 0 };
}

/**
 * Send times for `count` recipients, on the plan's clock (see `nextAt`), no earlier than the wall
 * clock's `earliest`, and the timeline after them.
 */
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
  const notBefore = Math.max(earliest, recovered.pausedUntil, now) - recovered.shiftMs;
  const span = count * spacingMs;
  if (lane === 'urgent') {
    // Ahead of the backlog: it starts at once, and the bulk work not yet planned moves back by as much.
    const startAt = notBefore;
    return { state: { ...recovered, nextAt: Math.max(recovered.nextAt, startAt) + span }, reservation: { startAt, spacingMs, shiftMs: recovered.shiftMs } };
  }
  const startAt = Math.max(recovered.nextAt, notBefore);
  return { state: { ...recovered, nextAt: startAt + span }, reservation: { startAt, spacingMs, shiftMs: recovered.shiftMs } };
}

/** Teams answered 429 for this tenant: pause it, and lower the rate unless a 429 just did. */
export function throttled(state: TimelineState, retryAfterMs: number, now: number, policy: PacingPolicy): TimelineState {
  const pausedUntil = Math.max(state.pausedUntil, now + retryAfterMs);
  // Only the part of the pause that is new moves the plan back.
  const added = pausedUntil - Math.max(state.pausedUntil, now);
  const decrease = now - state.lastDecreaseAt >= policy.decreaseWindowMs;
  return {
    ...state,
    pausedUntil,
    shiftMs: state.shiftMs + Math.max(0, added),
    ...(decrease && { rate: Math.max(policy.minRate, state.rate * policy.decreaseFactor), lastDecreaseAt: now, lastIncreaseAt: now, ceiling: state.rate }),
  };
}

/** The rate after the quiet time since it last changed: quickly back to just under the ceiling, then slowly past it. */
export function recover(state: TimelineState, now: number, policy: PacingPolicy): TimelineState {
  if (state.rate >= policy.maxRate) return state.rate === policy.maxRate ? state : { ...state, rate: policy.maxRate };
  let rate = state.rate;
  let at = state.lastIncreaseAt;
  const target = Math.min(policy.maxRate, (state.ceiling > 0 ? state.ceiling : policy.maxRate) * policy.nearCeiling);
  // Quick: one step a second, each closing a share of the distance to the target.
  while (rate < target - 0.01 && now - at >= 1_000) {
    rate = Math.min(target, rate + Math.max(0.1, (target - rate) * policy.recoverShare));
    at += 1_000;
  }
  // Slow: past the target, small probes, since a 429 there costs a second of silence.
  if (rate >= target - 0.01) {
    const steps = Math.floor((now - at) / policy.probeEveryMs);
    if (steps > 0) {
      rate = Math.min(policy.maxRate, Math.max(rate, target) + steps * policy.probeStep);
      at += steps * policy.probeEveryMs;
    }
  }
  return rate === state.rate ? state : { ...state, rate, lastIncreaseAt: at };
}

/** How far ahead of now the tenant's bulk work is already planned. */
export function backlogMs(state: TimelineState, now: number): number {
  return Math.max(0, state.nextAt + state.shiftMs - now);
}

/** When a send planned at `at` is due on the wall clock. */
export function dueAt(state: TimelineState, at: number): number {
  return at + state.shiftMs;
}
