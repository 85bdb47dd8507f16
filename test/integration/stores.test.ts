import type { DeliveryRecord } from '../../shared/domain/notification';
import { conversationSubject, userSubject } from '../../shared/domain/optOut';
import type { UserReference } from '../../shared/domain/reference';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { TableOptOutStore, OPT_OUT_SNAPSHOT_MS } from '../../shared/stores/optOutStore';
import { Tables, tableKey } from '../../shared/stores/tables';
import { TableWelcomeStore } from '../../shared/stores/welcomeStore';
import { storageConnectionString, uniqueName } from '../support/azurite';

/** Teams ids hold these; table keys may not hold some of them raw. */
const AWKWARD = ":@;/#?'%";

const address = { serviceUrl: 'https://smba.trafficmanager.net/emea/', tenantId: 'tenant-1', botId: '28:bot' };

function user(n: number, extra: Partial<UserReference> = {}): UserReference & { userId: string } {
  return {
    ...address,
    aadObjectId: `aaaaaaaa-0000-0000-0000-${String(n).padStart(12, '0')}`,
    name: `User ${n}`,
    installed: true,
    updatedAt: new Date().toISOString(),
    ...extra,
    userId: extra.userId ?? `29:user-${n}`,
  };
}

let tables: Tables;

beforeAll(async () => {
  tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
  await tables.ensureCreated();
});

