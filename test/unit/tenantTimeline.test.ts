import { DEFAULT_PACING_POLICY, initialTimeline, recover, reserve, throttled, type PacingPolicy } from '../../shared/pacing/tenantTimeline';

const policy: PacingPolicy = { ...DEFAULT_PACING_POLICY, maxRate: 50 };
const T0 = 1_800_000_000_000;

describe('a tenant send timeline', () => {
  it('spaces reserved sends at the rate less the headroom, one reservation after the other', () => {
    let state = initialTimeline(policy, T0);
    const first = reserve(state, 49, T0, 'bulk', T0, policy);
    state = first.state;
    expect(first.reservation.startAt).toBe(T0);
    expect(first.reservation.spacingMs).toBeCloseTo(1000 / 49, 6);
    const second = reserve(state, 10, T0, 'bulk', T0, policy);
    // 49 sends take exactly one second: the next reservation starts where the first ended.
    expect(second.reservation.startAt).toBeCloseTo(T0 + 1000, 6);
  });

  it('bulk work waits behind the backlog; urgent work starts now and pushes the backlog back', () => {
    let state = initialTimeline(policy, T0);
    state = reserve(state, 490, T0, 'bulk', T0, policy).state; // ten seconds of backlog
    const urgent = reserve(state, 49, T0 + 100, 'urgent', T0 + 100, policy);
    expect(urgent.reservation.startAt).toBe(T0 + 100);
    expect(urgent.state.nextAt).toBeCloseTo(T0 + 11_000, 6);
    const bulk = reserve(urgent.state, 1, T0 + 100, 'bulk', T0 + 100, policy);
    expect(bulk.reservation.startAt).toBeCloseTo(T0 + 11_000, 6);
  });

  it('a 429 pauses the tenant and lowers the rate once per window; quiet time brings it back step by step', () => {
    let state = initialTimeline(policy, T0);
    state = throttled(state, 1000, T0, policy);
    expect(state.rate).toBeCloseTo(42.5, 6);
    expect(state.pausedUntil).toBe(T0 + 1000);
    // More 429s from the same burst do not compound.
    state = throttled(state, 1000, T0 + 300, policy);
    expect(state.rate).toBeCloseTo(42.5, 6);
    // The next reservation starts after the pause.
    expect(reserve(state, 1, T0, 'bulk', T0 + 300, policy).reservation.startAt).toBe(T0 + 1300);
    // 429s a window later lower it again.
    state = throttled(state, 1000, T0 + 1000, policy);
    expect(state.rate).toBeCloseTo(36.125, 6);
    // Additive increase: one step per quiet interval, never above the configured rate.
    expect(recover(state, T0 + 1000 + 4_999, policy).rate).toBeCloseTo(36.125, 6);
    expect(recover(state, T0 + 1000 + 10_000, policy).rate).toBeCloseTo(38.125, 6);
    expect(recover(state, T0 + 1000 + 600_000, policy).rate).toBe(50);
  });

  it('converges near a limit lower than configured, with the rate never far below it', () => {
    // A tenant whose real limit is 30: every reservation planned above it meets a 429.
    let state = initialTimeline(policy, T0);
    const rates: number[] = [];
    for (let t = T0; t < T0 + 600_000; t += 250) {
      state = recover(state, t, policy);
      if (state.rate * policy.headroom > 30) state = throttled(state, 1000, t, policy);
      if (t > T0 + 60_000) rates.push(state.rate * policy.headroom);
    }
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    expect(Math.max(...rates)).toBeLessThanOrEqual(31);
    expect(mean).toBeGreaterThan(0.9 * 30);
  });
});
