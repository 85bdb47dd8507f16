import type { TimelineStore } from '../stores/timelineStore';
import type { TenantReading } from '../telemetry/deliveryMetrics';
import {
  backlogMs,
  dueAt,
  initialTimeline,
  recover,
  reserve,
  throttled,
  type Lane,
  type PacingPolicy,
  type Reservation,
  type TimelineState,
} from './tenantTimeline';

/**
 * How long an instance trusts its copy of a tenant's timeline between reads: a pause another
 * instance met reaches this one within it.
 */
const STATE_CACHE_MS = 250;

/** How recently a tenant must have been seen for its backlog and rate to be reported. */
const READINGS_WINDOW_MS = 60_000;

/**
 * Plans sends on the tenants' shared timelines (Table Storage) and tells this instance the rate
 * each tenant runs at now. Expansion reserves send times for a page of recipients in one
 * read-modify-write; delivery reports 429s, which lower the rate for every instance.
 */
/** How long single reservations (retries, late sends) wait to be made together, as one write. */
const COALESCE_MS = 25;

interface PendingSingles {
  earliest: number;
  readonly waiters: { resolve(at: number): void; reject(error: unknown): void }[];
}

export class TenantPacer {
  private readonly cache = new Map<string, { state: TimelineState; readAt: number }>();
  private readonly singles = new Map<string, PendingSingles>();
  /** The single reservations being written now, per tenant: the next batch waits for them. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: TimelineStore,
    readonly policy: PacingPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Send times for `count` recipients of the tenant, no earlier than `earliest`. */
  async reserve(tenantId: string, count: number, earliest: number, lane: Lane): Promise<Reservation> {
    const now = this.now();
    return this.store.update(tenantId, (state) => {
      const next = reserve(state ?? initialTimeline(this.policy, now), count, earliest, lane, now, this.policy);
      this.remember(tenantId, next.state);
      return { state: next.state, result: next.reservation };
    });
  }

  /**
   * One send time for one recipient (a retry, a send that ran late), on the plan's clock. Those
   * asked for within a few milliseconds are reserved together in one write: when many sends run
   * late at once, one by one they would race for the tenant's timeline entity.
   */
  reserveOne(tenantId: string, earliest: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let pending = this.singles.get(tenantId);
      if (pending === undefined) {
        const batch: PendingSingles = { earliest, waiters: [] };
        this.singles.set(tenantId, batch);
        pending = batch;
        setTimeout(() => void this.flushSingles(tenantId, batch), COALESCE_MS);
      }
      pending.earliest = Math.max(pending.earliest, earliest);
      pending.waiters.push({ resolve, reject });
    });
  }

  private async flushSingles(tenantId: string, batch: PendingSingles): Promise<void> {
    // One write at a time per tenant from this instance: under load a write takes longer than the
    // coalescing window, and overlapping writes would only race each other for the entity's ETag.
    // The batch keeps collecting while it waits.
    await this.writing.get(tenantId);
    this.singles.delete(tenantId);
    const written = this.writeSingles(tenantId, batch);
    this.writing.set(tenantId, written);
    await written;
    if (this.writing.get(tenantId) === written) this.writing.delete(tenantId);
  }

  private async writeSingles(tenantId: string, batch: PendingSingles): Promise<void> {
    try {
      const reservation = await this.reserve(tenantId, batch.waiters.length, batch.earliest, 'bulk');
      batch.waiters.forEach((waiter, i) => waiter.resolve(Math.round(reservation.startAt + i * reservation.spacingMs)));
    } catch (error) {
      for (const waiter of batch.waiters) waiter.reject(error);
    }
  }

  /** Teams answered 429: every instance pauses the tenant and plans at a lower rate. */
  async throttled(tenantId: string, retryAfterMs: number): Promise<void> {
    const now = this.now();
    await this.store.update(tenantId, (state) => {
      const next = throttled(state ?? initialTimeline(this.policy, now), retryAfterMs, now, this.policy);
      this.remember(tenantId, next);
      return { state: next, result: undefined };
    });
  }

  /** The tenant's rate now (requests per second), as planned sends use it. */
  async rate(tenantId: string): Promise<number> {
    return recover(await this.state(tenantId), this.now(), this.policy).rate * this.policy.headroom;
  }

  /** When a send planned at `at` is due now: later by every pause Teams asked for since it was planned. */
  async dueAt(tenantId: string, at: number): Promise<number> {
    return dueAt(await this.state(tenantId), at);
  }

  /** How far ahead the tenant's bulk work is planned already: expansion waits rather than plan far ahead. */
  async backlogMs(tenantId: string): Promise<number> {
    return backlogMs(await this.state(tenantId), this.now());
  }

  /**
   * Each tenant this instance has read or written in the last minute, with its backlog (sends
   * planned and not yet due) and rate, from its copy of the shared timeline: no storage call, so
   * a metrics collection costs nothing. Every instance working for a tenant sees the same timeline.
   */
  readings(within = READINGS_WINDOW_MS): TenantReading[] {
    const now = this.now();
    const readings: TenantReading[] = [];
    for (const [tenantId, { state, readAt }] of this.cache) {
      if (now - readAt > within) continue;
      const rate = recover(state, now, this.policy).rate * this.policy.headroom;
      readings.push({ tenantId, backlog: Math.round((backlogMs(state, now) * rate) / 1000), rate });
    }
    return readings;
  }

  private async state(tenantId: string): Promise<TimelineState> {
    const cached = this.cache.get(tenantId);
    if (cached !== undefined && this.now() - cached.readAt < STATE_CACHE_MS) return cached.state;
    const state = (await this.store.get(tenantId)) ?? initialTimeline(this.policy, this.now());
    this.remember(tenantId, state);
    return state;
  }

  private remember(tenantId: string, state: TimelineState): void {
    if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(tenantId, { state, readAt: this.now() });
  }
}
