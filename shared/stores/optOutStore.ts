import { odata, type TableClient } from '@azure/data-tables';
import type { OptOutActor, OptOutSubject } from '../domain/optOut';
import { definedFields, getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

/** Users who said `stop`, and channels and group chats someone muted: kept until `start`. */
export interface OptOutStore {
  isOptedOut(subject: OptOutSubject): Promise<boolean>;
  optOut(subject: OptOutSubject, by?: OptOutActor): Promise<void>;
  optIn(subject: OptOutSubject): Promise<void>;
}

/*
 * Layout of the `optouts` table: one partition per tenant. A user's row key is tableKey(userId),
 * as it has been since before conversations could be muted, so existing opt-outs stay valid. A
 * conversation's row key is `conversation:` + tableKey(conversationId). tableKey only ever yields
 * letters, digits, '-' and '_', so no user key can contain ':' and the two can never collide.
 */
function rowKey(subject: OptOutSubject): string {
  switch (subject.kind) {
    case 'user':
      return tableKey(subject.userId);
    case 'conversation':
      return `conversation:${tableKey(subject.conversationId)}`;
  }
}

/**
 * A tenant's opt-outs are read as a whole and kept this long, so that sending to a tenant at 50 a
 * second costs one query every two seconds instead of a read per recipient. A `stop` made through
 * another instance reaches this one's sends within this time; one made through this instance at once.
 */
export const OPT_OUT_SNAPSHOT_MS = 2_000;
/** A tenant with more opt-outs than this is asked about each recipient instead. */
const SNAPSHOT_LIMIT = 2_000;

type Snapshot = { readonly readAt: number; readonly keys: Promise<Set<string> | 'too-many'>; tooMany: boolean };
/** How long "too many to list" is believed. */
const TOO_MANY_KEPT_MS = 300_000;

export class TableOptOutStore implements OptOutStore {
  private readonly table: TableClient;
  private readonly snapshots = new Map<string, Snapshot>();

  constructor(tables: Tables) {
    this.table = tables.client('optOuts');
  }

  async isOptedOut(subject: OptOutSubject): Promise<boolean> {
    const partition = tableKey(subject.tenantId);
    const keys = await this.snapshot(partition).catch(() => 'too-many' as const);
    if (keys !== 'too-many') return keys.has(rowKey(subject));
    return (await getEntityOrUndefined(this.table, partition, rowKey(subject))) !== undefined;
  }

  /** The row keys of a tenant's partition, read once for concurrent callers and kept briefly. */
  private snapshot(partition: string): Promise<Set<string> | 'too-many'> {
    const now = Date.now();
    const kept = this.snapshots.get(partition);
    if (kept !== undefined && now - kept.readAt < (kept.tooMany ? TOO_MANY_KEPT_MS : OPT_OUT_SNAPSHOT_MS)) return kept.keys;
    const keys = (async () => {
      const found = new Set<string>();
      const rows = this.table.listEntities<{ rowKey: string }>({ queryOptions: { filter: odata`PartitionKey eq ${partition}`, select: ['RowKey'] } });
      for await (const row of rows) {
        if (found.size >= SNAPSHOT_LIMIT) return 'too-many' as const;
        found.add(row.rowKey);
      }
      return found;
    })();
    if (this.snapshots.size >= 1_000) this.snapshots.clear();
    const snapshot: Snapshot = { readAt: now, keys, tooMany: false };
    this.snapshots.set(partition, snapshot);
    // A tenant with too many to list is asked about each recipient for a while before listing again.
    void keys.then((k) => (snapshot.tooMany = k === 'too-many')).catch(() => undefined);
    // A failed read is not kept: the next call reads again.
    keys.catch(() => this.snapshots.delete(partition));
    return keys;
  }

  /** What this instance writes, it sees at once. */
  private forget(subject: OptOutSubject): void {
    this.snapshots.delete(tableKey(subject.tenantId));
  }

  async optOut(subject: OptOutSubject, by?: OptOutActor): Promise<void> {
    const raw =
      subject.kind === 'user'
        ? { subject: subject.kind, userId: subject.userId, aadObjectId: by?.aadObjectId }
        : { subject: subject.kind, conversationId: subject.conversationId, byUserId: by?.userId, byName: by?.name, byAadObjectId: by?.aadObjectId };
    await this.table.upsertEntity(
      { ...definedFields(raw), partitionKey: tableKey(subject.tenantId), rowKey: rowKey(subject), optedOutAt: new Date().toISOString() },
      'Replace',
    );
    this.forget(subject);
  }

  async optIn(subject: OptOutSubject): Promise<void> {
    try {
      await this.table.deleteEntity(tableKey(subject.tenantId), rowKey(subject));
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    } finally {
      this.forget(subject);
    }
  }
}
