import { TenantPacer } from '../../shared/pacing/tenantPacer';
import { DEFAULT_PACING_POLICY } from '../../shared/pacing/tenantTimeline';
import { Tables } from '../../shared/stores/tables';
import { TableTimelineStore } from '../../shared/stores/timelineStore';
import { storageConnectionString, uniqueName } from '../support/azurite';

describe('tenant timelines in Table Storage, shared by instances', () => {
  let tables: Tables;

  beforeEach(async () => {
    tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
  });

  const policy = { ...DEFAULT_PACING_POLICY, maxRate: 50 };

  it('two instances reserving at once get send times that never overlap, back to back at the rate', async () => {
    const instances = [new TenantPacer(new TableTimelineStore(tables), policy), new TenantPacer(new TableTimelineStore(tables), policy)];
    const now = Date.now();
    const reservations = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (instances[i % 2] as TenantPacer).reserve('tenant-a', 49, now, 'bulk')),
    );
    const starts = reservations.map((r) => r.startAt).sort((a, b) => a - b);
    const spacing = 1000 / (50 * policy.headroom);
    for (let i = 1; i < starts.length; i += 1) expect((starts[i] as number) - (starts[i - 1] as number)).toBeCloseTo(49 * spacing, 3);
    expect(await instances[0]?.backlogMs('tenant-b')).toBe(0);
  });

  it('a 429 seen by one instance lowers the rate the other plans with, for that tenant only', async () => {
    const a = new TenantPacer(new TableTimelineStore(tables), policy);
    let clock = Date.now();
    const b = new TenantPacer(new TableTimelineStore(tables), policy, () => clock);
    await a.throttled('tenant-a', 1000);
    clock += 2_000; // past b's cache
    // Lowered by the 429 (and recovering since), for tenant a only.
    const lowered = await b.rate('tenant-a');
    expect(lowered).toBeGreaterThanOrEqual(50 * policy.isolatedDecreaseFactor * policy.headroom);
    expect(lowered).toBeLessThan(50 * policy.headroom);
    expect(await b.rate('tenant-c')).toBeCloseTo(50 * policy.headroom, 6);
    const next = await b.reserve('tenant-a', 1, clock, 'bulk');
    expect(next.spacingMs).toBeCloseTo(1000 / lowered, 6);
  });
});
