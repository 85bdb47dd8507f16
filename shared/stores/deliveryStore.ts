import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { DeliveryRecord, EditCounts, StatusCounts } from '../domain/notification';
import type { BotEndpointAddress, ConversationKind } from '../domain/reference';
import type { FailureReason, RecipientStatus } from '../domain/outcome';
import type { Recipient } from '../domain/recipient';
import type { Page } from './page';
import { definedFields, getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

/** A new pending row, before it is stored. */
export interface NewDelivery {
  readonly recipientKey: string;
  readonly recipient: Recipient;
  readonly fromKey?: string;
  /** A row born settled (entries of a notification cancelled before they were planned); pending otherwise. */
  readonly settled?: { readonly status: 'failed' | 'skipped'; readonly reason: FailureReason; readonly detail: string };
}

/** Fields a worker changes on a row; `undefined` leaves a field as it is. */
export interface DeliveryChange {
  readonly status?: RecipientStatus;
  readonly reason?: FailureReason;
  readonly detail?: string;
  readonly attempts?: number;
  readonly activityId?: string;
  readonly conversationId?: string;
  /** An empty string clears the lease. */
  readonly leaseUntil?: string;
  readonly expandedTo?: number;
  readonly sweeps?: number;
  readonly sentVia?: BotEndpointAddress;
  readonly landsIn?: ConversationKind;
  readonly version?: number;
  /** When a resend or redrive made a failed row pending again. */
  readonly reopenedAt?: string;
  /** `null` clears it. */
  readonly editFailure?: { readonly reason: FailureReason; readonly detail: string } | null;
  readonly recallFailure?: { readonly reason: FailureReason; readonly detail: string } | null;
  readonly readAt?: string;
  /** Clears `reason` and `detail`: a failed row reopened for a resend. */
  readonly clearReason?: true;
}

/** A message a row sent to a personal chat, as the read-receipt index keys it. */
export interface SentMessage {
  readonly tenantId: string;
  readonly conversationId: string;
  readonly activityId: string;
}

/** Rows a call created, by recipient key, with their ETags. */
export type CreatedRows = ReadonlyMap<string, string>;

export type ConditionalUpdate = { readonly kind: 'updated'; readonly row: DeliveryRecord } | { readonly kind: 'stale' };

/** Per-recipient delivery rows: the status API reads them, and they make delivery idempotent. */
export interface DeliveryStore {
  /**
   * Creates the rows (pending unless born settled); rows that already exist are left untouched.
   * Returns the rows it created, recipient key to ETag: a worker can claim such a row without reading it.
   */
  createPending(notificationId: string, rows: readonly NewDelivery[]): Promise<CreatedRows>;
  get(notificationId: string, recipientKey: string): Promise<DeliveryRecord | undefined>;
  /** Applies the change only if the row still has the etag it was read with. */
  update(row: DeliveryRecord, change: DeliveryChange): Promise<ConditionalUpdate>;
  /**
   * Applies one change to up to 100 rows of a notification in one transaction, only if every row
   * still has its etag: the rows as changed, by recipient key, or `undefined` if any had changed
   * (then none is).
   */
  updateAll(rows: readonly DeliveryRecord[], change: DeliveryChange): Promise<ReadonlyMap<string, DeliveryRecord> | undefined>;
  /** Recipients as the status API shows them (expanded fan-out entries are replaced by their recipients). */
  list(notificationId: string, continuationToken?: string, pageSize?: number): Promise<Page<DeliveryRecord>>;
  /** Counts by status; how many edits failed and which version Teams has; how many deletes of a recall failed. */
  counts(notificationId: string): Promise<{ counts: StatusCounts; anyAttempted: boolean; edits: EditCounts; recallsFailed: number }>;
  deleteAll(notificationId: string): Promise<void>;
  /** Every row of the notification still pending, read page by page. */
  pending(notificationId: string): AsyncIterable<DeliveryRecord>;
  /**
   * The recipient read the message (a read receipt). Only a settled row that nobody holds is
   * written, under its ETag, so a receipt never gets in the way of an edit or a recall: `busy` then,
   * and the caller keeps the message for the next receipt. `done` also for a row gone or read already.
   */
  markRead(notificationId: string, recipientKey: string, at: string): Promise<'done' | 'busy'>;
  /**
   * One page of the pending rows: those nobody holds end with this status (a transaction per page
   * when no row changed meanwhile, else row by row under each row's ETag, so a worker's claim wins).
   * How many it ended, how many a worker held, and where the next page starts.
   */
  endUnclaimedPage(
    notificationId: string,
    end: { readonly status: 'failed' | 'skipped'; readonly reason: FailureReason; readonly detail: string },
    continuationToken?: string,
    pageSize?: number,
  ): Promise<{ readonly ended: number; readonly held: number; readonly continuationToken?: string }>;
  /** Whether any row of the notification is still pending (one row read at most). */
  hasPending(notificationId: string): Promise<boolean>;
  /**
   * Deletes up to `limit` of the notification's rows (the retention purge); how many. First it hands
   * `beforeDelete` the personal-chat messages those rows sent and nobody read yet, so their
   * read-receipt index rows go before the rows that point to them.
   */
  deleteSome(notificationId: string, limit: number, beforeDelete: (sentToChats: readonly SentMessage[]) => Promise<void>): Promise<number>;
}

interface DeliveryEntity {
  partitionKey: string;
  rowKey: string;
  recipientKey: string;
  recipient: string;
  status: RecipientStatus;
  /** '' once cleared (a reopened row). */
  reason?: FailureReason | '';
  detail?: string;
  attempts: number;
  activityId?: string;
  conversationId?: string;
  updatedAt: string;
  leaseUntil?: string;
  expandedTo?: number;
  fromKey?: string;
  sweeps?: number;
  /** False for a fan-out entry once expanded: its recipients stand in for it. */
  visible: boolean;
  /** JSON of the address the message was sent through. */
  sentVia?: string;
  landsIn?: ConversationKind;
  version?: number;
  /** '' once cleared: Merge never removes a property. */
  editReason?: FailureReason | '';
  editDetail?: string;
  recallReason?: FailureReason | '';
  recallDetail?: string;
  readAt?: string;
  reopenedAt?: string;
}

const TRANSACTION_LIMIT = 100;

export class TableDeliveryStore implements DeliveryStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('deliveries');
  }

  async createPending(notificationId: string, rows: readonly NewDelivery[]): Promise<CreatedRows> {
    const now = new Date().toISOString();
    const entities = rows.map(
      (row): DeliveryEntity => ({
        partitionKey: notificationId,
        rowKey: tableKey(row.recipientKey),
        recipientKey: row.recipientKey,
        recipient: JSON.stringify(row.recipient),
        status: row.settled?.status ?? 'pending',
        attempts: 0,
        updatedAt: now,
        visible: true,
        ...(row.fromKey !== undefined && { fromKey: row.fromKey }),
        ...(row.settled !== undefined && { reason: row.settled.reason, detail: row.settled.detail }),
      }),
    );
    const unique = [...new Map(entities.map((e) => [e.rowKey, e])).values()];
    const created = new Map<string, string>();
    for (let i = 0; i < unique.length; i += TRANSACTION_LIMIT) {
      const chunk = unique.slice(i, i + TRANSACTION_LIMIT);
      const transaction = new TableTransaction();
      for (const entity of chunk) transaction.createEntity(entity);
      try {
        const response = await this.table.submitTransaction(transaction.actions);
        const byRowKey = new Map(chunk.map((entity) => [entity.rowKey, entity.recipientKey]));
        for (const sub of response.subResponses) {
          const key = sub.rowKey === undefined ? undefined : byRowKey.get(sub.rowKey);
          if (key !== undefined && sub.etag !== undefined) created.set(key, sub.etag);
        }
      } catch (error) {
        // Some rows exist already (a resumed or repeated request): create the others one by one.
        if (!isStatus(error, 409)) throw error;
        await Promise.all(chunk.map((entity) => this.createIfAbsent(entity, created)));
      }
    }
    return created;
  }

  private async createIfAbsent(entity: DeliveryEntity, created: Map<string, string>): Promise<void> {
    try {
      const response = await this.table.createEntity(entity);
      if (response.etag !== undefined) created.set(entity.recipientKey, response.etag);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
  }

  async get(notificationId: string, recipientKey: string): Promise<DeliveryRecord | undefined> {
    const entity = await getEntityOrUndefined<DeliveryEntity>(this.table, notificationId, tableKey(recipientKey));
    return entity && toRecord(entity, entity.etag);
  }

  async update(row: DeliveryRecord, change: DeliveryChange): Promise<ConditionalUpdate> {
    const now = new Date().toISOString();
    try {
      const response = await this.table.updateEntity(patchOf(row, change, now), 'Merge', { etag: row.etag });
      return { kind: 'updated', row: merged(row, change, now, response.etag) };
    } catch (error) {
      if (isStatus(error, 412) || isStatus(error, 404)) return { kind: 'stale' };
      throw error;
    }
  }

  async updateAll(rows: readonly DeliveryRecord[], change: DeliveryChange): Promise<ReadonlyMap<string, DeliveryRecord> | undefined> {
    if (rows.length > TRANSACTION_LIMIT) throw new Error(`updateAll takes at most ${TRANSACTION_LIMIT} rows`);
    if (rows.length === 0) return new Map();
    const now = new Date().toISOString();
    const transaction = new TableTransaction();
    for (const row of rows) transaction.updateEntity(patchOf(row, change, now), 'Merge', { etag: row.etag });
    try {
      const response = await this.table.submitTransaction(transaction.actions);
      // Sub-responses come in the order of the operations (an update's carries no row key).
      const updated = new Map<string, DeliveryRecord>();
      for (const [i, row] of rows.entries()) {
        const sub = response.subResponses[i];
        const own = sub !== undefined && (sub.rowKey === undefined || sub.rowKey === tableKey(row.recipientKey)) ? sub.etag : undefined;
        // A service that leaves the etag out costs a read of that row.
        const etag = own ?? (await this.get(row.notificationId, row.recipientKey))?.etag;
        if (etag !== undefined) updated.set(row.recipientKey, merged(row, change, now, etag));
      }
      return updated;
    } catch (error) {
      if (isStatus(error, 412) || isStatus(error, 404)) return undefined;
      throw error;
    }
  }

  async list(notificationId: string, continuationToken?: string, pageSize = 100): Promise<Page<DeliveryRecord>> {
    const pages = this.table
      .listEntities<DeliveryEntity>({
        queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}' and visible eq true` },
      })
      .byPage({ maxPageSize: pageSize, ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    return {
      items: next.value.map((e) => toRecord(e, e.etag)),
      ...(next.value.continuationToken !== undefined && { continuationToken: next.value.continuationToken }),
    };
  }

  async counts(notificationId: string): Promise<{ counts: StatusCounts; anyAttempted: boolean; edits: EditCounts; recallsFailed: number }> {
    const tally = { total: 0, pending: 0, delivered: 0, failed: 0, skipped: 0, recalled: 0, read: 0 };
    const byVersion: Record<string, number> = {};
    let editsFailed = 0;
    let recallsFailed = 0;
    let anyAttempted = false;
    const rows = this.table.listEntities<Pick<DeliveryEntity, 'status' | 'visible' | 'attempts' | 'readAt' | 'version' | 'editReason' | 'recallReason'>>({
      queryOptions: {
        filter: `PartitionKey eq '${escapeOData(notificationId)}'`,
        select: ['status', 'visible', 'attempts', 'readAt', 'version', 'editReason', 'recallReason'],
      },
    });
    for await (const row of rows) {
      if (row.attempts > 0) anyAttempted = true;
      if (!row.visible) {
        anyAttempted = true;
        continue;
      }
      tally.total += 1;
      tally[row.status] += 1;
      if (row.readAt !== undefined && row.readAt !== null) tally.read += 1;
      if (row.status === 'delivered') {
        const version = String(row.version ?? 1);
        byVersion[version] = (byVersion[version] ?? 0) + 1;
        if (row.editReason !== undefined && row.editReason !== null && row.editReason !== '') editsFailed += 1;
        if (row.recallReason !== undefined && row.recallReason !== null && row.recallReason !== '') recallsFailed += 1;
      }
    }
    return { counts: tally, anyAttempted, edits: { byVersion, failed: editsFailed }, recallsFailed };
  }

  async markRead(notificationId: string, recipientKey: string, at: string): Promise<'done' | 'busy'> {
    const row = await this.get(notificationId, recipientKey);
    if (row === undefined || row.readAt !== undefined) return 'done';
    if (row.status === 'pending' || (row.leaseUntil !== undefined && Date.parse(row.leaseUntil) > Date.now())) return 'busy';
    const updated = await this.update(row, { readAt: at });
    return updated.kind === 'updated' ? 'done' : 'busy';
  }

  async *pending(notificationId: string): AsyncIterable<DeliveryRecord> {
    const rows = this.table.listEntities<DeliveryEntity>({
      queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}' and status eq 'pending'` },
    });
    for await (const entity of rows) yield toRecord(entity, entity.etag);
  }


  async endUnclaimedPage(
    notificationId: string,
    end: { readonly status: 'failed' | 'skipped'; readonly reason: FailureReason; readonly detail: string },
    continuationToken?: string,
    pageSize = TRANSACTION_LIMIT,
  ): Promise<{ readonly ended: number; readonly held: number; readonly continuationToken?: string }> {
    const pages = this.table
      .listEntities<DeliveryEntity>({ queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}' and status eq 'pending'` } })
      .byPage({ maxPageSize: Math.min(pageSize, TRANSACTION_LIMIT), ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { ended: 0, held: 0 };
    const now = Date.now();
    const rows = next.value.map((e) => toRecord(e, e.etag));
    const free = rows.filter((row) => row.leaseUntil === undefined || Date.parse(row.leaseUntil) <= now);
    const change = { status: end.status, reason: end.reason, detail: end.detail };
    let ended = 0;
    const all = await this.updateAll(free, change);
    if (all !== undefined) ended = all.size;
    else {
      // A worker claimed one of them meanwhile: its ETag check makes ours stale for that row only.
      for (const row of free) if ((await this.update(row, change)).kind === 'updated') ended += 1;
    }
    return { ended, held: rows.length - ended, ...(next.value.continuationToken !== undefined && { continuationToken: next.value.continuationToken }) };
  }

  async hasPending(notificationId: string): Promise<boolean> {
    const pages = this.table
      .listEntities<{ rowKey: string }>({ queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}' and status eq 'pending'`, select: ['RowKey'] } })
      .byPage({ maxPageSize: 1 });
    // An empty page may still carry a continuation (the service stopped scanning): follow it.
    for await (const page of pages) if (page.length > 0) return true;
    return false;
  }

  async deleteSome(notificationId: string, limit: number, beforeDelete: (sentToChats: readonly SentMessage[]) => Promise<void>): Promise<number> {
    type Purged = Pick<DeliveryEntity, 'rowKey' | 'conversationId' | 'activityId' | 'landsIn' | 'readAt' | 'sentVia'>;
    const rows: Purged[] = [];
    for await (const e of this.table.listEntities<Purged>({
      queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}'`, select: ['RowKey', 'conversationId', 'activityId', 'landsIn', 'readAt', 'sentVia'] },
    })) {
      rows.push(e);
      if (rows.length >= limit) break;
    }
    // A message read already has no receipt row left; one sent elsewhere never had one.
    await beforeDelete(
      rows.flatMap((row) => {
        if (row.landsIn !== 'personal' || (typeof row.readAt === 'string' && row.readAt !== '')) return [];
        if (typeof row.conversationId !== 'string' || typeof row.activityId !== 'string' || typeof row.sentVia !== 'string' || row.sentVia === '') return [];
        const { tenantId } = JSON.parse(row.sentVia) as BotEndpointAddress;
        return [{ tenantId, conversationId: row.conversationId, activityId: row.activityId }];
      }),
    );
    for (let i = 0; i < rows.length; i += TRANSACTION_LIMIT) {
      const transaction = new TableTransaction();
      for (const row of rows.slice(i, i + TRANSACTION_LIMIT)) transaction.deleteEntity(notificationId, row.rowKey);
      await this.table.submitTransaction(transaction.actions);
    }
    return rows.length;
  }

  async deleteAll(notificationId: string): Promise<void> {
    const keys: string[] = [];
    for await (const e of this.table.listEntities<{ rowKey: string }>({
      queryOptions: { filter: `PartitionKey eq '${escapeOData(notificationId)}'`, select: ['RowKey'] },
    })) {
      keys.push(e.rowKey);
    }
    for (let i = 0; i < keys.length; i += TRANSACTION_LIMIT) {
      const transaction = new TableTransaction();
      for (const rowKey of keys.slice(i, i + TRANSACTION_LIMIT)) transaction.deleteEntity(notificationId, rowKey);
      await this.table.submitTransaction(transaction.actions);
    }
  }
}

function escapeOData(value: string): string {
  return value.replace(/'/g, "''");
}


function patchOf(row: DeliveryRecord, change: DeliveryChange, now: string): Partial<DeliveryEntity> & { partitionKey: string; rowKey: string } {
  const { sentVia, editFailure, recallFailure, clearReason, ...plain } = change;
  return {
    partitionKey: row.notificationId,
    rowKey: tableKey(row.recipientKey),
    updatedAt: now,
    ...definedFields(plain),
    // Merge never removes a property: an empty string is the stored form of "none".
    ...(clearReason === true && { reason: '' as const, detail: '' }),
    ...(change.expandedTo !== undefined && { visible: false }),
    ...(sentVia !== undefined && { sentVia: JSON.stringify({ serviceUrl: sentVia.serviceUrl, tenantId: sentVia.tenantId, botId: sentVia.botId }) }),
    ...(editFailure !== undefined && { editReason: editFailure?.reason ?? '', editDetail: editFailure?.detail.slice(0, 1000) ?? '' }),
    ...(recallFailure !== undefined && { recallReason: recallFailure?.reason ?? '', recallDetail: recallFailure?.detail.slice(0, 1000) ?? '' }),
  };
}

function merged(row: DeliveryRecord, change: DeliveryChange, now: string, etag: string | undefined): DeliveryRecord {
  const { editFailure, recallFailure, clearReason, ...plain } = change;
  const next: Record<string, unknown> = { ...row, ...definedFields(plain), updatedAt: now, etag: etag ?? row.etag };
  if (clearReason === true) {
    delete next.reason;
    delete next.detail;
  }
  if (next.leaseUntil === '') delete next.leaseUntil;
  if (editFailure !== undefined) next.editFailure = editFailure ?? undefined;
  if (recallFailure !== undefined) next.recallFailure = recallFailure ?? undefined;
  for (const key of ['editFailure', 'recallFailure']) if (next[key] === undefined) delete next[key];
  return next as unknown as DeliveryRecord;
}

function failureOf(reason: FailureReason | '' | undefined, detail: string | undefined): { reason: FailureReason; detail: string } | undefined {
  return reason === undefined || reason === '' ? undefined : { reason, detail: detail ?? '' };
}

function toRecord(e: DeliveryEntity, etag: string): DeliveryRecord {
  return {
    notificationId: e.partitionKey,
    recipientKey: e.recipientKey,
    recipient: JSON.parse(e.recipient) as Recipient,
    status: e.status,
    attempts: e.attempts,
    updatedAt: e.updatedAt,
    etag,
    ...(e.reason !== undefined && e.reason !== '' && { reason: e.reason }),
    ...(e.detail !== undefined && e.detail !== '' && { detail: e.detail }),
    ...(e.activityId !== undefined && { activityId: e.activityId }),
    ...(e.conversationId !== undefined && { conversationId: e.conversationId }),
    ...(e.leaseUntil !== undefined && e.leaseUntil !== '' && { leaseUntil: e.leaseUntil }),
    ...(e.expandedTo !== undefined && { expandedTo: e.expandedTo }),
    ...(e.fromKey !== undefined && { fromKey: e.fromKey }),
    ...(e.sweeps !== undefined && { sweeps: e.sweeps }),
    ...(e.sentVia !== undefined && e.sentVia !== '' && { sentVia: JSON.parse(e.sentVia) as BotEndpointAddress }),
    ...(e.landsIn !== undefined && { landsIn: e.landsIn }),
    ...(e.version !== undefined && { version: e.version }),
    ...(failureOf(e.editReason, e.editDetail) !== undefined && { editFailure: failureOf(e.editReason, e.editDetail) }),
    ...(failureOf(e.recallReason, e.recallDetail) !== undefined && { recallFailure: failureOf(e.recallReason, e.recallDetail) }),
    ...(e.readAt !== undefined && e.readAt !== '' && { readAt: e.readAt }),
    ...(e.reopenedAt !== undefined && { reopenedAt: e.reopenedAt }),
  };
}
