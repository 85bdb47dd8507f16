import { HttpGraph } from '../../shared/graph/httpGraph';
import { PacedGraph } from '../../shared/graph/pacedGraph';
import { TableReadReceiptStore } from '../../shared/stores/readReceiptStore';
import { SentMessageIndex } from '../../shared/delivery/sentMessageIndex';
import { DEFAULT_DELIVERY_OPTIONS, DeliveryWorker } from '../../shared/delivery/deliveryWorker';
import { SendBudget } from '../../shared/delivery/sendBudget';
import { jobMessageId, type DeliverJob } from '../../shared/domain/job';
import { recipientKey } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import type { DeadLetter, JobQueue, QueuedJob } from '../../shared/queue/jobQueue';
import { TableConversationStore } from '../../shared/stores/conversationStore';
import { TableDeliveryStore } from '../../shared/stores/deliveryStore';
import { TableNotificationStore } from '../../shared/stores/notificationStore';
import { TableOptOutStore } from '../../shared/stores/optOutStore';
import { Tables } from '../../shared/stores/tables';
import { TableTimelineStore } from '../../shared/stores/timelineStore';
import { BlobRecipientListStore } from '../../shared/stores/recipientListStore';
import { TenantPacer } from '../../shared/pacing/tenantPacer';
import { DEFAULT_PACING_POLICY } from '../../shared/pacing/tenantTimeline';
import { BotbuilderTeamsSender } from '../../shared/teams/botbuilder/botbuilderTeamsSender';
import { createCloudAdapter } from '../../shared/teams/botbuilder/cloudAdapter';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';
import { DeliveryMetrics } from '../../shared/telemetry/deliveryMetrics';
import { LOCAL_SERVICE_URL_TRUST } from '../../shared/teams/trustedServiceUrl';

/** A queue with Service Bus's duplicate detection: a second message with a known id is dropped. */
class DedupingQueue implements JobQueue {
  readonly accepted: QueuedJob[] = [];
  readonly dropped: QueuedJob[] = [];
  private readonly seen = new Set<string>();
  async enqueue(jobs: readonly QueuedJob[]): Promise<void> {
    for (const queued of jobs) {
      const id = jobMessageId(queued.job);
      (this.seen.has(id) ? this.dropped : this.accepted).push(queued);
      this.seen.add(id);
    }
  }
  async deadLetter(_letter: DeadLetter): Promise<void> {}
  async ensureCreated(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('the worker under Service Bus semantics (duplicate detection by message id)', () => {
  let connector: FakeConnector;
  let queue: DedupingQueue;
  let worker: DeliveryWorker;
  let budget: SendBudget;
  let stores: { deliveries: TableDeliveryStore; notifications: TableNotificationStore; conversations: TableConversationStore };

  beforeAll(async () => {
    connector = await startFakeConnector();
  });
  afterAll(() => connector.close());

  beforeEach(async () => {
    const tables = new Tables({ kind: 'connectionString', connectionString: storageConnectionString(), prefix: uniqueName() });
    await tables.ensureCreated();
    stores = { deliveries: new TableDeliveryStore(tables), notifications: new TableNotificationStore(tables), conversations: new TableConversationStore(tables) };
    queue = new DedupingQueue();
    budget = new SendBudget(1000);
    worker = new DeliveryWorker({
      ...stores,
      optOuts: new TableOptOutStore(tables),
      queue,
      sender: new BotbuilderTeamsSender(createCloudAdapter({}), { botAppId: '' }),
      budget,
      pacer: new TenantPacer(new TableTimelineStore(tables), { ...DEFAULT_PACING_POLICY, maxRate: 1000 }),
      recipientLists: new BlobRecipientListStore({ kind: 'connectionString', connectionString: storageConnectionString() }),
      sentMessages: new SentMessageIndex(new TableReadReceiptStore(tables)),
      // No recipient here needs Graph: nothing listens on the discard port.
      graph: new PacedGraph(new HttpGraph({ endpoint: 'http://127.0.0.1:9' }), new SendBudget(10)),
      // The fake connector listens on loopback.
      serviceUrls: LOCAL_SERVICE_URL_TRUST,
      metrics: new DeliveryMetrics(),
      options: { ...DEFAULT_DELIVERY_OPTIONS, leaseMs: 60_000 },
    });
    connector.reset();
  });

  async function pendingNotification(): Promise<DeliverJob> {
    await stores.conversations.saveUser({
      userId: '29:sb-user',
      aadObjectId: 'sb-aad',
      personalConversationId: 'a:sb-chat',
      serviceUrl: connector.serviceUrl,
      tenantId: 'sb-tenant',
      botId: 'bot',
      installed: true,
      updatedAt: new Date().toISOString(),
    });
    const recipient = { type: 'user', aadObjectId: 'sb-aad' } as const;
    const id = `n${uniqueName()}`;
    await stores.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: 'once' }, requestedRecipients: 1 });
    await stores.deliveries.createPending(id, [{ recipientKey: recipientKey(recipient), recipient }]);
    return { v: 1, kind: 'deliver', notificationId: id, recipientKey: recipientKey(recipient), recipient, attempt: 0, throttled: 0 };
  }

