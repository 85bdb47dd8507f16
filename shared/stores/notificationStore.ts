import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { Message } from '../domain/message';
import type { NotificationRecord } from '../domain/notification';
import type { Recipient } from '../domain/recipient';
import { getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

export type IdempotencyClaim =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'existing'; readonly notificationId: string }
  | { readonly kind: 'conflict'; readonly notificationId: string };

/** Notification records and the Idempotency-Key index that maps a key to the notification it made. */
export interface NotificationStore {
  /** Writes the record unless one with this id exists (then leaves it as it is). */
  create(record: NotificationRecord): Promise<void>;
  get(id: string): Promise<NotificationRecord | undefined>;
  /** Notifications created at or after `since` (ISO 8601), for the sweeper. */
  createdSince(since: string): AsyncIterable<NotificationRecord>;
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
  /** The notification an Idempotency-Key is bound to, if any. */
  findIdempotencyKey(key: string): Promise<string | undefined>;
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
  etag?: string;
}

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
    try {
      await this.notifications.createEntity(entity);
    } catch (error) {
      if (!isStatus(error, 409)) throw error;
    }
  }

  async get(id: string): Promise<NotificationRecord | undefined> {
    const e = await getEntityOrUndefined<NotificationEntity>(this.notifications, id, '');
    return e === undefined ? undefined : toRecord(id, e);
  }

  async *createdSince(since: string): AsyncIterable<NotificationRecord> {
    const entities = this.notifications.listEntities<NotificationEntity>({
      queryOptions: { filter: `createdAt ge '${since.replace(/'/g, "''")}'` },
    });
    for await (const e of entities) yield toRecord(e.partitionKey, e);
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
