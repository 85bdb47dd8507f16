import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { ConversationReference, TeamReference, UserReference } from '../domain/reference';
import type { UserRecipient } from '../domain/recipient';
import type { Page } from './page';
import { definedFields, getEntityOrUndefined, tableKey, type Tables } from './tables';

export type { Page } from './page';

/**
 * Conversation references captured from Teams activities: who and where the bot can message.
 * The Table Storage adapter below is the only one: Azurite serves it locally.
 */
export interface ConversationStore {
  /** Creates or merges a user; fields left undefined keep their stored value. */
  saveUser(user: UserReference): Promise<void>;
  /**
   * Forgets the stored 1:1 chat id (Teams dropped it), so the next send creates it again; with
   * `installed: false` the user is also marked unreachable. Touches no other field.
   */
  clearPersonalConversation(user: Pick<UserReference, 'userId' | 'aadObjectId'>, change?: { installed?: boolean }): Promise<void>;
  findUser(recipient: UserRecipient): Promise<UserReference | undefined>;
  saveTeam(team: TeamReference): Promise<void>;
  findTeam(teamId: string): Promise<TeamReference | undefined>;
  saveConversation(conversation: ConversationReference): Promise<void>;
  findConversation(conversationId: string): Promise<ConversationReference | undefined>;
  listUsers(continuationToken?: string, pageSize?: number): Promise<Page<UserReference>>;
  listTeams(continuationToken?: string, pageSize?: number): Promise<Page<TeamReference>>;
}

/*
 * Layout of the `conversations` table. A user is written twice in one transaction (same
 * partition), keyed by Entra object id and by Teams user id, because recipients name either and
 * the tenant is not part of a recipient. Listing all users reads the `id:` rows only.
 */
const USER = 'user';
const TEAM = 'team';
const CONVERSATION = 'conversation';
const byAad = (aadObjectId: string) => `aad:${tableKey(aadObjectId.toLowerCase())}`;
const byUserId = (userId: string) => `id:${tableKey(userId)}`;

type Stored<T> = { partitionKey: string; rowKey: string } & { [K in keyof T]: T[K] };

export class TableConversationStore implements ConversationStore {
  private readonly table: TableClient;

  constructor(tables: Tables) {
    this.table = tables.client('conversations');
  }

  async saveUser(user: UserReference): Promise<void> {
    const transaction = new TableTransaction();
    const entity = { ...definedFields(user), partitionKey: USER };
    transaction.upsertEntity({ ...entity, rowKey: byUserId(user.userId) }, 'Merge');
    if (user.aadObjectId !== undefined) transaction.upsertEntity({ ...entity, rowKey: byAad(user.aadObjectId) }, 'Merge');
    await this.table.submitTransaction(transaction.actions);
  }

  async clearPersonalConversation(user: Pick<UserReference, 'userId' | 'aadObjectId'>, change: { installed?: boolean } = {}): Promise<void> {
    // Merge never removes a property: an empty string is the stored form of "none".
    const patch = {
      partitionKey: USER,
      personalConversationId: '',
      updatedAt: new Date().toISOString(),
      ...(change.installed !== undefined && { installed: change.installed }),
    };
    const transaction = new TableTransaction();
    transaction.updateEntity({ ...patch, rowKey: byUserId(user.userId) }, 'Merge');
    if (user.aadObjectId !== undefined) transaction.updateEntity({ ...patch, rowKey: byAad(user.aadObjectId) }, 'Merge');
    await this.table.submitTransaction(transaction.actions);
  }

  async findUser(recipient: UserRecipient): Promise<UserReference | undefined> {
    const rowKey = recipient.aadObjectId !== undefined ? byAad(recipient.aadObjectId) : byUserId(recipient.userId);
    const entity = await getEntityOrUndefined<Stored<UserReference>>(this.table, USER, rowKey);
    return entity && toUser(entity);
  }

  async saveTeam(team: TeamReference): Promise<void> {
    await this.table.upsertEntity({ ...definedFields(team), partitionKey: TEAM, rowKey: tableKey(team.teamId) }, 'Merge');
  }

  async findTeam(teamId: string): Promise<TeamReference | undefined> {
    const entity = await getEntityOrUndefined<Stored<TeamReference>>(this.table, TEAM, tableKey(teamId));
    return entity && toTeam(entity);
  }

  async saveConversation(conversation: ConversationReference): Promise<void> {
    await this.table.upsertEntity(
      { ...definedFields(conversation), partitionKey: CONVERSATION, rowKey: tableKey(conversation.conversationId) },
      'Merge',
    );
  }

  async findConversation(conversationId: string): Promise<ConversationReference | undefined> {
    const entity = await getEntityOrUndefined<Stored<ConversationReference>>(this.table, CONVERSATION, tableKey(conversationId));
    return entity && toConversation(entity);
  }

  async listUsers(continuationToken?: string, pageSize = 100): Promise<Page<UserReference>> {
    return this.page(`PartitionKey eq '${USER}' and RowKey ge 'id:' and RowKey lt 'id;'`, toUser, continuationToken, pageSize);
  }

  async listTeams(continuationToken?: string, pageSize = 100): Promise<Page<TeamReference>> {
    return this.page(`PartitionKey eq '${TEAM}'`, toTeam, continuationToken, pageSize);
  }

  private async page<E extends object, T>(
    filter: string,
    map: (entity: Stored<E>) => T,
    continuationToken: string | undefined,
    pageSize: number,
  ): Promise<Page<T>> {
    const pages = this.table
      .listEntities<Stored<E>>({ queryOptions: { filter } })
      .byPage({ maxPageSize: pageSize, ...(continuationToken !== undefined && { continuationToken }) });
    const next = await pages.next();
    if (next.done === true) return { items: [] };
    const page = next.value;
    return {
      items: page.map(map),
      ...(page.continuationToken !== undefined && { continuationToken: page.continuationToken }),
    };
  }
}


function pick<T extends object>(entity: Record<string, unknown>, keys: readonly (keyof T)[]): T {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (entity[key as string] !== undefined) out[key as string] = entity[key as string];
  return out as T;
}

const ADDRESS = ['serviceUrl', 'tenantId', 'botId'] as const;
const toUser = (e: Record<string, unknown>) =>
  pick<UserReference>({ ...e, personalConversationId: e.personalConversationId === '' ? undefined : e.personalConversationId }, [
    ...ADDRESS,
    'userId',
    'aadObjectId',
    'name',
    'personalConversationId',
    'installed',
    'hasPersonalApp',
    'updatedAt',
  ]);
const toTeam = (e: Record<string, unknown>) =>
  pick<TeamReference>(e, [...ADDRESS, 'teamId', 'name', 'generalChannelId', 'installed', 'installedBy', 'updatedAt']);
const toConversation = (e: Record<string, unknown>) =>
  pick<ConversationReference>(e, [...ADDRESS, 'conversationId', 'kind', 'teamId', 'name', 'userId', 'active', 'updatedAt']);
