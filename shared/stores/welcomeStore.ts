import type { TableClient } from '@azure/data-tables';
import { isStatus, tableKey, type Tables } from './tables';

/** One welcome per installation: a row per conversation, created once, removed on uninstall. */
export interface WelcomeStore {
  /** True for the first caller only, however many times Teams delivers the install activities. */
  claim(conversationId: string): Promise<boolean>;
  release(conversationId: string): Promise<void>;
}

export class TableWelcomeStore implements WelcomeStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('welcomes');
  }

  async claim(conversationId: string): Promise<boolean> {
    try {
      await this.table.createEntity({ partitionKey: tableKey(conversationId), rowKey: '', welcomedAt: new Date().toISOString() });
      return true;
    } catch (error) {
      if (isStatus(error, 409)) return false;
      throw error;
    }
  }

  async release(conversationId: string): Promise<void> {
    try {
      await this.table.deleteEntity(tableKey(conversationId), '');
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }
}
