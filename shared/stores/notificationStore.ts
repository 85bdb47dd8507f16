import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { Message } from '../domain/message';
import type { NotificationRecord } from '../domain/notification';
import type { Recipient } from '../domain/recipient';
import type { Page } from './page';
import { getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

export type IdempotencyClaim =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'existing'; readonly notificationId: string }
  | { readonly kind: 'conflict'; readonly notificationId: string };

/** A notification in the index of unfinished ones: what the sweeper needs without reading the record. */
export interface UnfinishedEntry {
  readonly id: string;
  readonly createdAt: string;
  readonly sendAt?: string;
  /** The index row's ETag: `markFinished` with it fails once a resend has re-added the row meanwhile. */
  readonly etag: string;
}

/** A notification old enough for the retention purge; `purging` once the purge has begun on it. */
export interface RetentionCandidate {
  readonly record: NotificationRecord;
  readonly purging: boolean;
}

/**
 * Notification records and the Idempotency-Key index that maps a key to the notification it made.
 * Beside the records, an index of unfinished notifications (one row each) is what the sweeper
 * reads, whatever their age or `sendAt`.
 */
export interface NotificationStore {
  /**
   * Writes the record unless one with this id exists (then leaves it as it is). Its row in the
   * unfinished index is written first (two partitions cannot share a transaction): a crash in
   * between leaves an index row pointing to nothing, which the sweeper deletes.
   */
  create(record: NotificationRecord): Promise<void>;
  /** The record; undefined when there is none or the retention purge has begun on it. */
  get(id: string): Promise<NotificationRecord | undefined>;
  /** One page of the unfinished index, oldest id first. */
  unfinished(continuationToken?: string, pageSize?: number): Promise<Page<UnfinishedEntry>>;
  /** (Re-)adds the notification to the unfinished index: a resend reopened some of its recipients. */
  markUnfinished(record: Pick<NotificationRecord, 'id' | 'createdAt' | 'sendAt'>): Promise<void>;
  /**
   * Takes the notification out of the unfinished index; with the ETag the row was read with, only
   * if nobody re-added it since (false then).
   */
  markFinished(id: string, etag?: string): Promise<boolean>;
  /**
   * One page of the records created before `before` (ISO 8601), oldest first, for the retention
   * purge; those the purge has begun on included. With `after`, only ids after it.
   */
  createdBefore(before: string, continuationToken?: string, pageSize?: number, after?: string): Promise<Page<RetentionCandidate>>;
  /** Where the last retention run stopped; nothing set: from the start. */
  retentionCursor(): Promise<RetentionCursor>;
  /** Where the next retention run starts after. */
  setRetentionCursor(cursor: RetentionCursor): Promise<void>;
  /** The purge has begun: `get` no longer finds the record, so the API answers 404 from now on. */
  markPurging(id: string): Promise<void>;
  /**
   * Deletes up to `limit` rows of the notification's own (the record last, with its index row), so
   * a purge cut short finds the record again next time: how many it deleted, and whether all are gone.
   */
  purgeRows(id: string, limit: number): Promise<{ readonly deleted: number; readonly done: boolean }>;
  markEnqueued(id: string, at: string): Promise<void>;
  markEnqueueFailed(id: string): Promise<void>;
  markCancelled(id: string, at: string): Promise<void>;
  /**
   * Replaces the message (`PATCH`): the version goes up by one, under the record's ETag, so two
   * edits at once get two versions. Refused once the notification is recalled.
   */
  changeMessage(id: string, message: Message): Promise<MessageChange>;
  /** Recalled (and so cancelled): what has not been sent is skipped, what has is deleted from Teams. */
  markRecalled(id: string, at: string): Promise<void>;
  /**
   * A resend to the failed starts: a new `expiresAt` if given, and the request's Idempotency-Key, so
   * the same request again is told it was done already (`replayed`) and starts nothing.
   */
  startRetry(id: string, change: { readonly expiresAt?: string; readonly key?: string }): Promise<'started' | 'replayed' | 'not-found'>;
  /** A callback event given up on: counted on the record, with the last one's id and why. */
  recordCallbackFailure(id: string, failure: { readonly eventId: string; readonly detail: string }): Promise<void>;
  /** The last page of the request's entries is planned: the rows are all there. */
  markPlanned(id: string): Promise<void>;
  /**
   * Planning is under way again (a redriven plan job): the sweeper keeps the notification in its
   * index while rows may still be created, until the plan's last page calls `markPlanned`.
   */
  markPlanning(id: string): Promise<void>;
  /**
   * Takes up to `count` places of the notification's `maxAudience` for the people one page of a
   * fan-out entry listed (`pageKey` names the page), whichever instance expands which entry: how
   * many it got (fewer once the cap is near). Asking again for the same page (a redelivered job)
   * gets the same answer and takes nothing more.
   */
  reserveAudience(id: string, pageKey: string, count: number, maxAudience: number): Promise<number>;
  delete(id: string): Promise<void>;
  /** Atomically binds an Idempotency-Key to a notification id and a request fingerprint. */
  claimIdempotencyKey(key: string, notificationId: string, requestHash: string): Promise<IdempotencyClaim>;
  releaseIdempotencyKey(key: string): Promise<void>;
  /**
   * Releases the key only while it is still bound to this notification: once released, the same
   * key may already name a new request's notification, which must keep it.
   */
  releaseIdempotencyKeyOf(key: string, notificationId: string): Promise<void>;
  /** The notification an Idempotency-Key is bound to, if any. */
  findIdempotencyKey(key: string): Promise<string | undefined>;
  /**
   * One page of the Idempotency-Key rows last written before `before` (ISO 8601), for the
   * retention purge; with `after`, only rows whose partition key sorts after it.
   */
  idempotencyKeysBefore(before: string, continuationToken?: string, pageSize?: number, after?: string): Promise<Page<IdempotencyRow>>;
  /** Deletes a key row as read, unless it was written again since. */
  dropIdempotencyRow(row: IdempotencyRow): Promise<void>;
  /**
   * For the status page: up to `limit` records created at or after `since` (ISO 8601), newest
   * first; those the purge has begun on left out. The ids' time prefix bounds the scan.
   */
  listRecent(since: string, limit: number): Promise<NotificationRecord[]>;
}

