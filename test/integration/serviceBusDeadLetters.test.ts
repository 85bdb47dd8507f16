import { ServiceBusClient } from '@azure/service-bus';
import { loadConfig } from '../../shared/config';
import { jobMessageId, type DeliverJob } from '../../shared/domain/job';
import { recipientKey, type TargetRecipient } from '../../shared/domain/recipient';
import { silentLogger } from '../../shared/logger';
import { encodeToken, InvalidContinuationToken, type DeadLetterEntry } from '../../shared/queue/deadLetters';
import { DEAD_LETTER_QUEUE_NAME, DELIVERY_QUEUE_NAME } from '../../shared/queue/jobQueue';
import { ServiceBusJobQueue } from '../../shared/queue/serviceBusJobQueue';
import { redriveDeadLetter, redriveNotification } from '../../shared/requests/redriveDeadLetters';
import { createServices, type Services } from '../../shared/services';
import { startAmqpTestPeer, type AmqpTestPeer } from '../support/amqpTestPeer';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { startFakeConnector, type FakeConnector } from '../support/fakeConnector';

/**
 * Dead letters on Service Bus, through the real @azure/service-bus SDK against the AMQP test peer
 * (test/support/amqpTestPeerQueues.ts keeps queues, sequence numbers, locks and dead-letter
 * subqueues as Service Bus does): our parking queue and the delivery queue's own subqueue are
 * listed and redriven, and a redriven job is delivered by the real worker, fed by a receiver.
 */

jest.setTimeout(60_000);

const MAX_DELIVERY_COUNT = 3;
const TENANT = 'tenant-sb';

