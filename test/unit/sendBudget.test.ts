import { DEFAULT_BACKOFF, throttleDelayMs, transientDelayMs, type BackoffPolicy } from '../../shared/delivery/backoff';
import { BudgetClosedError, SendBudget } from '../../shared/delivery/sendBudget';

/** A clock whose sleep returns at once and moves time forward by what was asked. */
class FakeClock {
  t = 0;
  readonly sleeps: number[] = [];
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.t += ms;
  };
}

/** Takes one token and says how long (fake) time the caller waited. */
async function timedTake(budget: SendBudget, clock: FakeClock, tenant: string): Promise<number> {
  const start = clock.t;
  await budget.take(tenant);
  return clock.t - start;
}

describe('SendBudget', () => {
  it('close() ends every wait with BudgetClosedError at once, and refuses later takes: nothing new goes out while stopping', async () => {
    // Real time: one token per 10 s, so the second and third callers would wait 10 and 20 s.
    const budget = new SendBudget(0.1);
    await budget.take('tenant-a');
    const started = Date.now();
    const waiting = [budget.take('tenant-a'), budget.take('tenant-a')].map((p) => p.then(() => 'sent', (e: unknown) => e));
    budget.pause('tenant-b', 60_000);
    const paused = budget.take('tenant-b').then(() => 'sent', (e: unknown) => e);
    budget.close();
    for (const outcome of await Promise.all([...waiting, paused])) expect(outcome).toBeInstanceOf(BudgetClosedError);
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(budget.take('tenant-c')).rejects.toBeInstanceOf(BudgetClosedError);
  });

  it('by default spaces requests evenly: no one-second window sees more than rate + 1', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock);
    const times: number[] = [];
    for (let i = 0; i < 200; i += 1) {
      await budget.take('tenant-a');
      times.push(clock.t);
    }
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i += 1) {
      while ((times[i] ?? 0) - (times[j] ?? 0) >= 1000) j += 1;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBeLessThanOrEqual(51);
    expect(times[199]).toBeGreaterThanOrEqual(3970);
  });

  it('refuses a non-positive rate', () => {
    expect(() => new SendBudget(0, new FakeClock())).toThrow(RangeError);
    expect(() => new SendBudget(-5, new FakeClock())).toThrow(RangeError);
  });

  it('lets a burst of 50 through at t=0 at 50/s, and the 51st waits ~20 ms', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock, 50);
    for (let i = 0; i < 50; i += 1) expect(await timedTake(budget, clock, 'tenant-a')).toBe(0);
    expect(clock.sleeps).toEqual([]);
    const waited = await timedTake(budget, clock, 'tenant-a');
    expect(waited).toBeGreaterThanOrEqual(19);
    expect(waited).toBeLessThanOrEqual(21);
  });

  it('sustains the rate: 150 requests take about 2 s (50 burst + 100 at 50/s)', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock, 50);
    for (let i = 0; i < 150; i += 1) await budget.take('tenant-a');
    expect(clock.t).toBeGreaterThanOrEqual(1990);
    expect(clock.t).toBeLessThanOrEqual(2010);
  });

  it('refills with time: after a quiet second the full burst is available again', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock, 50);
    for (let i = 0; i < 50; i += 1) await budget.take('tenant-a');
    clock.t += 1000;
    for (let i = 0; i < 50; i += 1) expect(await timedTake(budget, clock, 'tenant-a')).toBe(0);
    expect(await timedTake(budget, clock, 'tenant-a')).toBeGreaterThan(0);
  });

  it('does not bank more than one second of tokens', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(10, clock, 10);
    await budget.take('tenant-a');
    clock.t += 60_000;
    for (let i = 0; i < 10; i += 1) expect(await timedTake(budget, clock, 'tenant-a')).toBe(0);
    expect(await timedTake(budget, clock, 'tenant-a')).toBeGreaterThan(0);
  });

  it('pause(tenant, 2000) makes the next take wait at least 2000 ms; another tenant is unaffected', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock, 50);
    await budget.take('tenant-a');
    budget.pause('tenant-a', 2000);
    expect(budget.pausedFor('tenant-a')).toBe(2000);
    expect(budget.pausedFor('tenant-b')).toBe(0);

    expect(await timedTake(budget, clock, 'tenant-b')).toBe(0);
    const waited = await timedTake(budget, clock, 'tenant-a');
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(2100);
    expect(budget.pausedFor('tenant-a')).toBe(0);
    // Tenant b still has its burst although a was paused.
    for (let i = 0; i < 49; i += 1) expect(await timedTake(budget, clock, 'tenant-b')).toBe(0);
  });

  it('after a pause the bucket starts empty: no burst right after a 429', async () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock);
    budget.pause('tenant-a', 1000);
    await budget.take('tenant-a');
    const afterPause = clock.t;
    for (let i = 0; i < 10; i += 1) await budget.take('tenant-a');
    // 11 requests after the pause at 50/s need ~200 ms more, not a burst.
    expect(clock.t - afterPause).toBeGreaterThanOrEqual(190);
  });

  it('a shorter pause does not shorten a longer one', () => {
    const clock = new FakeClock();
    const budget = new SendBudget(50, clock);
    budget.pause('tenant-a', 5000);
    budget.pause('tenant-a', 1000);
    expect(budget.pausedFor('tenant-a')).toBe(5000);
    clock.t += 4000;
    expect(budget.pausedFor('tenant-a')).toBe(1000);
  });

  it('concurrent callers queue up in order instead of racing past the limit', async () => {
    // A clock whose sleeps really wait (in fake time) so callers interleave.
    let t = 0;
    const timers: { at: number; resolve: () => void }[] = [];
    const clock = {
      now: () => t,
      sleep: (ms: number) =>
        new Promise<void>((resolve) => {
          timers.push({ at: t + ms, resolve });
        }),
    };
    const budget = new SendBudget(10, clock, 10);
    const done: number[] = [];
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => budget.take('tenant-a').then(() => done.push(i))));
    // Let the first ten resolve, then run the fake timers in time order.
    for (let guard = 0; guard < 100; guard += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      timers.sort((a, b) => a.at - b.at);
      const next = timers.shift();
      if (next === undefined) break;
      t = Math.max(t, next.at);
      next.resolve();
    }
    await all;
    expect(done).toHaveLength(20);
    // Ten more at 10/s take a second beyond the burst.
    expect(t).toBeGreaterThanOrEqual(990);
    expect(t).toBeLessThanOrEqual(1010);
  });
  it('nobody sends during a pause, not even callers that were already waiting for a token', async () => {
    let t = 0;
    const timers: { at: number; resolve: () => void }[] = [];
    const clock = {
      now: () => t,
      sleep: (ms: number) =>
        new Promise<void>((resolve) => {
          timers.push({ at: t + ms, resolve });
        }),
    };
    const budget = new SendBudget(10, clock);
    const sentAt: number[] = [];
    const all = Promise.all(Array.from({ length: 15 }, () => budget.take('tenant-a').then(() => sentAt.push(t))));
    await new Promise((resolve) => setImmediate(resolve));
    // 10 went out at t=0; 5 are waiting for tokens. Now Teams answers 429 with Retry-After 5 s.
    budget.pause('tenant-a', 5000);
    for (let guard = 0; guard < 100; guard += 1) {
      await new Promise((resolve) => setImmediate(resolve));
      timers.sort((a, b) => a.at - b.at);
      const next = timers.shift();
      if (next === undefined) break;
      t = Math.max(t, next.at);
      next.resolve();
    }
    await all;
    expect(sentAt.filter((at) => at > 0 && at < 5000)).toEqual([]);
  });
});

