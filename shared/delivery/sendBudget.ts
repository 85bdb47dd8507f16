/**
 * Paces Bot Connector requests per tenant with a token bucket, shared by every delivery in the
 * process, so that 429s are rare rather than the pacing mechanism. A 429 pauses the tenant's
 * bucket for everyone (Teams throttles per app and tenant), not just the message that got it.
 */
export class SendBudget {
  private readonly buckets = new Map<string, Bucket>();
  private closed = false;
  private wakeClosed: () => void = () => undefined;
  private readonly closing = new Promise<void>((resolve) => {
    this.wakeClosed = resolve;
  });

  /**
   * @param burst Tokens a quiet tenant may spend at once. The default, 1, spaces requests evenly
   * (1/rate apart), so no one-second window ever sees more than rate + 1 requests: Teams counts
   * per second, and a full second's burst on top of the refill would double the rate in the first second.
   */
  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: { now(): number; sleep(ms: number): Promise<void> } = realClock,
    private readonly burst = 1,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be positive');
    if (!(burst >= 1)) throw new RangeError('burst must be at least 1');
  }

  /**
   * Waits until a request to this tenant may go out, then spends one token. Throws `BudgetClosedError`
   * once the process is stopping, so that nothing new goes out while it drains.
   */
  async take(tenantId: string): Promise<void> {
    const bucket = this.bucket(tenantId);
    // Reserve a slot first, then wait: concurrent callers queue up in order instead of racing.
    for (;;) {
      this.throwIfClosed();
      const now = this.clock.now();
      if (bucket.pausedUntil > now) {
        await this.sleep(bucket.pausedUntil - now);
        continue;
      }
      const rate = bucket.rate ?? this.ratePerSecond;
      bucket.tokens = Math.min(this.capacity, bucket.tokens + ((now - bucket.refilledAt) * rate) / 1000);
      bucket.refilledAt = now;
      bucket.tokens -= 1;
      if (bucket.tokens >= 0) return;
      const wait = (-bucket.tokens * 1000) / rate;
      await this.sleep(wait);
      // The token is ours, but a 429 may have paused the tenant while we waited: honour it.
      for (let now = this.clock.now(); bucket.pausedUntil > now; now = this.clock.now()) {
        await this.sleep(bucket.pausedUntil - now);
      }
      this.throwIfClosed();
      return;
    }
  }

  /**
   * The rate this tenant runs at now, as the shared timeline says (it adapts to 429s); at most the
   * rate this budget was made with, which stays the cap.
   */
  setRate(tenantId: string, ratePerSecond: number): void {
    if (!(ratePerSecond > 0)) return;
    const bucket = this.bucket(tenantId);
    const now = this.clock.now();
    // Bank what the old rate earned so far, then go on at the new one.
    const rate = bucket.rate ?? this.ratePerSecond;
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (Math.max(0, now - bucket.refilledAt) * rate) / 1000);
    bucket.refilledAt = Math.max(bucket.refilledAt, now);
    bucket.rate = Math.min(ratePerSecond, this.ratePerSecond);
  }

  /** Waits `ms` (a planned send time), unless the process stops first: then `BudgetClosedError`. */
  async wait(ms: number): Promise<void> {
    this.throwIfClosed();
    if (ms > 0) await this.sleep(ms);
    this.throwIfClosed();
  }

  /**
   * The process is stopping: every waiting and future `take` throws `BudgetClosedError`. Requests
   * already on the wire are not affected; their callers settle what Teams answers.
   */
  close(): void {
    this.closed = true;
    this.wakeClosed();
  }

  /** Teams said 429: nobody sends to this tenant until `ms` from now, and the bucket starts empty. */
  pause(tenantId: string, ms: number): void {
    const bucket = this.bucket(tenantId);
    const until = this.clock.now() + ms;
    if (until > bucket.pausedUntil) bucket.pausedUntil = until;
    bucket.tokens = Math.min(bucket.tokens, 0);
    bucket.refilledAt = Math.max(bucket.refilledAt, until);
  }

  /** Milliseconds until the tenant's pause ends (0 when not paused). */
  pausedFor(tenantId: string): number {
    return Math.max(0, (this.buckets.get(tenantId)?.pausedUntil ?? 0) - this.clock.now());
  }

  private sleep(ms: number): Promise<void> {
    return Promise.race([this.clock.sleep(ms), this.closing]);
  }

  private throwIfClosed(): void {
    if (this.closed) throw new BudgetClosedError();
  }

  private get capacity(): number {
    return this.burst;
  }

  private bucket(tenantId: string): Bucket {
    let bucket = this.buckets.get(tenantId);
    if (bucket === undefined) {
      bucket = { tokens: this.capacity, refilledAt: this.clock.now(), pausedUntil: 0 };
      this.buckets.set(tenantId, bucket);
    }
    return bucket;
  }
}

interface Bucket {
  /** Set from the tenant's shared timeline; the budget's own rate until then. */
  rate?: number;
  tokens: number;
  refilledAt: number;
  pausedUntil: number;
}

const realClock = {
  now: () => performance.now(),
  // Unref'd: a wait that `close()` cut short must not keep a stopping process alive until it ends.
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, Math.ceil(ms))).unref()),
};

/** Thrown by `SendBudget.take` after `close()`: the job goes back to the queue unsent. */
export class BudgetClosedError extends Error {
  override name = 'BudgetClosedError';

  constructor() {
    super('the process is stopping; nothing more is sent');
  }
}
