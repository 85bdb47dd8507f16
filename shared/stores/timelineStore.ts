import type { TableClient } from '@azure/data-tables';
import type { Bend, TimelineState } from '../pacing/tenantTimeline';
import { getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

/** Tenants' send timelines, changed by read-modify-write under the entity's ETag. */
export interface TimelineStore {
  /**
   * Applies `change` to the tenant's timeline atomically: when another instance wrote in between,
   * it reads again and re-applies. `change` gets undefined for a tenant never seen.
   */
  update<R>(tenantId: string, change: (state: TimelineState | undefined) => { state: TimelineState; result: R }): Promise<R>;
  get(tenantId: string): Promise<TimelineState | undefined>;
}

/** The state as stored: a table property holds no arrays, so the bends are JSON text. */
type TimelineEntity = Omit<TimelineState, 'bends' | 'ceilingHits' | 'probes'> & {
  partitionKey: string;
  rowKey: string;
  bends?: string;
  ceilingHits?: number;
  probes?: number;
};

const ROW = 'timeline';
/** Contention is between instances expanding pages for one tenant: a handful at most. */
const MAX_ROUNDS = 20;

export class TableTimelineStore implements TimelineStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('pacing');
  }

  async get(tenantId: string): Promise<TimelineState | undefined> {
    const entity = await getEntityOrUndefined<TimelineEntity>(this.table, tableKey(tenantId), ROW);
    return entity === undefined ? undefined : stateOf(entity);
  }

  async update<R>(tenantId: string, change: (state: TimelineState | undefined) => { state: TimelineState; result: R }): Promise<R> {
    const partitionKey = tableKey(tenantId);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const entity = await getEntityOrUndefined<TimelineEntity>(this.table, partitionKey, ROW);
      const { state, result } = change(entity === undefined ? undefined : stateOf(entity));
      const next: TimelineEntity = { partitionKey, rowKey: ROW, ...state, bends: JSON.stringify(state.bends) };
      try {
        if (entity === undefined) await this.table.createEntity(next);
        else await this.table.updateEntity(next, 'Replace', { etag: entity.etag });
        return result;
      } catch (error) {
        // Another instance got there first: read its version and apply the change to that,
        // after a short random wait so that the writers racing for it spread out.
        if (!isStatus(error, 409) && !isStatus(error, 412)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * (round + 1)));
      }
    }
    throw new Error(`the send timeline of tenant ${tenantId} kept changing under ${MAX_ROUNDS} attempts`);
  }
}

function stateOf(value: TimelineEntity): TimelineState {
  return {
    nextAt: value.nextAt,
    shiftMs: value.shiftMs ?? 0,
    bends: bendsOf(value.bends),
    rate: value.rate,
    pausedUntil: value.pausedUntil,
    lastDecreaseAt: value.lastDecreaseAt,
    lastIncreaseAt: value.lastIncreaseAt,
    // Stored before these were kept: a remembered ceiling counts as confirmed.
    ceiling: value.ceiling ?? 0,
    ceilingHits: value.ceilingHits ?? (value.ceiling ? 2 : 0),
    probes: value.probes ?? 0,
  };
}

function bendsOf(text: string | undefined): Bend[] {
  if (text === undefined || text === '') return [];
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) return [];
  return parsed.filter((b): b is Bend => Array.isArray(b) && b.length === 2 && typeof b[0] === 'number' && typeof b[1] === 'number');
}
