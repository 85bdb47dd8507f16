import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { BotEndpointAddress, ConversationReference, TeamReference, TeamsUserReference, UserReference } from '../domain/reference';
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
  /** The first message after a proactive install reached them: later ones need not say why. Touches no other field. */
  markIntroduced(target: { readonly user: Pick<UserReference, 'userId' | 'aadObjectId'> } | { readonly teamId: string }): Promise<void>;
  /** Creates or merges a team; one with an `aadGroupId` can be found by it too. */
  saveTeam(team: TeamReference): Promise<void>;
  findTeam(teamId: string): Promise<TeamReference | undefined>;
  /** The team whose Entra group this is, once the bot has seen the team say so (or installed it there). */
  findTeamByGroup(aadGroupId: string): Promise<TeamReference | undefined>;
  /**
   * Where the bot last reached the tenant: a proactive install has no activity of its own yet, and
   * sends through the tenant's service URL until one comes.
   */
  saveTenantAddress(address: BotEndpointAddress): Promise<void>;
  findTenantAddress(tenantId: string): Promise<BotEndpointAddress | undefined>;
  saveConversation(conversation: ConversationReference): Promise<void>;
  findConversation(conversationId: string): Promise<ConversationReference | undefined>;
  listUsers(continuationToken?: string, pageSize?: number): Promise<Page<TeamsUserReference>>;
  listTeams(continuationToken?: string, pageSize?: number): Promise<Page<TeamReference>>;
}

/*
 * Layout of the `conversations` table. A user is written twice in one transaction (same
 * partition), keyed by Entra object id and by Teams user id, because recipients name either and
 * the tenant is not part of a recipient. Listing all users reads the `id:` rows only, so a user
 * installed through Graph (an `aad:` row alone) joins `allUsers` once Teams introduces them.
 * A team's Entra group id points at its team id from a partition of its own; a tenant's address
 * is one row per tenant.
 */
const USER = 'user';
const TEAM = 'team';
const TEAM_BY_GROUP = 'teamGroup';
const TENANT = 'tenant';
const CONVERSATION = 'conversation';
/** A tenant's address or a group's team, written again at most this often by one process: most activities only repeat them. */
const REWRITE_AFTER_MS = 60 * 60_000;
/** How long a tenant's address read is reused. */
const TENANT_CACHE_MS = 60_000;
const byAad = (aadObjectId: string) => `aad:${tableKey(aadObjectId.toLowerCase())}`;
const byUserId = (userId: string) => `id:${tableKey(userId)}`;

type Stored<T> = { partitionKey: string; rowKey: string } & { [K in keyof T]: T[K] };

export class TableConversationStore implements ConversationStore {
  private readonly table: TableClient;
  /** What this process wrote lately (tenant addresses, group aliases), so an activity that only repeats them writes nothing. */
  private readonly written = new Map<string, number>();
  private readonly tenants = new Map<string, { address: BotEndpointAddress | undefined; readAt: number }>();

  constructor(tables: Tables) {
    this.table = tables.client('conversations');
  }

  async saveUser(user: UserReference): Promise<void> {
    if (user.userId === undefined && user.aadObjectId === undefined) throw new Error('a user needs a Teams user id or an Entra object id');
    const transaction = new TableTransaction();
    const entity = { ...definedFields(user), partitionKey: USER };
    if (user.userId !== undefined) transaction.upsertEntity({ ...entity, rowKey: byUserId(user.userId) }, 'Merge');
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
    if (user.userId !== undefined) transaction.updateEntity({ ...patch, rowKey: byUserId(user.userId) }, 'Merge');
    if (user.aadObjectId !== undefined) transaction.updateEntity({ ...patch, rowKey: byAad(user.aadObjectId) }, 'Merge');
    if (transaction.actions.length > 0) await this.table.submitTransaction(transaction.actions);
  }

  async markIntroduced(target: { readonly user: Pick<UserReference, 'userId' | 'aadObjectId'> } | { readonly teamId: string }): Promise<void> {
    const patch = { firstMessagePending: false, updatedAt: new Date().toISOString() };
    if ('teamId' in target) {
      await this.table.updateEntity({ partitionKey: TEAM, rowKey: tableKey(target.teamId), ...patch }, 'Merge');
      return;
    }
    const transaction = new TableTransaction();
    if (target.user.userId !== undefined) transaction.updateEntity({ partitionKey: USER, rowKey: byUserId(target.user.userId), ...patch }, 'Merge');
    if (target.user.aadObjectId !== undefined) transaction.updateEntity({ partitionKey: USER, rowKey: byAad(target.user.aadObjectId), ...patch }, 'Merge');
    if (transaction.actions.length > 0) await this.table.submitTransaction(transaction.actions);
  }

