import { TenantPacer } from '../../shared/pacing/tenantPacer';
import { DEFAULT_PACING_POLICY, type TimelineState } from '../../shared/pacing/tenantTimeline';
import type { TimelineStore } from '../../shared/stores/timelineStore';

/** The timelines in memory: one process, no concurrency to resolve. */
class MemoryTimelines implements TimelineStore {
  private readonly states = new Map<string, TimelineState>();
  async update<R>(tenantId: string, change: (state: TimelineState | undefined) => { state: TimelineState; result: R }): Promise<R> {
    const next = change(this.states.get(tenantId));
    this.states.set(tenantId, next.state);
    return next.result;
  }
  async get(tenantId: string): Promise<TimelineState | undefined> {
    return this.states.get(tenantId);
  }
}

describe('the backlog and rate gauges read the pacer’s copy of each timeline (TenantPacer.readings)', () => {
  const policy = { ...DEFAULT_PACING_POLICY, maxRate: 50 };
  let now = 1_000_000;
  const pacer = new TenantPacer(new MemoryTimelines(), policy, () => now);

  it('reports the sends planned and not yet due, falling as their times pass, at the rate planned sends use', async () => {
    await pacer.reserve('tenant-a', 200, now, 'bulk');
    const rate = 50 * policy.headroom;
    const [first] = pacer.readings();
    expect(first).toMatchObject({ tenantId: 'tenant-a', rate });
    // 200 sends at the headroom rate: the last one is about 200 / rate seconds out.
    expect(first?.backlog).toBeGreaterThanOrEqual(195);
    expect(first?.backlog).toBeLessThanOrEqual(200);
    now += 2_000;
    const [later] = pacer.readings();
    expect(later?.backlog).toBeGreaterThanOrEqual(Math.floor((first?.backlog ?? 0) - 2 * rate) - 1);
    expect(later?.backlog).toBeLessThanOrEqual(Math.ceil((first?.backlog ?? 0) - 2 * rate) + 1);
  });

  it('reports the lower rate after a 429', async () => {
    await pacer.throttled('tenant-a', 1_000);
    const [after] = pacer.readings();
    expect(after?.rate).toBeLessThan(50 * policy.headroom);
  });

  it('forgets a tenant this instance has not seen for a minute', async () => {
    await pacer.reserve('tenant-b', 1, now, 'bulk');
    expect(pacer.readings().map((r) => r.tenantId).sort()).toEqual(['tenant-a', 'tenant-b']);
    now += 61_000;
    expect(pacer.readings()).toEqual([]);
  });
});