describe('backoff', () => {
  const policy: BackoffPolicy = { baseMs: 1000, maxMs: 30_000 };

  it('transientDelayMs grows exponentially, within [step/2, step]', () => {
    for (let retry = 0; retry < 5; retry += 1) {
      const step = 1000 * 2 ** retry;
      expect(transientDelayMs(retry, policy, () => 0)).toBe(step / 2);
      expect(transientDelayMs(retry, policy, () => 0.999999)).toBe(step);
      for (let i = 0; i < 50; i += 1) {
        const d = transientDelayMs(retry, policy);
        expect(d).toBeGreaterThanOrEqual(step / 2);
        expect(d).toBeLessThanOrEqual(step);
      }
    }
    expect(transientDelayMs(3, policy, () => 0.5)).toBe(2 * transientDelayMs(2, policy, () => 0.5));
  });

  it('caps at maxMs however many retries', () => {
    for (const retry of [5, 6, 10, 50, 2000]) {
      expect(transientDelayMs(retry, policy, () => 0.999999)).toBe(policy.maxMs);
      expect(transientDelayMs(retry, policy, () => 0)).toBe(policy.maxMs / 2);
    }
    expect(Number.isFinite(transientDelayMs(10_000, DEFAULT_BACKOFF))).toBe(true);
    expect(transientDelayMs(10_000, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it('treats a negative retry count like the first retry', () => {
    expect(transientDelayMs(-3, policy, () => 0)).toBe(500);
  });

  it('throttleDelayMs honours Retry-After: at least it, at most 1.2 times it', () => {
    for (const retryAfter of [1000, 2500, 60_000]) {
      expect(throttleDelayMs(retryAfter, 7, policy, () => 0)).toBe(retryAfter);
      expect(throttleDelayMs(retryAfter, 7, policy, () => 0.999999)).toBeLessThanOrEqual(Math.round(retryAfter * 1.2));
      for (let i = 0; i < 50; i += 1) {
        const d = throttleDelayMs(retryAfter, 0, policy);
        expect(d).toBeGreaterThanOrEqual(retryAfter);
        expect(d).toBeLessThanOrEqual(retryAfter * 1.2);
      }
    }
  });

  it('without Retry-After, throttling backs off by the throttle count', () => {
    expect(throttleDelayMs(undefined, 0, policy, () => 0)).toBe(500);
    expect(throttleDelayMs(undefined, 3, policy, () => 0)).toBe(4000);
    expect(throttleDelayMs(undefined, 99, policy, () => 0.999999)).toBe(policy.maxMs);
  });
});
