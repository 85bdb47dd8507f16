import { TableTransaction, type TableClient } from '@azure/data-tables';
import { isStatus, tableKey, type Tables } from './tables';

/** A message sent to a personal chat, as a read receipt will name it. */
export interface SentToChat {
  readonly conversationId: string;
  readonly activityId: string;
  readonly notificationId: string;
  readonly recipientKey: string;
}

/**
 * Teams' read receipts name the last message read in a personal chat; every bot message before it
 * is read too (message ids in a chat are ordered times). This index, one partition per chat and
 * one row per message not yet read, finds them without scanning every notification. A row goes
 * once its message is read.
 */
export interface ReadReceiptStore {
  recordSent(sent: SentToChat): Promise<void>;
  /** The messages of the chat up to and including `lastReadMessageId` not yet marked read; each is handed out once. */
  takeReadUpTo(conversationId: string, lastReadMessageId: string): Promise<readonly SentToChat[]>;
}

/** Message ids are epoch milliseconds: padded, they sort as row keys in the order Teams gives them. */
const ID_WIDTH = 20;
const orderKey = (activityId: string): string | undefined => (/^\d{1,20}$/.test(activityId) ? activityId.padStart(ID_WIDTH, '0') : undefined);

export class TableReadReceiptStore implements ReadReceiptStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('sentMessages');
  }

  async recordSent(sent: SentToChat): Promise<void> {
    const rowKey = orderKey(sent.activityId);
    // An id that is not a time cannot be ordered against a receipt: such a message is never marked read.
    if (rowKey === undefined) return;
    await this.table.upsertEntity({ partitionKey: tableKey(sent.conversationId), rowKey, conversationId: sent.conversationId, activityId: sent.activityId, notificationId: sent.notificationId, recipientKey: sent.recipientKey }, 'Replace');
  }

  async takeReadUpTo(conversationId: string, lastReadMessageId: string): Promise<readonly SentToChat[]> {
    const upTo = orderKey(lastReadMessageId);
    if (upTo === undefined) return [];
    const partition = tableKey(conversationId);
    const rows: (SentToChat & { rowKey: string })[] = [];
    const entities = this.table.listEntities<SentToChat & { rowKey: string }>({
      queryOptions: { filter: `PartitionKey eq '${partition.replace(/'/g, "''")}' and RowKey le '${upTo}'` },
    });
    for await (const e of entities) rows.push(e);
    for (let i = 0; i < rows.length; i += 100) {
      const transaction = new TableTransaction();
      for (const row of rows.slice(i, i + 100)) transaction.deleteEntity(partition, row.rowKey);
      // Another receipt for the same chat may have taken some at the same time: marking read twice is harmless.
      await this.table.submitTransaction(transaction.actions).catch((error: unknown) => {
        if (!isStatus(error, 404)) throw error;
      });
    }
    return rows.map(({ conversationId: c, activityId, notificationId, recipientKey }) => ({ conversationId: c, activityId, notificationId, recipientKey }));
  }
}
