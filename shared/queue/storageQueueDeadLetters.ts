import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import { tableContinuation, type Page } from '../stores/page';
import { isStatus } from '../stores/tables';
import { decodeToken, describeBody, encodeToken, InvalidContinuationToken, type DeadLetterEntry, type DeadLetterQuery, type DeadLetters } from './deadLetters';
import type { DeadLetter } from './jobQueue';

/** The partition of letters whose body names no notification (poison bodies, welcomes). */
const NO_NOTIFICATION = '~none';
/** A table string property holds 64 KiB (32K UTF-16 units); a queue message holds at most 64 KiB. */
const BODY_CHUNK = 30_000;
const BODY_CHUNKS = 3;
const LOCAL_ID = /^[A-Za-z0-9-]{1,100}$/;

interface IndexEntity {
  partitionKey: string;
  rowKey: string;
  /** The letter's id, chosen before anything is written (absent on rows written before it was: their id is `messageId`). */
  letterId?: string;
  /** The queue copy, once it is sent: absent when parking stopped between the row and the message. */
  messageId?: string;
  /** From the put: it stays valid while nobody receives the message, and nobody receives from this queue. */
  popReceipt?: string;
  reason: string;
  description: string;
  deadLetteredAt: string;
  body0: string;
  body1?: string;
  body2?: string;
}

/** The index table's name: the dead-letter queue's name without its dashes (table names are alphanumeric). */
export function indexTableName(deadLetterQueueName: string): string {
  const name = deadLetterQueueName.replace(/[^A-Za-z0-9]/g, '');
  return /^[A-Za-z]/.test(name) ? name.slice(0, 63) : `d${name}`.slice(0, 63);
}

/**
 * The Azurite dead letters. A storage queue can only be peeked 32 messages deep and a message can
 * only be deleted with a pop receipt, so a table indexes the letters: keyed by notification
 * (listing one notification's is a partition query), paged with the table's own continuation, and
 * holding the whole letter (reason, description, body). The index row IS the letter: it is written
 * first, under an id chosen here, and the dead-letter queue message (which carries the same id) is
 * a secondary copy, for someone looking at the queue with Storage Explorer. A crash between the two
 * leaves a listed, redrivable letter with no queue copy (removing it removes the row); never a
 * letter nobody lists. The message's id and pop receipt are added to the row once it is sent; a
 * crash before that leaves a queue copy nothing removes, which is harmless (nobody receives from
 * that queue) and found by its id.
 */
export class StorageQueueDeadLetters implements DeadLetters {
  constructor(
    private readonly queue: QueueClient,
    private readonly index: TableClient,
  ) {}

  static indexClient(connectionString: string, deadLetterQueueName: string): TableClient {
    return TableClient.fromConnectionString(connectionString, indexTableName(deadLetterQueueName), {
      allowInsecureConnection: /UseDevelopmentStorage=true|https?:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(connectionString),
    });
  }

  /** Parks a letter: its index row first (the durable record), then the queue copy, then the copy's receipt on the row. */
  async park(letter: DeadLetter, encode: (id: string, deadLetteredAt: string) => string): Promise<void> {
    const deadLetteredAt = new Date().toISOString();
    const id = randomUUID();
    const about = describeBody(letter.body);
    const chunks = Array.from({ length: BODY_CHUNKS }, (_, i) => letter.body.slice(i * BODY_CHUNK, (i + 1) * BODY_CHUNK));
    const entity: IndexEntity = {
      partitionKey: about.notificationId ?? NO_NOTIFICATION,
      rowKey: `${deadLetteredAt}_${id}`,
      letterId: id,
      reason: letter.reason,
      description: letter.description.slice(0, BODY_CHUNK),
      deadLetteredAt,
      body0: chunks[0] ?? '',
      ...(chunks[1] !== '' && { body1: chunks[1] }),
      ...(chunks[2] !== '' && { body2: chunks[2] }),
    };
    await this.index.createEntity(entity);
    const sent = await this.queue.sendMessage(encode(id, deadLetteredAt), { messageTimeToLive: -1 });
    await this.index.updateEntity({ partitionKey: entity.partitionKey, rowKey: entity.rowKey, messageId: sent.messageId, popReceipt: sent.popReceipt }, 'Merge');
  }

  async list(query: DeadLetterQuery): Promise<Page<DeadLetterEntry>> {
    const tableToken = query.continuationToken === undefined ? undefined : fromToken(query.continuationToken);
    if (query.continuationToken !== undefined && tableToken === undefined) throw new InvalidContinuationToken();
    const filter = query.notificationId === undefined ? undefined : `PartitionKey eq '${query.notificationId.replace(/'/g, "''")}'`;
    const pages = this.index
      .listEntities<IndexEntity>({ ...(filter !== undefined && { queryOptions: { filter } }) })
      .byPage({ maxPageSize: query.limit, ...(tableToken !== undefined && { continuationToken: tableToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    return {
      items: next.value.map(toEntry),
      ...(next.value.continuationToken !== undefined && { continuationToken: encodeToken({ t: next.value.continuationToken }) }),
    };
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    const entity = await this.find(id);
    return entity === undefined ? undefined : toEntry(entity);
  }

  async remove(id: string): Promise<boolean> {
    const entity = await this.find(id);
    if (entity === undefined) return false;
    try {
      if (entity.messageId !== undefined && entity.popReceipt !== undefined) await this.queue.deleteMessage(entity.messageId, entity.popReceipt);
    } catch (error) {
      // Gone already (or its receipt changed because someone received it): the index row is what
      // lists it, so removing that is what takes it out.
      if (!isStatus(error, 404) && !isStatus(error, 400)) throw error;
    }
    try {
      await this.index.deleteEntity(entity.partitionKey, entity.rowKey);
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw error;
    }
    return true;
  }

  private async find(id: string): Promise<IndexEntity | undefined> {
    if (!LOCAL_ID.test(id)) return undefined;
    const filter = `letterId eq '${id}' or messageId eq '${id}'`;
    for await (const entity of this.index.listEntities<IndexEntity>({ queryOptions: { filter } })) return entity;
    return undefined;
  }
}

/** Our wrapper around the table's continuation, which must itself be one (see `tableContinuation`). */
function fromToken(token: string): string | undefined {
  const value = decodeToken(token);
  const t = (value as { t?: unknown } | undefined)?.t;
  return typeof t === 'string' ? tableContinuation(t) : undefined;
}

function toEntry(entity: IndexEntity): DeadLetterEntry {
  const body = `${entity.body0}${entity.body1 ?? ''}${entity.body2 ?? ''}`;
  return {
    // Every row has one: rows from before letter ids were chosen here have their message id.
    id: entity.letterId ?? entity.messageId ?? '',
    reason: entity.reason,
    description: entity.description,
    deadLetteredAt: entity.deadLetteredAt,
    ...describeBody(body),
    body,
  };
}
