/**
 * A tenant's send timeline: the one piece of state that lets any number of instances share the
 * tenant's Bot Connector limit without knowing of each other. Every recipient gets a send time
 * on it, `1000 / rate` ms after the one before, when its page is planned; instances then send
 * at those times. Kept in Table Storage (see `TableTimelineStore`); these are its rules, pure.
 *
 * The rate adapts, because Teams says its limit is "subject to change" (older documentation: 30).
 * A 429 lowers it multiplicatively (a little for a lone one, which is most likely jitter; 10 % for
 * the ones that follow), once per `decreaseWindowMs` so that one burst of 429s counts
 * once, and remembers the rate that met it as the `ceiling`. Quiet time brings the rate back:
 * quickly up to the ceiling (just under it once a second 429 there confirmed it), then in small
 * steps past it, since every 429 costs the tenant a whole `Retry-After` of silence. So a tenant whose limit is lower than configured
 * settles just under it, and one whose limit rises is found again.
 */
/** A point of the plan clock's mapping: `[planned time, extra delay in ms]`. */
export type Bend = readonly [number, number];

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
  /**
   * Where the planned sends were moved apart: `[planned time, extra delay]` points, sorted, with
   * the extra delay interpolated between them and constant before the first and after the last.
   * A lower rate must reach the sends already planned, or they would meet the lower limit at the
   * old spacing: a decrease spreads the backlog planned at that moment (from the send due now to
   * the last one planned) by the ratio of the rates; work planned later is spaced at the new rate
   * as usual. Points far in the past are dropped, so the list stays a few entries long.
   */
  readonly bends: readonly Bend[];
  /** Requests per second the timeline is spaced at now. */
  readonly rate: number;
  /** Epoch ms until which Teams asked this tenant to wait (429 Retry-After). */
  readonly pausedUntil: number;
  readonly lastDecreaseAt: number;
  readonly lastIncreaseAt: number;
  /** The rate the last 429 met (0 before any): recovery is quick below it and slow past it. */
  readonly ceiling: number;
  /**
   * 429s met at about the same ceiling in a row. One 429 may be jitter (a request landing a few
   * ms early in the sliding second), so quick recovery goes back to the ceiling itself; a second
   * one there says the limit is real, and recovery stops just under it.
   */
  readonly ceilingHits: number;
  /** Probes made past the ceiling since the last 429: the next one grows by `probeStep × 2^probes`. */
  readonly probes: number;
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
  /**
   * A lone 429 after this long without one is most likely jitter (one request that landed a few
   * ms early in the sliding second): it lowers the rate by `isolatedDecreaseFactor` only. 429s that
   * follow within this time lower it by `decreaseFactor`, so a real lower limit is still met fast.
   */
  readonly isolatedAfterMs: number;
  readonly isolatedDecreaseFactor: number;
  /** Each quiet second, the rate closes this share of its distance to just under the ceiling. */
  readonly recoverShare: number;
  /** Where quick recovery stops once a ceiling is confirmed: this share of it. */
  readonly nearCeiling: number;
  /** A 429 at this share of the ceiling or more confirms it. */
  readonly sameCeiling: number;
  /**
   * Past that, the rate grows every `probeEveryMs` without a 429: by this much at first, then by
   * twice the step before. Near a real limit the first small probes meet it; a limit that rose
   * (30 to 50) is found within a minute.
   */
  readonly probeStep: number;
  /**
   * How often to probe: every `probeEveryMs` at first, twice as seldom for each further 429 that
   * confirms the same ceiling (up to 8 times as seldom), since each probe that meets the limit
   * costs a `Retry-After` of silence.
   */
  readonly probeEveryMs: number;
}

export const DEFAULT_PACING_POLICY: Omit<PacingPolicy, 'maxRate'> = {
  minRate: 1,
  headroom: 0.975,
  decreaseFactor: 0.9,
  decreaseWindowMs: 1_000,
  isolatedAfterMs: 30_000,
  isolatedDecreaseFactor: 0.975,
  recoverShare: 0.4,
  nearCeiling: 0.97,
  sameCeiling: 0.98,
  probeStep: 0.25,
  probeEveryMs: 5_000,
};

