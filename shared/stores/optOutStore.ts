import type { TableClient } from '@azure/data-tables';
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

export class TableOptOutStore implements OptOutStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('optOuts');
  }

  async isOptedOut(subject: OptOutSubject): Promise<boolean> {
    return (await getEntityOrUndefined(this.table, tableKey(subject.tenantId), rowKey(subject))) !== undefined;
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
  }

  async optIn(subject: OptOutSubject): Promise<void> {
    try {
      await this.table.deleteEntity(tableKey(subject.tenantId), rowKey(subject));
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }
}