/** The last notification id and Idempotency-Key row the retention purge looked at, each undefined at the start. */
export interface RetentionCursor {
  readonly notificationsAfter?: string;
  readonly keysAfter?: string;
}

/** A stored Idempotency-Key binding (its key is kept only as its table key). */
export interface IdempotencyRow {
  readonly partitionKey: string;
  readonly notificationId: string;
  readonly etag: string;
}

export type MessageChange = { readonly kind: 'changed'; readonly version: number } | { readonly kind: 'not-found' } | { readonly kind: 'recalled' };

interface NotificationEntity {
  partitionKey: string;
  rowKey: string;
  createdAt: string;
  message: string;
  sendAt?: string;
  expiresAt?: string;
  requestedRecipients: number;
  idempotencyKey?: string;
  enqueuedAt?: string;
  enqueueFailed?: boolean;
  cancelled?: boolean;
  priority?: 'urgent';
  recipients?: string;
  planning?: boolean;
  maxAudience?: number;
  messageVersion?: number;
  recalledAt?: string;
  lastRetryKey?: string;
  callbackUrl?: string;
  callbackFailureCount?: number;
  lastCallbackFailure?: string;
  /** The retention purge has begun: the notification is gone for the API. */
  purging?: boolean;
  etag?: string;
}

/**
 * The unfinished index: one partition in the notifications table, a row per notification. The
 * hyphen keeps it apart from notification ids (lower-case letters and digits only), and it sorts
 * before them (`n...`), outside the retention purge's range.
 */
const UNFINISHED_PARTITION = 'index-unfinished';
interface UnfinishedEntity {
  partitionKey: string;
  rowKey: string;
  createdAt: string;
  sendAt?: string;
}

/**
 * Where the retention purge stopped, so the next run goes on behind the notifications it keeps
 * rather than looking at the same ones again. A reserved partition like the index's, one row.
 */