/** Bulk work queues behind the tenant's backlog; urgent work starts now and pushes the backlog back. */
export type Lane = 'bulk' | 'urgent';

export interface Reservation {
  /** Send time of the first recipient, on the plan's clock (epoch ms). */
  readonly startAt: number;
  /** Time between two sends, on the plan's clock. */
  readonly spacingMs: number;
  /** How far the first send lagged the wall clock when reserved: it was due at `startAt + shiftMs` then. */
  readonly shiftMs: number;
}

export function initialTimeline(policy: PacingPolicy, now: number): TimelineState {
  return { nextAt: now, shiftMs: 0, bends: [], rate: policy.maxRate, pausedUntil: 0, lastDecreaseAt: 0, lastIncreaseAt: now, ceiling: 0, ceilingHits: 0, probes: 0 };
}

/** When a send planned at `at` is due on the wall clock: later by every pause, and by the spreading of a decrease. */
export function dueAt(state: TimelineState, at: number): number {
  return at + state.shiftMs + extraAt(state.bends, at);
}

function extraAt(bends: readonly Bend[], at: number): number {
  const first = bends[0];
  if (first === undefined) return 0;
  if (at <= first[0]) return first[1];
  for (let i = 1; i < bends.length; i++) {
    const [x1, y1] = bends[i] as Bend;
    if (at <= x1) {
      const [x0, y0] = bends[i - 1] as Bend;
      return x1 === x0 ? y1 : y0 + ((y1 - y0) * (at - x0)) / (x1 - x0);
    }
  }
  return (bends[bends.length - 1] as Bend)[1];
}

/** The plan's clock at a wall-clock time: the inverse of `dueAt` (which only ever grows with `at`). */
export function planTime(state: TimelineState, wall: number): number {
  const { bends, shiftMs } = state;
  const first = bends[0];
  if (first === undefined) return wall - shiftMs;
  const due = (b: Bend) => b[0] + shiftMs + b[1];
  if (wall <= due(first)) return wall - shiftMs - first[1];
  for (let i = 1; i < bends.length; i++) {
    const b1 = bends[i] as Bend;
    if (wall <= due(b1)) {
      const b0 = bends[i - 1] as Bend;
      const span = due(b1) - due(b0);
      return span <= 0 ? b1[0] : b0[0] + ((b1[0] - b0[0]) * (wall - due(b0))) / span;
    }
  }
  return wall - shiftMs - (bends[bends.length - 1] as Bend)[1];
}

/** Bends this far behind the send due now are dropped: no planned send is that late. */
const KEEP_BENDS_MS = 60_000;

/** Drops the bends long past, keeping the last of them as the anchor of the ones after it. */
function pruned(state: TimelineState, now: number): TimelineState {
  if (state.bends.length === 0) return state;
  const cutoff = planTime(state, now - KEEP_BENDS_MS);
  let drop = 0;
  while (drop + 1 < state.bends.length && (state.bends[drop + 1] as Bend)[0] <= cutoff) drop += 1;
  const bends = state.bends.slice(drop);
  const only = bends[0];
  if (bends.length === 1 && only !== undefined && only[0] <= cutoff) {
    // All that is left is a constant delay: the same as a longer shift.
    return { ...state, shiftMs: state.shiftMs + only[1], bends: [] };
  }
  return drop === 0 ? state : { ...state, bends };
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
  const recovered = pruned(recover(state, now, policy), now);
  const spacingMs = 1000 / (recovered.rate * policy.headroom);
  const notBefore = planTime(recovered, Math.max(earliest, recovered.pausedUntil, now));
  const span = count * spacingMs;
  // Urgent work goes ahead of the backlog: it starts at once, and the bulk work not yet planned moves back by as much.
  const startAt = lane === 'urgent' ? notBefore : Math.max(recovered.nextAt, notBefore);
  const nextAt = lane === 'urgent' ? Math.max(recovered.nextAt, startAt) + span : startAt + span;
  return { state: { ...recovered, nextAt }, reservation: { startAt, spacingMs, shiftMs: dueAt(recovered, startAt) - startAt } };
}

