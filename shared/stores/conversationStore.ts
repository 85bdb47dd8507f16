import { TableTransaction, type TableClient } from '@azure/data-tables';
import type { BotEndpointAddress, ConversationReference, TeamReference, TeamsUserReference, UserReference } from '../domain/reference';
import type { UserRecipient } from '../domain/recipient';
import type { Page } from './page';
import { definedFields, getEntityOrUndefined, isStatus, tableKey, type Tables } from './tables';

export type { Page } from './page';

/**
 * Conversation references captured from Teams activities: who and where the bot can message.
 * The Table Storage adapter below is the only one: Azurite serves it locally.
 */
export interface ConversationStore {
  /**
   * Creates or merges a user; fields left undefined keep their stored value. Unconditional: only
   * for facts that do not depend on what is stored (a user seen for the first time). A change
   * worked out from a read goes through `updateUser`.
   */
  saveUser(user: UserReference): Promise<void>;
  /**
   * Reads the user and writes what `change` makes of it, only if nobody wrote the user in between
   * (ETags on both of its rows). On a conflict it reads again and asks `change` again, so a write
   * never rests on a stale read: a concurrent uninstall is seen, not undone. `change` gets
   * undefined for an unknown user and returns undefined to write nothing.
   */
  updateUser(who: Pick<UserReference, 'userId' | 'aadObjectId'>, change: UserChange): Promise<void>;
  /**
   * Forgets the stored 1:1 chat id (Teams dropped it), so the next send creates it again; with
   * `installed: false` the user is also marked unreachable. Touches no other field. With
   * `conversationId`, only if that is still the stored chat: a chat the user opened since stays.
   */
  clearPersonalConversation(user: Pick<UserReference, 'userId' | 'aadObjectId'>, change?: { installed?: false; conversationId?: string }): Promise<void>;
  findUser(recipient: UserRecipient): Promise<UserReference | undefined>;
  /** The first message after a proactive install reached them: later ones need not say why. Touches no other field. */
  markIntroduced(target: { readonly user: Pick<UserReference, 'userId' | 'aadObjectId'> } | { readonly teamId: string }): Promise<void>;
  /**
   * Creates or merges a team; one with an `aadGroupId` can be found by it too. `installed` is
   * written only if its `installedAsOf` is newer than the stored one (see `patchTeam`).
   */
  saveTeam(team: TeamReference): Promise<void>;
  /**
   * Creates a team the store does not know yet; false (and nothing written) when it knows it
   * already, say from an activity that came in meanwhile: that one's fields are Teams' own.
   */
  addTeam(team: TeamReference): Promise<boolean>;
  /**
   * Merges just these fields into a stored team; nothing when the team is unknown. `installed` is
   * ordered by the time of its evidence: written only if `installedAsOf` is newer than the stored
   * one (either missing: written), under the row's ETag, so a late 403 never undoes a reinstall
   * seen after the refused send started.
   */
  patchTeam(teamId: string, patch: Partial<Pick<TeamReference, 'installed' | 'installedAsOf' | 'aadGroupId' | 'firstMessagePending'>>): Promise<void>;
  /**
   * Whether the bot can post in a channel: false after Teams answered 403 there (a private or shared
   * channel the app was not added to), true again once an activity comes from it. `asOf` is when
   * that evidence was seen (the refused send's start, the activity's receipt): a change is written
   * only if it is newer than the stored `reachableAsOf`, under the row's ETag. A channel not stored
   * yet is stored (active) with the team's address.
   */
  setChannelReachable(channel: BotEndpointAddress & { readonly channelId: string; readonly teamId: string }, reachable: boolean, asOf: string): Promise<void>;
  /** Marks a conversation the bot was refused in inactive; touches no other field, nothing when unknown. */
  deactivateConversation(conversationId: string): Promise<void>;
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

/** What a user becomes, from the user as stored now (undefined: unknown); undefined writes nothing. */
export type UserChange = (current: UserReference | undefined) => UserReference | undefined | Promise<UserReference | undefined>;

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
/** How many times `updateUser` (or any read-then-write of one row) reads again after another writer got there first. */
const MAX_UPDATE_ROUNDS = 6;
const byAad = (aadObjectId: string) => `aad:${tableKey(aadObjectId.toLowerCase())}`;
const byUserId = (userId: string) => `id:${tableKey(userId)}`;

type Stored<T> = { partitionKey: string; rowKey: string } & { [K in keyof T]: T[K] };
type UserRow = Record<string, unknown> & { etag: string };

const stringField = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** 412: the row changed since it was read; 409: a row to create exists now. Either way, read again. */
function isConflict(error: unknown): boolean {
  return isStatus(error, 412) || isStatus(error, 409);
}

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