describe('TableConversationStore', () => {
  let store: TableConversationStore;
  let own: Tables;
  beforeEach(async () => {
    // A fresh set of tables per test: listUsers counts everything in the table.
    own = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await own.ensureCreated();
    store = new TableConversationStore(own);
  });

  it('finds a saved user by aadObjectId in any case, and by userId', async () => {
    const u = user(1, { aadObjectId: 'AbCdEf01-0000-0000-0000-00000000000A', personalConversationId: 'a:chat-1' });
    await store.saveUser(u);
    for (const aadObjectId of [u.aadObjectId as string, (u.aadObjectId as string).toLowerCase(), (u.aadObjectId as string).toUpperCase()]) {
      expect(await store.findUser({ type: 'user', aadObjectId })).toEqual(u);
    }
    expect(await store.findUser({ type: 'user', userId: u.userId })).toEqual(u);
    expect(await store.findUser({ type: 'user', userId: '29:someone-else' })).toBeUndefined();
    expect(await store.findUser({ type: 'user', aadObjectId: 'bbbbbbbb-0000-0000-0000-000000000000' })).toBeUndefined();
  });

  it('a user without an Entra id is found by userId only', async () => {
    const { aadObjectId: _omit, ...noAad } = user(2);
    await store.saveUser(noAad);
    expect(await store.findUser({ type: 'user', userId: noAad.userId })).toEqual(noAad);
  });

  it('saveUser merges: fields left undefined keep their stored value', async () => {
    await store.saveUser(user(3, { personalConversationId: 'a:chat-3', name: 'Old' }));
    const { personalConversationId: _p, ...later } = user(3, { name: 'New' });
    await store.saveUser(later);
    const found = await store.findUser({ type: 'user', userId: later.userId });
    expect(found).toMatchObject({ name: 'New', personalConversationId: 'a:chat-3' });
  });

  it('clearPersonalConversation removes the chat id from both lookups', async () => {
    const u = user(4, { personalConversationId: 'a:chat-4' });
    await store.saveUser(u);
    await store.clearPersonalConversation(u);
    const byAad = await store.findUser({ type: 'user', aadObjectId: u.aadObjectId as string });
    const byId = await store.findUser({ type: 'user', userId: u.userId });
    expect(byAad).toBeDefined();
    expect(byId).toBeDefined();
    expect(byAad?.personalConversationId).toBeUndefined();
    expect(byId?.personalConversationId).toBeUndefined();
    expect(byId?.userId).toBe(u.userId);
    // A later save with a new chat id brings it back.
    await store.saveUser({ ...u, personalConversationId: 'a:chat-4b' });
    expect((await store.findUser({ type: 'user', aadObjectId: u.aadObjectId as string }))?.personalConversationId).toBe('a:chat-4b');
  });

  it('saveTeam / findTeam, with merge', async () => {
    const team = { ...address, teamId: '19:team-1@thread.tacv2', generalChannelId: '19:team-1@thread.tacv2', name: 'Ops', installed: true, installedBy: 'Alex', updatedAt: new Date().toISOString() };
    await store.saveTeam(team);
    expect(await store.findTeam(team.teamId)).toEqual(team);
    expect(await store.findTeam('19:other@thread.tacv2')).toBeUndefined();
    await store.saveTeam({ ...team, installed: false, name: undefined, installedBy: undefined });
    expect(await store.findTeam(team.teamId)).toEqual({ ...team, installed: false });
  });

  it('finds a team by its Entra group id (any case) once it is saved with one, and follows a move to another team id', async () => {
    const group = `GROUP-${uniqueName()}`;
    const team = { ...address, teamId: `19:${uniqueName()}@thread.tacv2`, generalChannelId: 'g', installed: true, updatedAt: new Date().toISOString() };
    await store.saveTeam(team);
    expect(await store.findTeamByGroup(group)).toBeUndefined();
    await store.saveTeam({ ...team, aadGroupId: group });
    expect(await store.findTeamByGroup(group.toLowerCase())).toEqual({ ...team, aadGroupId: group });
    const moved = { ...team, teamId: `19:${uniqueName()}@thread.tacv2`, aadGroupId: group };
    await store.saveTeam(moved);
    expect((await store.findTeamByGroup(group))?.teamId).toBe(moved.teamId);
  });

  it("keeps a tenant's address for proactive installs, and a user known only by Entra id (installed through Graph)", async () => {
    const tenantId = `tenant-${uniqueName()}`;
    expect(await store.findTenantAddress(tenantId)).toBeUndefined();
    await store.saveTenantAddress({ ...address, tenantId });
    // Another instance reads what this one wrote.
    expect(await new TableConversationStore(own).findTenantAddress(tenantId.toUpperCase())).toEqual({ ...address, tenantId });

    const graphUser: UserReference = { ...address, aadObjectId: `aaaaaaaa-${uniqueName()}`, personalConversationId: '19:chat@unq.gbl.spaces', installed: true, installedVia: 'graph', firstMessagePending: true, updatedAt: new Date().toISOString() };
    await store.saveUser(graphUser);
    expect(await store.findUser({ type: 'user', aadObjectId: graphUser.aadObjectId as string })).toEqual(graphUser);
    // Not in the listing of all users until Teams introduces them with their Teams id.
    const listed: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.listUsers(token, 1000);
      listed.push(...page.items.map((u) => u.aadObjectId ?? ''));
      token = page.continuationToken;
    } while (token !== undefined);
    expect(listed).not.toContain(graphUser.aadObjectId);
  });

  it(`round-trips ids holding ${AWKWARD}`, async () => {
    const u = user(5, { userId: `29:${AWKWARD}user`, aadObjectId: `Aad${AWKWARD}`, personalConversationId: `a:${AWKWARD}` });
    await store.saveUser(u);
    expect(await store.findUser({ type: 'user', userId: u.userId })).toEqual(u);
    expect(await store.findUser({ type: 'user', aadObjectId: `aad${AWKWARD}` })).toEqual(u);

    const teamId = `19:${AWKWARD}@thread.tacv2`;
    await store.saveTeam({ ...address, teamId, generalChannelId: teamId, installed: true, updatedAt: new Date().toISOString() });
    expect((await store.findTeam(teamId))?.teamId).toBe(teamId);
    // Not confused with a team whose id is a prefix of it.
    expect(await store.findTeam('19:')).toBeUndefined();

    const conversationId = `19:${AWKWARD}@thread.tacv2;messageid=1700000000000`;
    const conversation = { ...address, conversationId, kind: 'channel' as const, teamId, active: true, updatedAt: new Date().toISOString() };
    await store.saveConversation(conversation);
    expect(await store.findConversation(conversationId)).toEqual(conversation);

    const { items } = await store.listUsers();
    expect(items.map((i) => i.userId)).toEqual([u.userId]);
  });

  it('listUsers pages (pageSize 2 over 5 users), each user once although each is stored twice', async () => {
    const users = [1, 2, 3, 4, 5].map((n) => user(n));
    for (const u of users) await store.saveUser(u);
    // Teams and conversations live in the same table and must not show up as users.
    await store.saveTeam({ ...address, teamId: 'team-x', generalChannelId: 'team-x', installed: true, updatedAt: new Date().toISOString() });
    await store.saveConversation({ ...address, conversationId: 'a:c', kind: 'personal', active: true, updatedAt: new Date().toISOString() });

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await store.listUsers(token, 2);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.userId));
      for (const item of page.items) expect(item).toEqual(users.find((u) => u.userId === item.userId));
      token = page.continuationToken;
      pages += 1;
    } while (token !== undefined && pages < 20);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.sort()).toEqual(users.map((u) => u.userId).sort());

    const teams = await store.listTeams();
    expect(teams.items.map((t) => t.teamId)).toEqual(['team-x']);
  });
});