const RETENTION_CURSOR_PARTITION = 'index-retention';
interface RetentionCursorEntity {
  partitionKey: string;
  rowKey: string;
  notificationsAfter?: string;
  keysAfter?: string;
}

/** Notification ids begin with `n` and their creation time (base 36, 9 digits): ids sort by age. */
const ID_PREFIX = 'n';

/** The row beside the record that counts people fan-out entries reached, against `maxAudience`. */
const AUDIENCE_ROW = 'audience';
interface AudienceEntity {
  partitionKey: string;
  rowKey: string;
  reserved: number;
  etag?: string;
}

interface IdempotencyEntity {
  partitionKey: string;
  rowKey: string;
  notificationId: string;
  requestHash: string;
}

export class TableNotificationStore implements NotificationStore {
  private readonly notifications: TableClient;
  private readonly idempotency: TableClient;

  constructor(tables: Tables) {
    this.notifications = tables.client('notifications');
    this.idempotency = tables.client('idempotency');
  }

  async create(record: NotificationRecord): Promise<void> {
    const entity: NotificationEntity = {
      partitionKey: record.id,
      rowKey: '',
      createdAt: record.createdAt,
      message: JSON.stringify(record.message),
      requestedRecipients: record.requestedRecipients,
      ...(record.sendAt !== undefined && { sendAt: record.sendAt }),
      ...(record.expiresAt !== undefined && { expiresAt: record.expiresAt }),
      ...(record.idempotencyKey !== undefined && { idempotencyKey: record.idempotencyKey }),
      ...(record.priority !== undefined && { priority: record.priority }),
      ...(record.recipients !== undefined && { recipients: JSON.stringify(record.recipients) }),
      ...(record.planning !== undefined && { planning: record.planning }),
      ...(record.maxAudience !== undefined && { maxAudience: record.maxAudience }),
      ...(record.callbackUrl !== undefined && { callbackUrl: record.callbackUrl }),
    };
    await this.markUnfinished(record);
    try {
      await this.notifications.createEntity(entity);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
  }

  async get(id: string): Promise<NotificationRecord | undefined> {
    const e = await getEntityOrUndefined<NotificationEntity>(this.notifications, id, '');
    return e === undefined || e.purging === true ? undefined : toRecord(id, e);
  }

  async unfinished(continuationToken?: string, pageSize = 100): Promise<Page<UnfinishedEntry>> {
    const pages = this.notifications
      .listEntities<UnfinishedEntity>({ queryOptions: { filter: `PartitionKey eq '${UNFINISHED_PARTITION}'` } })
      .byPage({ maxPageSize: pageSize, ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    return {
      items: next.value.map((e) => ({ id: e.rowKey, createdAt: e.createdAt, ...(e.sendAt !== undefined && { sendAt: e.sendAt }), etag: e.etag })),
      ...(next.value.continuationToken !== undefined && { continuationToken: next.value.continuationToken }),
    };
  }

  async markUnfinished(record: Pick<NotificationRecord, 'id' | 'createdAt' | 'sendAt'>): Promise<void> {
    const entity: UnfinishedEntity = { partitionKey: UNFINISHED_PARTITION, rowKey: record.id, createdAt: record.createdAt, ...(record.sendAt !== undefined && { sendAt: record.sendAt }) };
    // Replace, not Merge: a new ETag each time, so a sweeper that read the row before cannot delete it.
    await this.notifications.upsertEntity(entity, 'Replace');
  }

  async markFinished(id: string, etag?: string): Promise<boolean> {
    try {
      await this.notifications.deleteEntity(UNFINISHED_PARTITION, id, { etag: etag ?? '*' });
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return true;
      if (isStatus(error, 412)) return false;
      throw error;
    }
  }

  async createdBefore(before: string, continuationToken?: string, pageSize = 100, after?: string): Promise<Page<RetentionCandidate>> {
    // The ids' time prefix bounds the scan to old partitions; createdAt is the truth within them.
    const idBefore = `${ID_PREFIX}${Math.max(0, Date.parse(before) + 1).toString(36).padStart(9, '0')}`;
    const from = after !== undefined && after >= ID_PREFIX ? `PartitionKey gt '${after.replace(/'/g, "''")}'` : `PartitionKey ge '${ID_PREFIX}'`;
    const filter = `${from} and PartitionKey lt '${idBefore}' and RowKey eq '' and createdAt lt '${before.replace(/'/g, "''")}'`;
    const pages = this.notifications.listEntities<NotificationEntity>({ queryOptions: { filter } }).byPage({ maxPageSize: pageSize, ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    return {
      items: next.value.map((e) => ({ record: toRecord(e.partitionKey, e), purging: e.purging === true })),
      ...(next.value.continuationToken !== undefined && { continuationToken: next.value.continuationToken }),
    };
  }

  async retentionCursor(): Promise<RetentionCursor> {
    const e = await getEntityOrUndefined<RetentionCursorEntity>(this.notifications, RETENTION_CURSOR_PARTITION, '');
    return { ...(e?.notificationsAfter !== undefined && { notificationsAfter: e.notificationsAfter }), ...(e?.keysAfter !== undefined && { keysAfter: e.keysAfter }) };
  }

  async setRetentionCursor(cursor: RetentionCursor): Promise<void> {
    const entity: RetentionCursorEntity = {
      partitionKey: RETENTION_CURSOR_PARTITION,
      rowKey: '',
      ...(cursor.notificationsAfter !== undefined && { notificationsAfter: cursor.notificationsAfter }),
      ...(cursor.keysAfter !== undefined && { keysAfter: cursor.keysAfter }),
    };
    // Replace, not Merge: a field left out is cleared (that scan starts over).
    await this.notifications.upsertEntity(entity, 'Replace');
  }

  async markPurging(id: string): Promise<void> {
    try {
      await this.notifications.updateEntity({ partitionKey: id, rowKey: '', purging: true }, 'Merge');
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  async purgeRows(id: string, limit: number): Promise<{ readonly deleted: number; readonly done: boolean }> {
    const keys: string[] = [];
    const rows = this.notifications.listEntities<{ rowKey: string }>({ queryOptions: { filter: `PartitionKey eq '${id.replace(/'/g, "''")}' and RowKey gt ''`, select: ['RowKey'] } });
    for await (const row of rows) {
      keys.push(row.rowKey);
      if (keys.length >= limit) break;
    }
    let deleted = 0;
    for (let i = 0; i < keys.length; i += 100) {
      const transaction = new TableTransaction();
      for (const rowKey of keys.slice(i, i + 100)) transaction.deleteEntity(id, rowKey);
      await this.notifications.submitTransaction(transaction.actions);
      deleted += Math.min(100, keys.length - i);
    }
    if (keys.length >= limit) return { deleted, done: false };
    // The record last: until it goes, the purge finds this notification again and finishes it.
    await this.markFinished(id);
    await this.delete(id);
    return { deleted: deleted + 1, done: true };
  }

  async markEnqueued(id: string, at: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', enqueuedAt: at }, 'Merge');
  }

  async changeMessage(id: string, message: Message): Promise<MessageChange> {
    for (;;) {
      const entity = await getEntityOrUndefined<NotificationEntity>(this.notifications, id, '');
      if (entity === undefined) return { kind: 'not-found' };
      if (entity.recalledAt !== undefined) return { kind: 'recalled' };
      const version = (entity.messageVersion ?? 1) + 1;
      try {
        await this.notifications.updateEntity({ partitionKey: id, rowKey: '', message: JSON.stringify(message), messageVersion: version }, 'Merge', { etag: entity.etag ?? '*' });
        return { kind: 'changed', version };
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
      }
    }
  }

  async startRetry(id: string, change: { readonly expiresAt?: string; readonly key?: string }): Promise<'started' | 'replayed' | 'not-found'> {
    for (;;) {
      const entity = await getEntityOrUndefined<NotificationEntity>(this.notifications, id, '');
      if (entity === undefined) return 'not-found';
      if (change.key !== undefined && entity.lastRetryKey === change.key) return 'replayed';
      if (change.key === undefined && change.expiresAt === undefined) return 'started';
      try {
        await this.notifications.updateEntity(
          { partitionKey: id, rowKey: '', ...(change.expiresAt !== undefined && { expiresAt: change.expiresAt }), ...(change.key !== undefined && { lastRetryKey: change.key }) },
          'Merge',
          { etag: entity.etag ?? '*' },
        );
        return 'started';
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
      }
    }
  }

  async recordCallbackFailure(id: string, failure: { readonly eventId: string; readonly detail: string }): Promise<void> {
    for (;;) {
      const entity = await getEntityOrUndefined<NotificationEntity>(this.notifications, id, '');
      if (entity === undefined) return;
      const last = JSON.stringify({ eventId: failure.eventId, detail: failure.detail.slice(0, 500), at: new Date().toISOString() });
      try {
        await this.notifications.updateEntity({ partitionKey: id, rowKey: '', callbackFailureCount: (entity.callbackFailureCount ?? 0) + 1, lastCallbackFailure: last }, 'Merge', { etag: entity.etag ?? '*' });
        return;
      } catch (error) {
        if (!isStatus(error, 412)) throw error;
      }
    }
  }

  async markRecalled(id: string, at: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', cancelled: true, recalledAt: at }, 'Merge');
  }

  async markCancelled(id: string, at: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', cancelled: true, cancelledAt: at }, 'Merge');
  }

  async markPlanned(id: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', planning: false }, 'Merge');
  }

  async markPlanning(id: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', planning: true }, 'Merge');
  }

  async reserveAudience(id: string, pageKey: string, count: number, maxAudience: number): Promise<number> {
    const pageRow = `${AUDIENCE_ROW}:${tableKey(pageKey)}`;
    for (;;) {
      const [total, page] = await Promise.all([
        getEntityOrUndefined<AudienceEntity>(this.notifications, id, AUDIENCE_ROW),
        getEntityOrUndefined<{ granted: number }>(this.notifications, id, pageRow),
      ]);
      if (page !== undefined) return page.granted;
      const reserved = total?.reserved ?? 0;
      const granted = Math.max(0, Math.min(count, maxAudience - reserved));
      // The total and this page's share change together, or not at all.
      const transaction = new TableTransaction();
      if (total === undefined) transaction.createEntity({ partitionKey: id, rowKey: AUDIENCE_ROW, reserved: granted });
      else transaction.updateEntity({ partitionKey: id, rowKey: AUDIENCE_ROW, reserved: reserved + granted }, 'Merge', { etag: total.etag ?? '*' });
      transaction.createEntity({ partitionKey: id, rowKey: pageRow, granted });
      try {
        await this.notifications.submitTransaction(transaction.actions);
        return granted;
      } catch (error) {
        // Another page counted at the same time, or a copy of this one: read again.
        if (!isStatus(error, 409) && !isStatus(error, 412)) throw error;
      }
    }
  }

  async markEnqueueFailed(id: string): Promise<void> {
    await this.notifications.updateEntity({ partitionKey: id, rowKey: '', enqueueFailed: true }, 'Merge');
  }

  async findIdempotencyKey(key: string): Promise<string | undefined> {
    return (await getEntityOrUndefined<IdempotencyEntity>(this.idempotency, tableKey(key), ''))?.notificationId;
  }

  async delete(id: string): Promise<void> {
    for (const rowKey of ['', AUDIENCE_ROW]) {
      try {
        await this.notifications.deleteEntity(id, rowKey);
      } catch (error) {
        if (!isStatus(error, 404)) throw error;
      }
    }
    await this.markFinished(id);
  }

  async claimIdempotencyKey(key: string, notificationId: string, requestHash: string): Promise<IdempotencyClaim> {
    const partitionKey = tableKey(key);
    try {
      await this.idempotency.createEntity<IdempotencyEntity>({ partitionKey, rowKey: '', notificationId, requestHash });
      return { kind: 'claimed' };
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
    const existing = await getEntityOrUndefined<IdempotencyEntity>(this.idempotency, partitionKey, '');
    // Released between our create and our read (the other request failed): claim it again.
    if (existing === undefined) return this.claimIdempotencyKey(key, notificationId, requestHash);
    return existing.requestHash === requestHash
      ? { kind: 'existing', notificationId: existing.notificationId }
      : { kind: 'conflict', notificationId: existing.notificationId };
  }

  async releaseIdempotencyKey(key: string): Promise<void> {
    try {
      await this.idempotency.deleteEntity(tableKey(key), '');
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  async idempotencyKeysBefore(before: string, continuationToken?: string, pageSize = 100, after?: string): Promise<Page<IdempotencyRow>> {
    const from = after !== undefined ? `PartitionKey gt '${after.replace(/'/g, "''")}' and ` : '';
    const pages = this.idempotency
      .listEntities<IdempotencyEntity>({ queryOptions: { filter: `${from}Timestamp lt datetime'${new Date(before).toISOString()}'`, select: ['PartitionKey', 'notificationId'] } })
      .byPage({ maxPageSize: pageSize, ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    return {
      items: next.value.map((e) => ({ partitionKey: e.partitionKey, notificationId: e.notificationId, etag: e.etag })),
      ...(next.value.continuationToken !== undefined && { continuationToken: next.value.continuationToken }),
    };
  }

  async dropIdempotencyRow(row: IdempotencyRow): Promise<void> {
    try {
      await this.idempotency.deleteEntity(row.partitionKey, '', { etag: row.etag });
    } catch (error) {
      if (!isStatus(error, 404) && !isStatus(error, 412)) throw error;
    }
  }

  async releaseIdempotencyKeyOf(key: string, notificationId: string): Promise<void> {
    const existing = await getEntityOrUndefined<IdempotencyEntity>(this.idempotency, tableKey(key), '');
    if (existing?.notificationId !== notificationId) return;
    try {
      await this.idempotency.deleteEntity(tableKey(key), '', { etag: existing.etag });
    } catch (error) {
      // Gone already, or bound anew meanwhile: either way not ours to release any more.
      if (!isStatus(error, 404) && !isStatus(error, 412)) throw error;
    }
  }

  async listRecent(since: string, limit: number): Promise<NotificationRecord[]> {
    const idFrom = `${ID_PREFIX}${Math.max(0, Date.parse(since)).toString(36).padStart(9, '0')}`;
    // Table Storage lists in ascending key order only: read the window (capped), keep the newest.
    const filter = `PartitionKey ge '${idFrom}' and PartitionKey lt 'o' and RowKey eq ''`;
    const newest: NotificationRecord[] = [];
    for await (const e of this.notifications.listEntities<NotificationEntity>({ queryOptions: { filter } })) {
      if (e.purging === true) continue;
      newest.push(toRecord(e.partitionKey, e));
      if (newest.length > limit) newest.shift();
    }
    return newest.reverse();
  }
}

function toRecord(id: string, e: NotificationEntity): NotificationRecord {
  return {
    id,
    createdAt: e.createdAt,
    message: JSON.parse(e.message) as Message,
    requestedRecipients: e.requestedRecipients,
    ...(e.sendAt !== undefined && { sendAt: e.sendAt }),
    ...(e.expiresAt !== undefined && { expiresAt: e.expiresAt }),
    ...(e.idempotencyKey !== undefined && { idempotencyKey: e.idempotencyKey }),
    ...(e.enqueuedAt !== undefined && { enqueuedAt: e.enqueuedAt }),
    ...(e.enqueueFailed !== undefined && { enqueueFailed: e.enqueueFailed }),
    ...(e.cancelled !== undefined && { cancelled: e.cancelled }),
    ...(e.priority !== undefined && { priority: e.priority }),
    ...(e.recipients !== undefined && { recipients: JSON.parse(e.recipients) as Recipient[] }),
    ...(e.planning !== undefined && { planning: e.planning }),
    ...(e.maxAudience !== undefined && { maxAudience: e.maxAudience }),
    ...(e.messageVersion !== undefined && { messageVersion: e.messageVersion }),
    ...(e.recalledAt !== undefined && { recalledAt: e.recalledAt }),
    ...(e.callbackUrl !== undefined && { callbackUrl: e.callbackUrl }),
    ...(e.callbackFailureCount !== undefined && e.lastCallbackFailure !== undefined && { callbackFailures: { count: e.callbackFailureCount, last: JSON.parse(e.lastCallbackFailure) as { eventId: string; detail: string; at: string } } }),
  };
}