describe('dead letters on Service Bus (AMQP test peer)', () => {
  let connector: FakeConnector;
  let peer: AmqpTestPeer;
  let queue: ServiceBusJobQueue;
  let services: Services;
  let client: ServiceBusClient;

  beforeAll(async () => {
    connector = await startFakeConnector();
  });
  afterAll(() => connector.close());

  beforeEach(async () => {
    connector.reset();
    peer = await startAmqpTestPeer({ maxDeliveryCount: MAX_DELIVERY_COUNT });
    queue = ServiceBusJobQueue.fromSettings({ connectionString: peer.connectionString });
    client = new ServiceBusClient(peer.connectionString);
    services = createServices(loadConfig({ STORAGE_CONNECTION_STRING: storageConnectionString(), TABLE_PREFIX: uniqueName() }), { queue, log: silentLogger });
    await services.ready();
  });

  afterEach(async () => {
    await client.close();
    await services.close();
    await peer.close();
    expect(peer.errors).toEqual([]);
    expect(peer.queues.errors).toEqual([]);
  });

  async function knownUser(name: string): Promise<TargetRecipient> {
    const aadObjectId = `aad-${name}`;
    await services.conversations.saveUser({
      userId: `29:${name}`,
      aadObjectId,
      personalConversationId: `a:chat-${name}`,
      serviceUrl: connector.serviceUrl,
      tenantId: TENANT,
      botId: 'bot',
      installed: true,
      updatedAt: new Date().toISOString(),
    });
    return { type: 'user', aadObjectId };
  }

  async function notification(recipients: readonly TargetRecipient[]): Promise<{ id: string; jobs: DeliverJob[] }> {
    const id = `n${uniqueName()}`;
    await services.notifications.create({ id, createdAt: new Date().toISOString(), message: { text: `hello from ${id}` }, requestedRecipients: recipients.length });
    await services.deliveries.createPending(id, recipients.map((recipient) => ({ recipientKey: recipientKey(recipient), recipient })));
    return { id, jobs: recipients.map((recipient) => ({ v: 1, kind: 'deliver', notificationId: id, recipientKey: recipientKey(recipient), recipient, attempt: 0, throttled: 0 })) };
  }

  /** What the Service Bus trigger does: receive from the delivery queue, hand the body to the queue handler, complete. */
  async function runTrigger(): Promise<number> {
    const receiver = client.createReceiver(DELIVERY_QUEUE_NAME, { receiveMode: 'peekLock' });
    let handled = 0;
    try {
      for (;;) {
        const batch = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
        if (batch.length === 0) return handled;
        for (const message of batch) {
          await services.jobs.handle(message.body, silentLogger);
          await receiver.completeMessage(message);
          handled += 1;
        }
      }
    } finally {
      await receiver.close();
    }
  }

  /** Service Bus' own dead-lettering: a message abandoned maxDeliveryCount times moves to `delivery-jobs/$deadletterqueue`. */
  async function failEveryDelivery(): Promise<void> {
    const receiver = client.createReceiver(DELIVERY_QUEUE_NAME, { receiveMode: 'peekLock' });
    for (let i = 0; i < MAX_DELIVERY_COUNT; i++) {
      for (const message of await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 })) await receiver.abandonMessage(message);
    }
    await receiver.close();
  }

  async function listAll(notificationId?: string, limit = 15): Promise<DeadLetterEntry[]> {
    const all: DeadLetterEntry[] = [];
    let token: string | undefined;
    do {
      const page = await services.deadLetters.list({ limit, ...(notificationId !== undefined && { notificationId }), ...(token !== undefined && { continuationToken: token }) });
      all.push(...page.items);
      token = page.continuationToken;
    } while (token !== undefined);
    return all;
  }

  it('lists a job parked by the worker and one Service Bus dead-lettered itself, with reason, description, notification, recipient and time', async () => {
    const { id, jobs } = await notification([await knownUser(uniqueName('u')), await knownUser(uniqueName('u'))]);
    const [parked, native] = jobs as [DeliverJob, DeliverJob];
    await services.jobs.giveUp(parked, 'failed 5 times; last error: table unavailable', silentLogger);
    await queue.enqueue([{ job: native }]);
    await failEveryDelivery();
    expect(peer.queues.messages(DELIVERY_QUEUE_NAME)).toHaveLength(0);

    const letters = await listAll(id);
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({
      id: 'parked-1',
      reason: 'max-delivery-count',
      description: 'failed 5 times; last error: table unavailable',
      notificationId: id,
      jobKind: 'deliver',
      recipientKeys: [parked.recipientKey],
    });
    expect(letters[1]).toMatchObject({
      id: 'native-1',
      reason: 'MaxDeliveryCountExceeded',
      description: `Message could not be consumed after ${MAX_DELIVERY_COUNT} delivery attempts.`,
      notificationId: id,
      recipientKeys: [native.recipientKey],
    });
    for (const letter of letters) expect(Math.abs(Date.parse(letter.deadLetteredAt) - Date.now())).toBeLessThan(30_000);
    // Addressable: the same letter by its id.
    expect(await services.deadLetters.get('native-1')).toMatchObject({ id: 'native-1', notificationId: id });
    expect(await services.deadLetters.get('native-2')).toBeUndefined();
    expect(await services.deadLetters.get('bogus')).toBeUndefined();
  });

  it('pages through more than 32 letters by sequence number, filtered by notification', async () => {
    const [a, b] = [`n${uniqueName()}`, `n${uniqueName()}`];
    const letter = (notificationId: string, i: number) => ({
      body: JSON.stringify({ v: 1, kind: 'deliver', notificationId, recipientKey: `user:id:29:p${i}`, recipient: { type: 'user', userId: `29:p${i}` }, attempt: 0, throttled: 0 }),
      reason: 'too-many-errors',
      description: `letter ${i}`,
    });
    for (let i = 0; i < 45; i++) await queue.deadLetter(letter(i % 3 === 0 ? b : a, i));

    const ofA = await listAll(a, 10);
    expect(ofA).toHaveLength(30);
    expect(new Set(ofA.map((l) => l.id)).size).toBe(30);
    expect(ofA.every((l) => l.notificationId === a)).toBe(true);
    const first = await services.deadLetters.list({ limit: 10, notificationId: a });
    expect(first.items).toHaveLength(10);
    expect(first.continuationToken).toBeDefined();
    expect(await listAll(undefined, 7)).toHaveLength(45);
  });

  it('redrives a parked job: the row is reset, a copy with a new message id is enqueued, the letter is removed, and the worker delivers it once', async () => {
    const name = uniqueName('u');
    const { id, jobs } = await notification([await knownUser(name)]);
    const job = jobs[0] as DeliverJob;
    await services.jobs.giveUp(job, 'failed 5 times; last error: table unavailable', silentLogger);
    expect(await services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'failed', reason: 'retries-exhausted' });

    const result = await redriveDeadLetter('parked-1', services);
    expect(result).toMatchObject({ kind: 'redriven', jobKind: 'deliver', recipients: [{ recipientKey: job.recipientKey, action: 'reset' }] });
    expect(await services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'pending' });
    const copies = peer.received.filter((m) => m.address === DELIVERY_QUEUE_NAME);
    expect(copies).toHaveLength(1);
    // A message id of its own, or Service Bus' duplicate detection would drop it as the job it was.
    expect(copies[0]?.messageId).not.toBe(jobMessageId(job));
    expect(copies[0]?.body).toMatchObject({ ...job, hop: 1, faults: 0 });
    expect(peer.queues.messages(DEAD_LETTER_QUEUE_NAME)).toHaveLength(0);
    expect(await redriveDeadLetter('parked-1', services)).toEqual({ kind: 'not-found' });

    expect(await runTrigger()).toBe(1);
    expect(await services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'delivered' });
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('redrives a job from the native dead-letter subqueue (its row still pending) and the worker delivers it once', async () => {
    const name = uniqueName('u');
    const { id, jobs } = await notification([await knownUser(name)]);
    const job = jobs[0] as DeliverJob;
    await queue.enqueue([{ job }]);
    await failEveryDelivery();

    expect(await redriveDeadLetter('native-1', services)).toMatchObject({ kind: 'redriven', recipients: [{ action: 'requeued', status: 'pending' }] });
    expect(peer.queues.messages(`${DELIVERY_QUEUE_NAME}/$deadletterqueue`)).toHaveLength(0);
    expect(await runTrigger()).toBe(1);
    expect(await services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'delivered' });
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('never resets a delivered recipient: refused, nothing enqueued, the letter stays', async () => {
    const name = uniqueName('u');
    const { id, jobs } = await notification([await knownUser(name)]);
    const job = jobs[0] as DeliverJob;
    await queue.enqueue([{ job }]);
    expect(await runTrigger()).toBe(1);
    await services.jobs.giveUp(job, 'the job failed on all 10 deliveries; last error: lock lost', silentLogger);
    const before = peer.received.length;

    expect(await redriveDeadLetter('parked-1', services)).toMatchObject({ kind: 'refused', recipients: [{ action: 'left', status: 'delivered' }] });
    expect(peer.received.length).toBe(before);
    expect(await services.deliveries.get(id, job.recipientKey)).toMatchObject({ status: 'delivered' });
    expect((await listAll(id)).map((l) => l.id)).toEqual(['parked-1']);
    expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('redrives all of one notification, and removing a letter only passes over (and counts a delivery for) older ones', async () => {
    const names = [uniqueName('u'), uniqueName('u'), uniqueName('u')];
    const { id, jobs } = await notification(await Promise.all(names.map((n) => knownUser(n))));
    const other = await notification([await knownUser(uniqueName('u'))]);
    // Parking queue, in order: other, id, id, other, id.
    const order = [other.jobs[0], jobs[0], jobs[1], other.jobs[0], jobs[2]] as DeliverJob[];
    for (const [i, job] of order.entries()) await queue.deadLetter({ body: JSON.stringify(job), reason: 'too-many-errors', description: `letter ${i}` });

    const result = await redriveNotification(id, { limit: 100 }, services);
    expect(result).toMatchObject({ notificationId: id, redriven: 3, refused: 0 });
    // The other notification's letters stay parked. Each removal passed over the older ones, which
    // Service Bus counts as a delivery: the oldest, passed over three times (maxDeliveryCount
    // here), moved to the parking queue's own subqueue, where it is still listed, by a new id.
    expect(peer.queues.messages(DEAD_LETTER_QUEUE_NAME).map((m) => [m.sequenceNumber, m.deliveryCount])).toEqual([[4, 1]]);
    expect((await listAll(other.id)).map((l) => [l.id, l.description])).toEqual([
      ['parked-4', 'letter 3'],
      ['parked-dlq-1', 'letter 0'],
    ]);

    expect(await runTrigger()).toBe(3);
    for (const name of names) expect(connector.delivered(`a:chat-${name}`)).toHaveLength(1);
  });

  it('a redriven job has its full retry budget again: the copy starts at attempt 0, and the row at 0 attempts and sweeps', async () => {
    const { id, jobs } = await notification([await knownUser(uniqueName('u'))]);
    // Parked after its retries ran out: the job at its last attempt, the row counting them.
    const job: DeliverJob = { ...(jobs[0] as DeliverJob), attempt: 4, throttled: 2 };
    const row = await services.deliveries.get(id, job.recipientKey);
    expect(await services.deliveries.update(row as NonNullable<typeof row>, { attempts: 5, sweeps: 2 })).toMatchObject({ kind: 'updated' });
    await services.jobs.giveUp(job, 'failed 5 times; last error: table unavailable', silentLogger);

    expect(await redriveDeadLetter('parked-1', services)).toMatchObject({ kind: 'redriven', letter: 'removed' });
    const copies = peer.received.filter((m) => m.address === DELIVERY_QUEUE_NAME);
    expect(copies).toHaveLength(1);
    expect(copies[0]?.body).toMatchObject({ hop: 1, faults: 0, attempt: 0, throttled: 0 });
    const reopened = await services.deliveries.get(id, job.recipientKey);
    expect(reopened).toMatchObject({ status: 'pending', attempts: 0, sweeps: 0 });
    expect(reopened?.reason).toBeUndefined();
  });

  it('a letter locked by someone else is redriven but kept: the outcome says so and it stays listed', async () => {
    const { id, jobs } = await notification([await knownUser(uniqueName('u'))]);
    await services.jobs.giveUp(jobs[0] as DeliverJob, 'failed 5 times; last error: table unavailable', silentLogger);
    const holder = client.createReceiver(DEAD_LETTER_QUEUE_NAME, { receiveMode: 'peekLock' });
    try {
      const [locked] = await holder.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
      expect(locked?.sequenceNumber?.toString()).toBe('1');

      expect(await redriveDeadLetter('parked-1', services)).toMatchObject({ kind: 'redriven', letter: 'kept' });
      expect((await listAll(id)).map((l) => l.id)).toEqual(['parked-1']);
      const all = await redriveNotification(id, { limit: 10 }, services);
      expect(all).toMatchObject({ redriven: 1, kept: 1, refused: 0, results: [{ id: 'parked-1', letter: 'kept' }] });
    } finally {
      await holder.close();
    }
  });

  it('refuses sequence numbers past Long.MAX_VALUE: such an id is not found, such a token is invalid (never wrapped round to a negative)', async () => {
    await services.jobs.giveUp((await notification([await knownUser(uniqueName('u'))])).jobs[0] as DeliverJob, 'gave up', silentLogger);
    for (const id of ['parked-9223372036854775808', 'native-9999999999999999999', 'parked-dlq-18446744073709551615']) {
      expect(await services.deadLetters.get(id)).toBeUndefined();
      expect(await services.deadLetters.remove(id)).toBe(false);
      expect(await redriveDeadLetter(id, services)).toEqual({ kind: 'not-found' });
    }
    // The largest there is: a well-formed id, not there.
    expect(await services.deadLetters.get('parked-9223372036854775807')).toBeUndefined();
    for (const f of ['9223372036854775808', '9999999999999999999']) {
      await expect(services.deadLetters.list({ limit: 10, continuationToken: encodeToken({ s: 0, f }) })).rejects.toBeInstanceOf(InvalidContinuationToken);
    }
    expect((await services.deadLetters.list({ limit: 10, continuationToken: encodeToken({ s: 0, f: '1' }) })).items.map((l) => l.id)).toEqual(['parked-1']);
  });
});