describe('TableDeliveryStore', () => {
  let store: TableDeliveryStore;
  beforeAll(() => {
    store = new TableDeliveryStore(tables);
  });

  const rowsFor = (n: number) => Array.from({ length: n }, (_, i) => ({ recipientKey: `user:id:29:${i}`, recipient: { type: 'user' as const, userId: `29:${i}` } }));

  async function mustGet(notificationId: string, key: string): Promise<DeliveryRecord> {
    const row = await store.get(notificationId, key);
    if (row === undefined) throw new Error(`row ${key} missing`);
    return row;
  }

  it('createPending again with one more row keeps the first rows as they are', async () => {
    const id = uniqueName('n');
    const created = await store.createPending(id, rowsFor(2));
    const first = await mustGet(id, 'user:id:29:0');
    expect(first).toMatchObject({ notificationId: id, status: 'pending', attempts: 0, recipient: { type: 'user', userId: '29:0' } });
    // The ETags it returns are the rows' own: a worker can claim a row with one without reading it.
    expect([...created.keys()]).toEqual(['user:id:29:0', 'user:id:29:1']);
    expect(created.get('user:id:29:0')).toBe(first.etag);

    const updated = await store.update(first, { status: 'delivered', attempts: 1, activityId: 'act-1', conversationId: 'a:chat' });
    expect(updated.kind).toBe('updated');

    const createdAgain = await store.createPending(id, rowsFor(3));
    expect([...createdAgain.keys()]).toEqual(['user:id:29:2']);
    const again = await mustGet(id, 'user:id:29:0');
    expect(again).toMatchObject({ status: 'delivered', attempts: 1, activityId: 'act-1', conversationId: 'a:chat' });
    expect(await mustGet(id, 'user:id:29:2')).toMatchObject({ status: 'pending', attempts: 0 });
    const { counts } = await store.counts(id);
    expect(counts).toEqual({ total: 3, pending: 2, delivered: 1, failed: 0, skipped: 0, recalled: 0, read: 0 });
  });

  it('createPending dedupes repeated keys and handles more than one transaction (100+) of rows', async () => {
    const id = uniqueName('n');
    const rows = rowsFor(150);
    await store.createPending(id, [...rows, ...rows.slice(0, 3)]);
    expect((await store.counts(id)).counts.total).toBe(150);
  });

  it('updateAll claims rows by their creation etags in one transaction, or none of them if one changed', async () => {
    const id = uniqueName('n');
    const created = await store.createPending(id, rowsFor(3));
    const asCreated = (key: string): DeliveryRecord => ({ notificationId: id, recipientKey: key, recipient: { type: 'user', userId: key.slice('user:id:'.length) }, status: 'pending', attempts: 0, updatedAt: '', etag: created.get(key) as string });
    const lease = new Date(Date.now() + 60_000).toISOString();
    const claimed = await store.updateAll([asCreated('user:id:29:0'), asCreated('user:id:29:1')], { leaseUntil: lease });
    expect([...(claimed?.keys() ?? [])]).toEqual(['user:id:29:0', 'user:id:29:1']);
    expect((await mustGet(id, 'user:id:29:0')).leaseUntil).toBe(lease);
    // The etags it returns are the rows' new ones: the holder can settle each row.
    const settled = await store.update(claimed?.get('user:id:29:1') as DeliveryRecord, { status: 'delivered', leaseUntil: '' });
    expect(settled.kind).toBe('updated');
    // A set with one changed row claims nothing.
    expect(await store.updateAll([asCreated('user:id:29:2'), asCreated('user:id:29:0')], { leaseUntil: lease })).toBeUndefined();
    expect((await mustGet(id, 'user:id:29:2')).leaseUntil).toBeUndefined();
  });

  it('update with a stale etag returns stale and changes nothing', async () => {
    const id = uniqueName('n');
    await store.createPending(id, rowsFor(1));
    const read = await mustGet(id, 'user:id:29:0');
    const won = await store.update(read, { leaseUntil: new Date(Date.now() + 60_000).toISOString(), attempts: 1 });
    expect(won.kind).toBe('updated');
    const lost = await store.update(read, { status: 'failed', reason: 'rejected', attempts: 5 });
    expect(lost).toEqual({ kind: 'stale' });
    const now = await mustGet(id, 'user:id:29:0');
    expect(now).toMatchObject({ status: 'pending', attempts: 1 });
    expect(now.reason).toBeUndefined();
    expect(now.leaseUntil).toBeDefined();
    // The winner's returned row carries the new etag: it can update again.
    if (won.kind !== 'updated') throw new Error('unreachable');
    const next = await store.update(won.row, { leaseUntil: '' });
    expect(next.kind).toBe('updated');
    expect((await mustGet(id, 'user:id:29:0')).leaseUntil).toBeUndefined();
  });

  it('update of a row that does not exist is stale', async () => {
    const id = uniqueName('n');
    await store.createPending(id, rowsFor(1));
    const row = await mustGet(id, 'user:id:29:0');
    expect(await store.update({ ...row, recipientKey: 'user:id:29:missing' }, { status: 'delivered' })).toEqual({ kind: 'stale' });
  });

  it('counts and list leave out a fan-out entry once expandedTo is set', async () => {
    const id = uniqueName('n');
    await store.createPending(id, [{ recipientKey: 'allUsers', recipient: { type: 'allUsers' } }, ...rowsFor(1)]);
    let { counts, anyAttempted } = await store.counts(id);
    expect(counts).toEqual({ total: 2, pending: 2, delivered: 0, failed: 0, skipped: 0, recalled: 0, read: 0 });
    expect(anyAttempted).toBe(false);
    expect((await store.list(id)).items.map((r) => r.recipientKey).sort()).toEqual(['allUsers', 'user:id:29:0']);

    const fanOut = await mustGet(id, 'allUsers');
    await store.createPending(id, [
      { recipientKey: 'user:id:29:a', recipient: { type: 'user', userId: '29:a' }, fromKey: 'allUsers' },
      { recipientKey: 'user:id:29:b', recipient: { type: 'user', userId: '29:b' }, fromKey: 'allUsers' },
    ]);
    expect((await store.update(fanOut, { expandedTo: 2, status: 'delivered' })).kind).toBe('updated');

    ({ counts, anyAttempted } = await store.counts(id));
    expect(counts).toEqual({ total: 3, pending: 3, delivered: 0, failed: 0, skipped: 0, recalled: 0, read: 0 });
    expect(anyAttempted).toBe(true);
    const listed = (await store.list(id)).items;
    expect(listed.map((r) => r.recipientKey).sort()).toEqual(['user:id:29:0', 'user:id:29:a', 'user:id:29:b']);
    expect(listed.find((r) => r.recipientKey === 'user:id:29:a')?.fromKey).toBe('allUsers');
    // The hidden row is still there for the worker.
    expect((await mustGet(id, 'allUsers')).expandedTo).toBe(2);
  });

  it('list pages through every row once, and only this notification', async () => {
    const id = uniqueName('n');
    const other = uniqueName('n');
    await store.createPending(id, rowsFor(5));
    await store.createPending(other, rowsFor(2));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await store.list(id, token, 2);
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) expect(item.notificationId).toBe(id);
      seen.push(...page.items.map((r) => r.recipientKey));
      token = page.continuationToken;
      pages += 1;
    } while (token !== undefined && pages < 20);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(rowsFor(5).map((r) => r.recipientKey).sort());
  });

  it('deleteAll removes every row of one notification only', async () => {
    const id = uniqueName('n');
    const other = uniqueName('n');
    await store.createPending(id, rowsFor(120));
    await store.createPending(other, rowsFor(1));
    await store.deleteAll(id);
    expect((await store.counts(id)).counts.total).toBe(0);
    expect((await store.counts(other)).counts.total).toBe(1);
  });

  it(`round-trips recipient keys holding ${AWKWARD}`, async () => {
    const id = uniqueName('n');
    const key = `channel:19:${AWKWARD}@thread.tacv2:19:c`;
    await store.createPending(id, [{ recipientKey: key, recipient: { type: 'channel', teamId: `19:${AWKWARD}@thread.tacv2`, channelId: '19:c' } }]);
    expect((await mustGet(id, key)).recipientKey).toBe(key);
    expect((await store.list(id)).items.map((r) => r.recipientKey)).toEqual([key]);
  });
});

