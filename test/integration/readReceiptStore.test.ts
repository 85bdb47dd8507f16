import { TableReadReceiptStore, type SentToChat } from '../../shared/stores/readReceiptStore';
import { Tables } from '../../shared/stores/tables';
import { storageConnectionString, uniqueName } from '../support/azurite';

/** Teams' personal-chat message ids are epoch milliseconds. */
const at = (iso: string): string => String(Date.parse(iso));

describe('TableReadReceiptStore', () => {
  let tables: Tables;
  let store: TableReadReceiptStore;
  const sent = (conversationId: string, iso: string, n: string, tenantId = 'tenant-a'): SentToChat => ({ tenantId, conversationId, activityId: at(iso), notificationId: n, recipientKey: `aad:${conversationId}` });

  beforeEach(async () => {
    tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
    store = new TableReadReceiptStore(tables, { lookbackDays: 31 });
  });

  /** Every HTTP request the store's table client makes, counted by a pipeline policy. */
  function countRequests(): { readonly count: () => number } {
    let count = 0;
    tables.client('sentMessages').pipeline.addPolicy({ name: 'count', sendRequest: (request, next) => ((count += 1), next(request)) });
    return { count: () => count };
  }

  it('indexes one slice of a tenant (150 chats) in two batches, not one write per message', async () => {
    const requests = countRequests();
    const slice = Array.from({ length: 150 }, (_, i) => sent(`a:chat-${i}`, `2026-11-30T10:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(3, '0')}Z`, 'n1'));
    await store.recordSent(slice);
    expect(requests.count()).toBe(2);
    expect(await store.takeReadUpTo('tenant-a', 'a:chat-7', at('2026-11-30T10:00:07.007Z'))).toEqual([slice[7]]);
  });

  it('a receipt takes the chat\'s messages up to the one read, across a month boundary, each once; later ones and other chats stay', async () => {
    const older = sent('a:alex', '2026-10-28T09:00:00Z', 'n1');
    const before = sent('a:alex', '2026-11-01T08:00:00Z', 'n2');
    const read = sent('a:alex', '2026-11-02T08:00:00Z', 'n3');
    const later = sent('a:alex', '2026-11-03T08:00:00Z', 'n4');
    const otherChat = sent('a:alexander', '2026-11-01T09:00:00Z', 'n2');
    const otherTenant = sent('a:alex', '2026-11-01T09:30:00Z', 'n5', 'tenant-b');
    await store.recordSent([older, before, read, later, otherChat, otherTenant]);

    const taken = await store.takeReadUpTo('tenant-a', 'a:alex', read.activityId);
    expect(taken.map((m) => m.notificationId).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(await store.takeReadUpTo('tenant-a', 'a:alex', read.activityId)).toEqual([]);
    expect((await store.takeReadUpTo('tenant-a', 'a:alex', later.activityId)).map((m) => m.notificationId)).toEqual(['n4']);
    expect((await store.takeReadUpTo('tenant-a', 'a:alexander', later.activityId)).map((m) => m.notificationId)).toEqual(['n2']);
    expect((await store.takeReadUpTo('tenant-b', 'a:alex', later.activityId)).map((m) => m.notificationId)).toEqual(['n5']);
  });

  it('looks back no further than its window, and ignores ids that are not times', async () => {
    const short = new TableReadReceiptStore(tables, { lookbackDays: 3 });
    const old = sent('a:sam', '2026-09-01T08:00:00Z', 'n1');
    const recent = sent('a:sam', '2026-11-01T08:00:00Z', 'n2');
    await short.recordSent([old, recent, { ...recent, activityId: '1:abc', notificationId: 'n3' }]);
    expect((await short.takeReadUpTo('tenant-a', 'a:sam', at('2026-11-02T00:00:00Z'))).map((m) => m.notificationId)).toEqual(['n2']);
    expect(await short.takeReadUpTo('tenant-a', 'a:sam', 'not-a-time')).toEqual([]);
  });
});