/** Teams answered 429 for this tenant: pause it, and lower the rate unless a 429 just did. */
export function throttled(state: TimelineState, retryAfterMs: number, now: number, policy: PacingPolicy): TimelineState {
  const pausedUntil = Math.max(state.pausedUntil, now + retryAfterMs);
  // Only the part of the pause that is new moves the plan back.
  const added = pausedUntil - Math.max(state.pausedUntil, now);
  const decrease = now - state.lastDecreaseAt >= policy.decreaseWindowMs;
  const factor = now - state.lastDecreaseAt >= policy.isolatedAfterMs ? policy.isolatedDecreaseFactor : policy.decreaseFactor;
  const slowed = decrease ? slowedDown(state, Math.max(policy.minRate, state.rate * factor), now) : state;
  return {
    ...slowed,
    pausedUntil,
    shiftMs: slowed.shiftMs + Math.max(0, added),
    ...(decrease && {
      lastDecreaseAt: now,
      lastIncreaseAt: now,
      ceiling: state.rate,
      ceilingHits: state.ceiling > 0 && state.rate >= state.ceiling * policy.sameCeiling ? state.ceilingHits + 1 : 1,
      probes: 0,
    }),
  };
}

/**
 * The rate drops to `rate`: the sends planned from the one due now to the last one planned move
 * apart by the ratio, as if they had been planned at the lower rate; work planned later is spaced
 * at the new rate as usual. Nothing due before now moves.
 */
function slowedDown(state: TimelineState, rate: number, now: number): TimelineState {
  const from = planTime(state, now);
  const to = state.nextAt;
  if (to <= from) return { ...state, rate };
  const ratio = state.rate / rate;
  const base = dueAt(state, from);
  // The extra delay a planned time gets: (ratio - 1) x how long after the send due now it was due.
  const added = (at: number) => (ratio - 1) * (dueAt(state, Math.min(Math.max(at, from), to)) - base);
  const inside = state.bends.map((b) => b[0]).filter((x) => x > from && x < to);
  const bends: Bend[] = [
    ...state.bends.filter((b) => b[0] < from),
    ...[from, ...inside, to].map((x): Bend => [x, extraAt(state.bends, x) + added(x)]),
    ...state.bends.filter((b) => b[0] > to).map((b): Bend => [b[0], b[1] + added(b[0])]),
  ];
  return { ...state, rate, bends };
}

/** The rate after the quiet time since it last changed: quickly back to just under the ceiling, then slowly past it. */
export function recover(state: TimelineState, now: number, policy: PacingPolicy): TimelineState {
  if (state.rate >= policy.maxRate) return state.rate === policy.maxRate ? state : { ...state, rate: policy.maxRate };
  let rate = state.rate;
  let at = state.lastIncreaseAt;
  const ceiling = state.ceiling > 0 ? state.ceiling : policy.maxRate;
  const target = Math.min(policy.maxRate, state.ceilingHits >= 2 ? ceiling * policy.nearCeiling : ceiling);
  // Quick: one step a second, each closing a share of the distance to the target.
  while (rate < target - 0.01 && now - at >= 1_000) {
    rate = Math.min(target, rate + Math.max(0.1, (target - rate) * policy.recoverShare));
    at += 1_000;
  }
  // Slow: past the target, probes, small at first, since a 429 there costs a second of silence.
  let probes = state.probes;
  if (rate >= target - 0.01) {
    rate = Math.max(rate, target);
    const every = policy.probeEveryMs * 2 ** Math.min(Math.max(state.ceilingHits - 1, 0), 3);
    while (now - at >= every && rate < policy.maxRate) {
      rate = Math.min(policy.maxRate, rate + policy.probeStep * 2 ** Math.min(probes, 10));
      probes += 1;
      at += every;
    }
  }
  return rate === state.rate ? state : { ...state, rate, lastIncreaseAt: at, probes };
}

/** How far ahead of now the tenant's bulk work is already planned. */
export function backlogMs(state: TimelineState, now: number): number {
  return Math.max(0, dueAt(state, state.nextAt) - now);
}