describe('TableNotificationStore', () => {
  let store: TableNotificationStore;
  beforeAll(() => {
    store = new TableNotificationStore(tables);
  });

  it('reserveAudience hands out exactly maxAudience places across concurrent pages, and the same answer again for a page asked twice', async () => {
    const id = `n-${uniqueName()}`;
    const granted = await Promise.all(Array.from({ length: 8 }, (_, i) => store.reserveAudience(id, `group:g@${i}`, 30, 100)));
    expect(granted.reduce((a, b) => a + b, 0)).toBe(100);
    // A redelivered page takes nothing more, and gets what it got the first time.
    const again = await Promise.all(Array.from({ length: 8 }, (_, i) => store.reserveAudience(id, `group:g@${i}`, 30, 100)));
    expect(again).toEqual(granted);
    expect(await store.reserveAudience(id, 'allUsers@0', 5, 100)).toBe(0);
  });

  it('claimIdempotencyKey: claimed, then existing for the same hash, conflict for another', async () => {
    const key = `key ${AWKWARD} ${uniqueName()}`;
    expect(await store.claimIdempotencyKey(key, 'n-first', 'hash-a')).toEqual({ kind: 'claimed' });
    expect(await store.claimIdempotencyKey(key, 'n-second', 'hash-a')).toEqual({ kind: 'existing', notificationId: 'n-first' });
    expect(await store.claimIdempotencyKey(key, 'n-third', 'hash-b')).toEqual({ kind: 'conflict', notificationId: 'n-first' });
    await store.releaseIdempotencyKey(key);
    expect(await store.claimIdempotencyKey(key, 'n-fourth', 'hash-b')).toEqual({ kind: 'claimed' });
    // Releasing a key that is not there is fine.
    await store.releaseIdempotencyKey(`never-${uniqueName()}`);
  });

  it('concurrent claims of one key: exactly one claimed', async () => {
    const key = `key-${uniqueName()}`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.claimIdempotencyKey(key, `n-${i}`, 'h')));
    const claimed = results.filter((r) => r.kind === 'claimed');
    expect(claimed).toHaveLength(1);
    const winner = `n-${results.indexOf(claimed[0] as (typeof results)[number])}`;
    for (const r of results) if (r.kind !== 'claimed') expect(r).toEqual({ kind: 'existing', notificationId: winner });
  });

  it('create twice keeps the first record; markEnqueued and get round-trip', async () => {
    const id = uniqueName('n');
    await store.create({ id, createdAt: '2030-01-01T00:00:00.000Z', message: { text: 'first' }, requestedRecipients: 1, sendAt: '2030-01-02T00:00:00Z', idempotencyKey: 'k' });
    await store.create({ id, createdAt: '2031-01-01T00:00:00.000Z', message: { text: 'second' }, requestedRecipients: 9 });
    const got = await store.get(id);
    expect(got).toEqual({ id, createdAt: '2030-01-01T00:00:00.000Z', message: { text: 'first' }, requestedRecipients: 1, sendAt: '2030-01-02T00:00:00Z', idempotencyKey: 'k' });
    expect(got?.enqueuedAt).toBeUndefined();
    await store.markEnqueued(id, '2030-01-01T00:00:01.000Z');
    expect((await store.get(id))?.enqueuedAt).toBe('2030-01-01T00:00:01.000Z');
    await store.delete(id);
    expect(await store.get(id)).toBeUndefined();
    await store.delete(id);
  });

  it('stores a template message as given', async () => {
    const id = uniqueName('n');
    const message = { template: 'notification' as const, data: { title: 't', whatHappened: 'w', actions: [{ title: 'Open', url: 'https://x.example/' }] } };
    await store.create({ id, createdAt: new Date().toISOString(), message, requestedRecipients: 1 });
    expect((await store.get(id))?.message).toEqual(message);
  });
});

