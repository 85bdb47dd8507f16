import { TableTransaction, type TableClient, type TransactionAction } from '@azure/data-tables';
import { mapLimit } from '../mapLimit';
import { isStatus, tableKey, type Tables } from './tables';

/** A message sent to a personal chat, as a read receipt will name it. */
export interface SentToChat {
  readonly tenantId: string;
  readonly conversationId: string;
  readonly activityId: string;
  readonly notificationId: string;
  readonly recipientKey: string;
}

/**
 * Teams' read receipts name the last message read in a personal chat; every bot message before it
 * is read too (message ids in a chat are ordered times). This index finds them without scanning
 * every notification. A row goes once its message is read.
 *
 * Rows are kept one partition per tenant and month, keyed by chat and then message id, so the
 * messages of one slice (one tenant, one second) are written in one batch rather than one write
 * each, and a receipt reads one key range in each month it can reach back to.
 */
export interface ReadReceiptStore {
  /** Indexes sent messages, a batch per tenant and month. */
  recordSent(sent: readonly SentToChat[]): Promise<void>;
  /** The messages of the chat up to and including `lastReadMessageId` not yet marked read; each is handed out once. */
  takeReadUpTo(tenantId: string, conversationId: string, lastReadMessageId: string): Promise<readonly SentToChat[]>;
  /** Drops these messages from the index (the retention purge of their notification); rows gone already are fine. */
  forget(sent: readonly Pick<SentToChat, 'tenantId' | 'conversationId' | 'activityId'>[]): Promise<void>;
}

/** Message ids are epoch milliseconds: padded, they sort as row keys in the order Teams gives them. */
const ID_WIDTH = 20;
const orderKey = (activityId: string): string | undefined => (/^\d{1,20}$/.test(activityId) ? activityId.padStart(ID_WIDTH, '0') : undefined);
/** Sorts below every character of a table key (base64url), so one chat's rows form one range. */
const CHAT_SEPARATOR = '!';
const MAX_BATCH = 100;
/** Deletes in flight at once when the retention purge forgets messages. */
const FORGET_CONCURRENCY = 8;
const DAY_MS = 24 * 3600_000;

/** The month (UTC) a message id, an epoch-ms time, falls in. */
const monthOf = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 7);
const partitionOf = (tenantId: string, month: string): string => `${tableKey(tenantId)}${CHAT_SEPARATOR}${month}`;

export interface ReadReceiptStoreOptions {
  /** How far before the read message a receipt looks for unread ones: rows older than this are purged anyway. */
  readonly lookbackDays: number;
}

export class TableReadReceiptStore implements ReadReceiptStore {
  private readonly table: TableClient;

  constructor(
    tables: Tables,
    private readonly options: ReadReceiptStoreOptions = { lookbackDays: 31 },
  ) {
    this.table = tables.client('sentMessages');
  }

  async recordSent(sent: readonly SentToChat[]): Promise<void> {
    const byPartition = new Map<string, Map<string, SentToChat>>();
    for (const message of sent) {
      const order = orderKey(message.activityId);
      // An id that is not a time cannot be ordered against a receipt: such a message is never marked read.
      if (order === undefined) continue;
      const partition = partitionOf(message.tenantId, monthOf(Number(message.activityId)));
      const rows = byPartition.get(partition) ?? new Map<string, SentToChat>();
      rows.set(`${tableKey(message.conversationId)}${CHAT_SEPARATOR}${order}`, message);
      byPartition.set(partition, rows);
    }
    for (const [partitionKey, rows] of byPartition) {
      const entries = [...rows];
      for (let i = 0; i < entries.length; i += MAX_BATCH) {
        const actions: TransactionAction[] = entries
          .slice(i, i + MAX_BATCH)
          .map(([rowKey, m]) => ['upsert', { partitionKey, rowKey, tenantId: m.tenantId, conversationId: m.conversationId, activityId: m.activityId, notificationId: m.notificationId, recipientKey: m.recipientKey }, 'Replace']);
        await this.table.submitTransaction(actions);
      }
    }
  }

  async takeReadUpTo(tenantId: string, conversationId: string, lastReadMessageId: string): Promise<readonly SentToChat[]> {
    const upTo = orderKey(lastReadMessageId);
    if (upTo === undefined) return [];
    const chat = `${tableKey(conversationId)}${CHAT_SEPARATOR}`;
    const readAt = Number(lastReadMessageId);
    const taken: SentToChat[] = [];
    for (const month of monthsBetween(readAt - this.options.lookbackDays * DAY_MS, readAt)) {
      const partition = partitionOf(tenantId, month);
      const rows: (SentToChat & { rowKey: string })[] = [];
      const entities = this.table.listEntities<SentToChat & { rowKey: string }>({
        queryOptions: { filter: `PartitionKey eq '${partition}' and RowKey ge '${chat}' and RowKey le '${chat}${upTo}'` },
      });
      for await (const e of entities) rows.push(e);
      for (let i = 0; i < rows.length; i += MAX_BATCH) {
        const transaction = new TableTransaction();
        for (const row of rows.slice(i, i + MAX_BATCH)) transaction.deleteEntity(partition, row.rowKey);
        // Another receipt for the same chat may have taken some at the same time: marking read twice is harmless.
        await this.table.submitTransaction(transaction.actions).catch((error: unknown) => {
          if (!isStatus(error, 404)) throw error;
        });
      }
      taken.push(...rows.map(({ tenantId: t, conversationId: c, activityId, notificationId, recipientKey }) => ({ tenantId: t, conversationId: c, activityId, notificationId, recipientKey })));
    }
    return taken;
  }

  async forget(sent: readonly Pick<SentToChat, 'tenantId' | 'conversationId' | 'activityId'>[]): Promise<void> {
    const keys = sent.flatMap((message) => {
      const order = orderKey(message.activityId);
      return order === undefined ? [] : [{ partitionKey: partitionOf(message.tenantId, monthOf(Number(message.activityId))), rowKey: `${tableKey(message.conversationId)}${CHAT_SEPARATOR}${order}` }];
    });
    // Row by row, a few at once: a batch would fail whole on the first row a receipt took already.
    await mapLimit(keys, FORGET_CONCURRENCY, ({ partitionKey, rowKey }) =>
      this.table.deleteEntity(partitionKey, rowKey).then(
        () => undefined,
        (error: unknown) => {
          if (!isStatus(error, 404)) throw error;
        },
      ),
    );
  }
}

/** The UTC months from `fromMs` to `toMs`, both included, oldest first. */
function monthsBetween(fromMs: number, toMs: number): string[] {
  const months: string[] = [];
  const cursor = new Date(fromMs);
  cursor.setUTCDate(1);
  cursor.setUTCHours(0, 0, 0, 0);
  while (cursor.getTime() <= toMs) {
    months.push(monthOf(cursor.getTime()));
    cursor.setUTCMonth(cursor.getUTCMonth() + 1);
  }
  return months;
}
