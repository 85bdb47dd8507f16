import type { TableClient } from '@azure/data-tables';
import { getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

/** Users who said `stop`: per tenant and user, kept until they say `start`. */
export interface OptOutStore {
  isOptedOut(tenantId: string, userId: string): Promise<boolean>;
  optOut(tenantId: string, userId: string, aadObjectId?: string): Promise<void>;
  optIn(tenantId: string, userId: string): Promise<void>;
}

export class TableOptOutStore implements OptOutStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('optOuts');
  }

  async isOptedOut(tenantId: string, userId: string): Promise<boolean> {
    return (await getEntityOrUndefined(this.table, tableKey(tenantId), tableKey(userId))) !== undefined;
  }

  async optOut(tenantId: string, userId: string, aadObjectId?: string): Promise<void> {
    await this.table.upsertEntity(
      {
        partitionKey: tableKey(tenantId),
        rowKey: tableKey(userId),
        optedOutAt: new Date().toISOString(),
        ...(aadObjectId !== undefined && { aadObjectId }),
      },
      'Replace',
    );
  }

  async optIn(tenantId: string, userId: string): Promise<void> {
    try {
      await this.table.deleteEntity(tableKey(tenantId), tableKey(userId));
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }
}