  async findUser(recipient: UserRecipient): Promise<UserReference | undefined> {
    const rowKey = recipient.aadObjectId !== undefined ? byAad(recipient.aadObjectId) : byUserId(recipient.userId);
    const entity = await getEntityOrUndefined<Stored<UserReference>>(this.table, USER, rowKey);
    return entity && toUser(entity);
  }

  async saveTeam(team: TeamReference): Promise<void> {
    await this.table.upsertEntity({ ...definedFields(team), partitionKey: TEAM, rowKey: tableKey(team.teamId) }, 'Merge');
    const group = team.aadGroupId?.toLowerCase();
    if (group !== undefined) {
      await this.writeOnce(`group\n${group}\n${team.teamId}`, () =>
        this.table.upsertEntity({ partitionKey: TEAM_BY_GROUP, rowKey: tableKey(group), teamId: team.teamId }, 'Replace'),
      );
    }
  }

  async findTeam(teamId: string): Promise<TeamReference | undefined> {
    const entity = await getEntityOrUndefined<Stored<TeamReference>>(this.table, TEAM, tableKey(teamId));
    return entity && toTeam(entity);
  }

  async findTeamByGroup(aadGroupId: string): Promise<TeamReference | undefined> {
    const alias = await getEntityOrUndefined<{ teamId?: string }>(this.table, TEAM_BY_GROUP, tableKey(aadGroupId.toLowerCase()));
    return typeof alias?.teamId === 'string' ? this.findTeam(alias.teamId) : undefined;
  }

  async saveTenantAddress(address: BotEndpointAddress): Promise<void> {
    const tenant = address.tenantId.toLowerCase();
    await this.writeOnce(`tenant\n${tenant}\n${address.serviceUrl}\n${address.botId}`, async () => {
      const value = { serviceUrl: address.serviceUrl, tenantId: address.tenantId, botId: address.botId };
      await this.table.upsertEntity({ partitionKey: TENANT, rowKey: tableKey(tenant), ...value, updatedAt: new Date().toISOString() }, 'Replace');
      this.tenants.set(tenant, { address: value, readAt: Date.now() });
    });
  }

  async findTenantAddress(tenantId: string): Promise<BotEndpointAddress | undefined> {
    const tenant = tenantId.toLowerCase();
    const cached = this.tenants.get(tenant);
    if (cached !== undefined && Date.now() - cached.readAt < TENANT_CACHE_MS) return cached.address;
    const entity = await getEntityOrUndefined<Record<string, unknown>>(this.table, TENANT, tableKey(tenant));
    const address = entity === undefined ? undefined : pick<BotEndpointAddress>(entity, ADDRESS);
    this.tenants.set(tenant, { address, readAt: Date.now() });
    return address;
  }

  private async writeOnce(key: string, write: () => Promise<unknown>): Promise<void> {
    const at = this.written.get(key);
    if (at !== undefined && Date.now() - at < REWRITE_AFTER_MS) return;
    await write();
    if (this.written.size >= 10_000) this.written.clear();
    this.written.set(key, Date.now());
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

  async listUsers(continuationToken?: string, pageSize = 100): Promise<Page<TeamsUserReference>> {
    // `id:` rows are keyed by the Teams user id, so each has one.
    return this.page(`PartitionKey eq '${USER}' and RowKey ge 'id:' and RowKey lt 'id;'`, (e) => toUser(e) as TeamsUserReference, continuationToken, pageSize);
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
    'installedVia',
    'firstMessagePending',
    'updatedAt',
  ]);
const toTeam = (e: Record<string, unknown>) =>
  pick<TeamReference>(e, [...ADDRESS, 'teamId', 'aadGroupId', 'name', 'generalChannelId', 'installed', 'installedBy', 'firstMessagePending', 'updatedAt']);
const toConversation = (e: Record<string, unknown>) =>
  pick<ConversationReference>(e, [...ADDRESS, 'conversationId', 'kind', 'teamId', 'name', 'userId', 'active', 'updatedAt']);