  async updateUser(who: Pick<UserReference, 'userId' | 'aadObjectId'>, change: UserChange): Promise<void> {
    if (who.userId === undefined && who.aadObjectId === undefined) throw new Error('a user needs a Teams user id or an Entra object id');
    let keys = who;
    for (let round = 0; round < MAX_UPDATE_ROUNDS; round++) {
      const read = await this.readUserRows(keys);
      const current = read.idRow ?? read.aadRow;
      const next = await change(current === undefined ? undefined : toUser(current));
      if (next === undefined) return;
      const unread = (next.userId !== undefined && read.idKey !== byUserId(next.userId)) || (next.aadObjectId !== undefined && read.aadKey !== byAad(next.aadObjectId));
      if (unread) {
        // The change names a row not read yet (a Teams id for a user known by object id, or the
        // reverse): read that one too, and ask again with both.
        keys = { ...(next.userId !== undefined ? { userId: next.userId } : {}), ...(next.aadObjectId !== undefined ? { aadObjectId: next.aadObjectId } : {}) };
        continue;
      }
      const entity = {
        ...definedFields(next),
        partitionKey: USER,
        // Merge never removes a property: an empty string is the stored form of "no chat".
        ...(next.personalConversationId === undefined && current?.personalConversationId !== undefined && { personalConversationId: '' }),
      };
      const transaction = new TableTransaction();
      const rows: [string | undefined, string | undefined][] = [
        [next.userId, read.idRow?.etag],
        [next.aadObjectId, read.aadRow?.etag],
      ];
      for (const [index, [key, etag]] of rows.entries()) {
        if (key === undefined) continue;
        const rowKey = index === 0 ? byUserId(key) : byAad(key);
        const readKey = index === 0 ? read.idKey : read.aadKey;
        // A row read under this key is written only if unchanged since; one not there is created,
        // which fails if someone created it meanwhile. Either conflict reads everything again.
        if (etag !== undefined && readKey === rowKey) transaction.updateEntity({ ...entity, rowKey }, 'Merge', { etag });
        else transaction.createEntity({ ...entity, rowKey });
      }
      if (transaction.actions.length === 0) throw new Error('a user needs a Teams user id or an Entra object id');
      try {
        await this.table.submitTransaction(transaction.actions);
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    throw new Error(`user ${who.userId ?? who.aadObjectId ?? ''} kept changing: not updated after ${MAX_UPDATE_ROUNDS} rounds`);
  }

  /** Both rows of a user, with their ETags: the one asked for, and the other one its fields name. */
  private async readUserRows(who: Pick<UserReference, 'userId' | 'aadObjectId'>): Promise<{
    idRow?: UserRow;
    aadRow?: UserRow;
    idKey?: string;
    aadKey?: string;
  }> {
    const first = who.userId !== undefined ? await this.userRow(byUserId(who.userId)) : await this.userRow(byAad(who.aadObjectId as string));
    const userId = who.userId ?? stringField(first?.userId);
    const aadObjectId = who.aadObjectId ?? stringField(first?.aadObjectId);
    const idRow = who.userId !== undefined ? first : userId !== undefined ? await this.userRow(byUserId(userId)) : undefined;
    const aadRow = who.userId === undefined ? first : aadObjectId !== undefined ? await this.userRow(byAad(aadObjectId)) : undefined;
    return {
      ...(idRow !== undefined && { idRow }),
      ...(aadRow !== undefined && { aadRow }),
      ...(userId !== undefined && { idKey: byUserId(userId) }),
      ...(aadObjectId !== undefined && { aadKey: byAad(aadObjectId) }),
    };
  }

  private userRow(rowKey: string): Promise<UserRow | undefined> {
    return getEntityOrUndefined<Record<string, unknown>>(this.table, USER, rowKey) as Promise<UserRow | undefined>;
  }

  async clearPersonalConversation(user: Pick<UserReference, 'userId' | 'aadObjectId'>, change: { installed?: false; conversationId?: string } = {}): Promise<void> {
    await this.updateUser(user, (current) => {
      if (current === undefined) return undefined;
      if (change.conversationId !== undefined && current.personalConversationId !== undefined && current.personalConversationId !== change.conversationId) return undefined;
      const { personalConversationId: _dropped, ...rest } = current;
      return { ...rest, updatedAt: new Date().toISOString(), ...(change.installed !== undefined && { installed: change.installed }) };
    });
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
    const fields: Record<string, unknown> = { ...definedFields(team) };
    await this.mergeRow(TEAM, tableKey(team.teamId), (stored) => orderedBy(fields, 'installed', 'installedAsOf', stored));
    await this.aliasGroup(team.teamId, team.aadGroupId);
  }

  async addTeam(team: TeamReference): Promise<boolean> {
    try {
      await this.table.createEntity({ ...definedFields(team), partitionKey: TEAM, rowKey: tableKey(team.teamId) });
    } catch (error) {
      if (isStatus(error, 409)) return false;
      throw error;
    }
    await this.aliasGroup(team.teamId, team.aadGroupId);
    return true;
  }

  async patchTeam(teamId: string, patch: Partial<Pick<TeamReference, 'installed' | 'installedAsOf' | 'aadGroupId' | 'firstMessagePending'>>): Promise<void> {
    let known = false;
    await this.mergeRow(TEAM, tableKey(teamId), (stored) => {
      known = stored !== undefined;
      if (stored === undefined) return undefined;
      const fields = orderedBy(definedFields(patch), 'installed', 'installedAsOf', stored);
      return Object.keys(fields).length === 0 ? undefined : { ...fields, updatedAt: new Date().toISOString() };
    });
    if (known) await this.aliasGroup(teamId, patch.aadGroupId);
  }

  private async aliasGroup(teamId: string, aadGroupId: string | undefined): Promise<void> {
    const group = aadGroupId?.toLowerCase();
    if (group === undefined) return;
    await this.writeOnce(`group\n${group}\n${teamId}`, () => this.table.upsertEntity({ partitionKey: TEAM_BY_GROUP, rowKey: tableKey(group), teamId }, 'Replace'));
  }

  async setChannelReachable(channel: BotEndpointAddress & { readonly channelId: string; readonly teamId: string }, reachable: boolean, asOf: string): Promise<void> {
    await this.mergeRow(CONVERSATION, tableKey(channel.channelId), (stored) => {
      const updatedAt = new Date().toISOString();
      if (stored !== undefined) return isNewer(asOf, stored.reachableAsOf) ? { reachable, reachableAsOf: asOf, updatedAt } : undefined;
      const row: ConversationReference = {
        serviceUrl: channel.serviceUrl,
        tenantId: channel.tenantId,
        botId: channel.botId,
        conversationId: channel.channelId,
        kind: 'channel',
        teamId: channel.teamId,
        active: true,
        reachable,
        reachableAsOf: asOf,
        updatedAt,
      };
      return row;
    });
  }

  async deactivateConversation(conversationId: string): Promise<void> {
    try {
      await this.table.updateEntity({ partitionKey: CONVERSATION, rowKey: tableKey(conversationId), active: false, updatedAt: new Date().toISOString() }, 'Merge');
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
  }

  /**
   * Reads one row and merges what `change` makes of it (undefined: nothing), created if it was not
   * there, only if nobody wrote it in between (its ETag); on a conflict, reads and asks again.
   */
  private async mergeRow(partitionKey: string, rowKey: string, change: (stored: Record<string, unknown> | undefined) => object | undefined): Promise<void> {
    for (let round = 0; round < MAX_UPDATE_ROUNDS; round++) {
      const stored = await getEntityOrUndefined<Record<string, unknown>>(this.table, partitionKey, rowKey);
      const fields = change(stored);
      if (fields === undefined) return;
      try {
        if (stored === undefined) await this.table.createEntity({ ...fields, partitionKey, rowKey });
        else await this.table.updateEntity({ ...fields, partitionKey, rowKey }, 'Merge', { etag: stored.etag });
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    throw new Error(`${partitionKey} ${rowKey} kept changing: not updated after ${MAX_UPDATE_ROUNDS} rounds`);
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

/**
 * Whether evidence seen at `incoming` may replace what was seen at `stored`: strictly newer wins.
 * A write that names no time, or a row that keeps none yet, is not ordered (written).
 */
function isNewer(incoming: unknown, stored: unknown): boolean {
  if (typeof incoming !== 'string' || typeof stored !== 'string') return true;
  const [a, b] = [Date.parse(incoming), Date.parse(stored)];
  return Number.isNaN(a) || Number.isNaN(b) || a > b;
}

/** `fields` without the ordered field and its time when the stored row has newer evidence for it. */
function orderedBy(fields: Record<string, unknown>, field: string, asOf: string, stored: Record<string, unknown> | undefined): Record<string, unknown> {
  if (stored === undefined || fields[field] === undefined || isNewer(fields[asOf], stored[asOf])) return fields;
  const { [field]: _value, [asOf]: _time, ...rest } = fields;
  return rest;
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
  pick<TeamReference>(e, [...ADDRESS, 'teamId', 'aadGroupId', 'name', 'generalChannelId', 'installed', 'installedAsOf', 'installedBy', 'firstMessagePending', 'updatedAt']);
const toConversation = (e: Record<string, unknown>) =>
  pick<ConversationReference>(e, [...ADDRESS, 'conversationId', 'kind', 'teamId', 'name', 'userId', 'active', 'reachable', 'reachableAsOf', 'updatedAt']);