  it('a recipient whose claim outlives a crashed worker is looked at again, not dropped as a duplicate', async () => {
    const job = await pendingNotification();
    // A worker claimed the recipient and died: its lease still runs for a second.
    const row = await stores.deliveries.get(job.notificationId, job.recipientKey);
    await stores.deliveries.update(row as NonNullable<typeof row>, { leaseUntil: new Date(Date.now() + 1000).toISOString() });

    // Service Bus redelivers the message after the lock is lost.
    expect(await worker.handle(job, silentLogger)).toMatchObject({ kind: 'rescheduled' });
    expect(queue.accepted).toHaveLength(1);
    // A second redelivery of the same message makes the same copy: Service Bus drops it.
    await worker.handle(job, silentLogger);
    expect(queue.dropped).toHaveLength(1);
    expect(connector.calls).toHaveLength(0);

    const copy = queue.accepted[0] as QueuedJob;
    expect(jobMessageId(copy.job)).not.toBe(jobMessageId(job));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (copy.notBefore?.getTime() ?? 0) - Date.now())));
    expect(await worker.handle(copy.job, silentLogger)).toMatchObject({ kind: 'delivered' });
    expect(connector.delivered('a:sb-chat')).toHaveLength(1);
    // Whatever arrives later finds the recipient settled.
    expect(await worker.handle(job, silentLogger)).toMatchObject({ kind: 'ignored' });
    expect(connector.delivered('a:sb-chat')).toHaveLength(1);
  }, 20_000);

  it('when Teams paused the tenant for long, the recipient is handed back instead of held', async () => {
    const job = await pendingNotification();
    budget.pause('sb-tenant', 30_000);
    const result = await worker.handle(job, silentLogger);
    expect(result).toMatchObject({ kind: 'rescheduled', why: 'tenant throttled by Teams' });
    expect(connector.calls).toHaveLength(0);
    const row = await stores.deliveries.get(job.notificationId, job.recipientKey);
    expect(row).toMatchObject({ status: 'pending' });
    expect(row?.leaseUntil).toBeUndefined();
    const copy = queue.accepted[0];
    expect((copy?.notBefore?.getTime() ?? 0) - Date.now()).toBeGreaterThan(25_000);
  });

  it('a storage fault backs off with a delayed copy instead of throwing for an instant redelivery', async () => {
    const job = await pendingNotification();
    const original = stores.deliveries.get.bind(stores.deliveries);
    let failures = 1;
    stores.deliveries.get = async (...args) => {
      if (failures-- > 0) throw Object.assign(new Error('table service unavailable'), { code: 'ECONNRESET' });
      return original(...args);
    };
    const result = await worker.handle(job, silentLogger);
    expect(result).toMatchObject({ kind: 'rescheduled' });
    expect(queue.accepted[0]?.job).toMatchObject({ faults: 1 });
    expect(await worker.handle(queue.accepted[0]?.job as DeliverJob, silentLogger)).toMatchObject({ kind: 'delivered' });
  });
});