describe('TableOptOutStore', () => {
  it('opts out per tenant and user, and back in', async () => {
    const store = new TableOptOutStore(tables);
    const userId = `29:${AWKWARD}${uniqueName()}`;
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(false);
    await store.optOut(userSubject('tenant-a', userId), { userId, aadObjectId: 'aad-1' });
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(true);
    expect(await store.isOptedOut(userSubject('tenant-b', userId))).toBe(false);
    expect(await store.isOptedOut(userSubject('tenant-a', `${userId}x`))).toBe(false);
    await store.optOut(userSubject('tenant-a', userId));
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(true);
    await store.optIn(userSubject('tenant-a', userId));
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(false);
    await store.optIn(userSubject('tenant-a', userId));
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(false);
  });

  it('reads a user opt-out stored before conversations could be muted (row key: the user id alone)', async () => {
    const userId = `29:${uniqueName()}`;
    await tables.client('optOuts').upsertEntity({ partitionKey: tableKey('tenant-a'), rowKey: tableKey(userId), optedOutAt: new Date().toISOString(), aadObjectId: 'aad-old' });
    const store = new TableOptOutStore(tables);
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(true);
    await store.optIn(userSubject('tenant-a', userId));
    expect(await store.isOptedOut(userSubject('tenant-a', userId))).toBe(false);
  });

  it('mutes a channel as a whole: every thread of it, not other channels, not other tenants', async () => {
    const store = new TableOptOutStore(tables);
    const channel = `19:${AWKWARD}${uniqueName()}@thread.tacv2`;
    await store.optOut(conversationSubject('tenant-a', `${channel};messageid=1714000000000`), { userId: '29:megan', name: 'Megan Bowen' });
    expect(await store.isOptedOut(conversationSubject('tenant-a', channel))).toBe(true);
    expect(await store.isOptedOut(conversationSubject('tenant-a', `${channel};messageid=1799999999999`))).toBe(true);
    expect(await store.isOptedOut(conversationSubject('tenant-a', `${channel}x`))).toBe(false);
    expect(await store.isOptedOut(conversationSubject('tenant-b', channel))).toBe(false);
    const row = await tables.client('optOuts').getEntity<Record<string, unknown>>(tableKey('tenant-a'), `conversation:${tableKey(channel)}`);
    expect(row).toMatchObject({ subject: 'conversation', conversationId: channel, byUserId: '29:megan', byName: 'Megan Bowen' });

    await store.optIn(conversationSubject('tenant-a', `${channel};messageid=1799999999999`));
    expect(await store.isOptedOut(conversationSubject('tenant-a', channel))).toBe(false);
    await store.optIn(conversationSubject('tenant-a', channel));
  });

  it("reads a tenant's opt-outs as a whole, briefly: another instance's stop is seen within OPT_OUT_SNAPSHOT_MS", async () => {
    const tenant = `tenant-${uniqueName()}`;
    const worker = new TableOptOutStore(tables);
    const bot = new TableOptOutStore(tables);
    const userId = `29:${uniqueName()}`;
    expect(await worker.isOptedOut(userSubject(tenant, userId))).toBe(false);
    const stoppedAt = Date.now();
    await bot.optOut(userSubject(tenant, userId));
    expect(await bot.isOptedOut(userSubject(tenant, userId))).toBe(true);
    while (!(await worker.isOptedOut(userSubject(tenant, userId)))) {
      expect(Date.now() - stoppedAt).toBeLessThan(OPT_OUT_SNAPSHOT_MS + 1_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await worker.optIn(userSubject(tenant, userId));
    expect(await worker.isOptedOut(userSubject(tenant, userId))).toBe(false);
  });

  it('never mistakes a user for a conversation with the same id, either way', async () => {
    const store = new TableOptOutStore(tables);
    const id = `19:${uniqueName()}@thread.v2`;
    await store.optOut(userSubject('tenant-a', id));
    expect(await store.isOptedOut(conversationSubject('tenant-a', id))).toBe(false);
    await store.optOut(conversationSubject('tenant-a', id));
    await store.optIn(userSubject('tenant-a', id));
    expect(await store.isOptedOut(userSubject('tenant-a', id))).toBe(false);
    expect(await store.isOptedOut(conversationSubject('tenant-a', id))).toBe(true);
  });
});

describe('TableWelcomeStore', () => {
  it('claims once, then not, then again after release', async () => {
    const store = new TableWelcomeStore(tables);
    const conversationId = `19:${AWKWARD}${uniqueName()}@thread.tacv2`;
    expect(await store.claim(conversationId)).toBe(true);
    expect(await store.claim(conversationId)).toBe(false);
    expect(await store.claim(`${conversationId}2`)).toBe(true);
    await store.release(conversationId);
    expect(await store.claim(conversationId)).toBe(true);
    expect(await store.claim(conversationId)).toBe(false);
    await store.release(`never-${uniqueName()}`);
  });

  it('cover marks an installation welcomed by something else: no claim after it, and release frees it', async () => {
    const store = new TableWelcomeStore(tables);
    const key = `personal:${uniqueName()}`;
    expect(await store.cover(key, 'the first notification')).toBe(true);
    expect(await store.cover(key, 'again')).toBe(false);
    expect(await store.claim(key)).toBe(false);
    await store.release(key);
    expect(await store.claim(key)).toBe(true);
    expect(await store.cover(key, 'too late')).toBe(false);
  });

  it('concurrent claims: exactly one true', async () => {
    const store = new TableWelcomeStore(tables);
    const conversationId = `a:${uniqueName()}`;
    const results = await Promise.all(Array.from({ length: 8 }, () => store.claim(conversationId)));
    expect(results.filter((r) => r)).toHaveLength(1);
  });
});
