import { DEFAULT_PACING_POLICY, backlogMs, dueAt, initialTimeline, planTime, recover, reserve, throttled, type PacingPolicy } from '../../shared/pacing/tenantTimeline';

const policy: PacingPolicy = { ...DEFAULT_PACING_POLICY, maxRate: 50 };
const T0 = 1_800_000_000_000;

describe('a tenant send timeline', () => {
  it('spaces reserved sends at the rate less the headroom, one reservation after the other', () => {
    let state = initialTimeline(policy, T0);
    const first = reserve(state, 10, T0, 'bulk', T0, policy);
    state = first.state;
    expect(first.reservation.startAt).toBe(T0);
    expect(first.reservation.spacingMs).toBeCloseTo(1000 / (50 * policy.headroom), 6);
    const second = reserve(state, 10, T0, 'bulk', T0, policy);
    // The next reservation starts where the first ended.
    expect(second.reservation.startAt).toBeCloseTo(T0 + 10 * first.reservation.spacingMs, 6);
    // 51 planned sends never fit in one sliding second, with room for timer jitter.
    expect(50 * first.reservation.spacingMs).toBeGreaterThan(1020);
  });

  it('bulk work waits behind the backlog; urgent work starts now and pushes the backlog back', () => {
    let state = initialTimeline(policy, T0);
    const spacing = 1000 / (50 * policy.headroom);
    state = reserve(state, 500, T0, 'bulk', T0, policy).state; // ten seconds of backlog
    const urgent = reserve(state, 50, T0 + 100, 'urgent', T0 + 100, policy);
    expect(urgent.reservation.startAt).toBe(T0 + 100);
    expect(urgent.state.nextAt).toBeCloseTo(T0 + 550 * spacing, 6);
    const bulk = reserve(urgent.state, 1, T0 + 100, 'bulk', T0 + 100, policy);
    expect(bulk.reservation.startAt).toBeCloseTo(T0 + 550 * spacing, 6);
  });

  it('a 429 pauses the tenant and lowers the rate once per window; quiet time brings it back, quickly then slowly', () => {
    let state = initialTimeline(policy, T0);
    state = throttled(state, 1000, T0, policy);
    // A lone 429 after a quiet spell is most likely jitter: the rate comes down a little.
    const once = 50 * policy.isolatedDecreaseFactor;
    expect(state.rate).toBeCloseTo(once, 6);
    expect(state.ceiling).toBe(50);
    expect(state.pausedUntil).toBe(T0 + 1000);
    // More 429s from the same burst do not compound.
    state = throttled(state, 1000, T0 + 300, policy);
    expect(state.rate).toBeCloseTo(once, 6);
    // The plan's clock stopped for the pause: what was planned moves back by it, and so does the next reservation.
    expect(state.shiftMs).toBe(1300);
    const after = reserve(state, 1, T0, 'bulk', T0 + 300, policy).reservation;
    expect(after.startAt + after.shiftMs).toBe(T0 + 1300);
    // 429s that follow within the window lower it by 10 % each, and the ceiling follows.
    state = throttled(state, 1000, T0 + 1000, policy);
    expect(state.rate).toBeCloseTo(once * policy.decreaseFactor, 6);
    expect(state.ceiling).toBeCloseTo(once, 6);
    expect(state.ceilingHits).toBe(1);
    // One 429 at a rate may be jitter: quick recovery goes back to that rate within seconds...
    expect(recover(state, T0 + 1000 + 999, policy).rate).toBeCloseTo(once * policy.decreaseFactor, 6);
    const soon = recover(state, T0 + 1000 + 15_000, policy).rate;
    expect(soon).toBeGreaterThan(once - 0.1);
    expect(soon).toBeLessThanOrEqual(once + policy.probeStep * 3);
    // ...then probes past it, small at first and growing, never above the configured rate.
    expect(recover(state, T0 + 1000 + 30_000, policy).rate).toBeGreaterThan(soon);
    expect(recover(state, T0 + 1000 + 3_600_000, policy).rate).toBe(50);
    // A second 429 at that rate confirms the limit: recovery then stops just under it.
    const back = recover(state, T0 + 1000 + 15_000, policy);
    const confirmed = throttled(back, 1000, T0 + 16_000, policy);
    expect(confirmed.ceilingHits).toBe(2);
    const settled = recover(confirmed, T0 + 16_000 + 15_000, policy).rate;
    expect(settled).toBeGreaterThan(back.rate * policy.nearCeiling - 0.1);
    expect(settled).toBeLessThanOrEqual(back.rate * policy.nearCeiling + policy.probeStep * 3);
  });

  it('a lower rate reaches the sends already planned: past the 429, they move apart as if planned at it', () => {
    let state = initialTimeline(policy, T0);
    const planned = reserve(state, 500, T0, 'bulk', T0, policy); // ten seconds planned at once
    state = planned.state;
    const { startAt, spacingMs } = planned.reservation;
    const gapAt = (s: typeof state, i: number, spacing = spacingMs, start = startAt) => dueAt(s, start + (i + 1) * spacing) - dueAt(s, start + i * spacing);
    state = throttled(state, 1000, T0 + 2_000, policy);
    // The send due at the 429 waits out the pause...
    expect(dueAt(state, T0 + 2_000)).toBeCloseTo(T0 + 3_000, 2);
    // ...and go out at the lowered rate, a sliding second holding no more than it allows.
    const lowered = 50 * policy.isolatedDecreaseFactor * policy.headroom;
    expect(gapAt(state, 300)).toBeCloseTo(1000 / lowered, 2);
    // (Those sent before it kept their spacing.)
    expect(gapAt(state, 50)).toBeCloseTo(spacingMs, 2);
    // Work planned afterwards follows the backlog at the lowered rate, too.
    const next = reserve(state, 10, T0 + 2_100, 'bulk', T0 + 2_100, policy);
    expect(dueAt(next.state, next.reservation.startAt)).toBeCloseTo(dueAt(state, startAt + 500 * spacingMs), 2);
    expect(gapAt(next.state, 3, next.reservation.spacingMs, next.reservation.startAt)).toBeCloseTo(1000 / lowered, 2);
    expect(next.reservation.startAt + next.reservation.shiftMs).toBeCloseTo(dueAt(next.state, next.reservation.startAt), 2);
    // A second decrease compounds on the sends still ahead.
    state = throttled(next.state, 1000, T0 + 4_000, policy);
    expect(gapAt(state, 450)).toBeCloseTo(1000 / (lowered * policy.decreaseFactor), 2);
    // Once all of it is sent, new work starts now, spaced at the rate of the moment.
    const later = T0 + 60_000;
    expect(backlogMs(state, later)).toBe(0);
    const fresh = reserve(state, 10, later, 'bulk', later, policy);
    expect(dueAt(fresh.state, fresh.reservation.startAt)).toBeCloseTo(later, 2);
    expect(gapAt(fresh.state, 3, fresh.reservation.spacingMs, fresh.reservation.startAt)).toBeCloseTo(1000 / (recover(state, later, policy).rate * policy.headroom), 2);
  });

  it('stays exact through hours of 429s while always ten seconds ahead: a few bends, sends at the rate', () => {
    let state = initialTimeline(policy, T0);
    let lastAt = T0;
    // A long broadcast to a tenant whose limit is below the configured rate: a probe meets a 429
    // every 20 s or so, and planning keeps ten seconds ahead all along.
    for (let t = T0; t < T0 + 3 * 3_600_000; t += 500) {
      if ((t - T0) % 20_000 === 0 && t > T0) state = throttled(state, 1000, t, policy);
      while (backlogMs(state, t) < 10_000) {
        const { state: next, reservation } = reserve(state, 10, t, 'bulk', t, policy);
        state = next;
        lastAt = reservation.startAt + 9 * reservation.spacingMs;
      }
    }
    const now = T0 + 3 * 3_600_000;
    expect(state.bends.length).toBeLessThan(20);
    // Sends planned last are spaced at the rate of the moment, to the microsecond.
    const { reservation, state: after } = reserve(state, 2, now, 'bulk', now, policy);
    const gap = dueAt(after, reservation.startAt + reservation.spacingMs) - dueAt(after, reservation.startAt);
    expect(Math.abs(gap - 1000 / (recover(state, now, policy).rate * policy.headroom))).toBeLessThan(0.001);
    // And planned times map to wall-clock times and back.
    expect(Math.abs(planTime(after, dueAt(after, lastAt)) - lastAt)).toBeLessThan(0.01);
  });

  it('converges just under a limit lower than configured, with few 429s, and finds a raised limit again', () => {
    // A tenant whose real limit is 30: every moment planned above it meets a 429.
    let limit = 30;
    let state = initialTimeline(policy, T0);
    const rates: number[] = [];
    let throttles = 0;
    let foundWithin90s = 0;
    for (let t = T0; t < T0 + 1_200_000; t += 100) {
      if (t === T0 + 600_000) limit = 50;
      state = recover(state, t, policy);
      const sending = state.pausedUntil > t ? 0 : state.rate * policy.headroom;
      if (sending > limit) {
        state = throttled(state, 1000, t, policy);
        throttles += 1;
      }
      if (t > T0 + 60_000 && t < T0 + 600_000) rates.push(sending);
      if (t === T0 + 690_000) foundWithin90s = state.rate * policy.headroom;
    }
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    expect(mean).toBeGreaterThan(0.9 * 30);
    expect(Math.max(...rates)).toBeLessThanOrEqual(31);
    expect(throttles).toBeLessThan(60);
    // Within 90 s of the limit rising to 50, the rate has found it again, and stays there.
    expect(foundWithin90s).toBeGreaterThan(0.9 * 50);
    expect(state.rate * policy.headroom).toBeGreaterThan(0.9 * 50);
  });
});
