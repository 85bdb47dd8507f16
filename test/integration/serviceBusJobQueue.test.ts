import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { jobMessageId, type DeliverJob, type ExpandJob } from '../../shared/domain/job';
import { DEAD_LETTER_QUEUE_NAME, DELIVERY_QUEUE_NAME } from '../../shared/queue/jobQueue';
import { ServiceBusJobQueue } from '../../shared/queue/serviceBusJobQueue';
import { startAmqpTestPeer, type AmqpTestPeer } from '../support/amqpTestPeer';

/**
 * The Service Bus adapter through the real @azure/service-bus SDK, over AMQP, against a small
 * rhea peer (test/support/amqpTestPeer.ts). What is asserted is what the peer received on the wire.
 */

jest.setTimeout(30_000);

function deliverJob(i: number, overrides: Partial<DeliverJob> = {}): DeliverJob {
  return {
    v: 1,
    kind: 'deliver',
    notificationId: 'notif-0001',
    recipientKey: `user:id:29:user-${i}`,
    recipient: { type: 'user', userId: `29:user-${i}` },
    attempt: 0,
    throttled: 0,
    ...overrides,
  };
}

const expandJob: ExpandJob = {
  v: 1,
  kind: 'expand',
  notificationId: 'notif-0001',
  recipientKey: 'teamMembers:19:team',
  recipient: { type: 'teamMembers', teamId: '19:team' },
  continuationToken: 'page-2-token',
  page: 2,
  expanded: 200,
  attempt: 1,
  throttled: 0,
};

const emulator = (port: number): string =>
  `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true`;

/** A port that was free a moment ago and has nothing listening on it now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('ServiceBusJobQueue against an AMQP peer', () => {
  let peer: AmqpTestPeer;
  let queue: ServiceBusJobQueue;

  beforeEach(async () => {
    peer = await startAmqpTestPeer();
    queue = ServiceBusJobQueue.fromSettings({ connectionString: peer.connectionString });
  });

  afterEach(async () => {
    await queue.close();
    await peer.close();
    // A transfer the peer rejected would have failed the call, but say why here too.
    expect(peer.errors).toEqual([]);
  });

  it('sends a job as JSON with its deterministic message id, kind and routing properties', async () => {
    const deliver = deliverJob(1, { attempt: 2, throttled: 1 });
    await queue.enqueue([{ job: deliver }, { job: expandJob }]);
    // The same job step enqueued again (a retried HTTP call) carries the same id: that is what
    // lets duplicate detection drop it in Azure. The peer does not deduplicate, so both arrive.
    await queue.enqueue([{ job: deliver }]);

    expect(peer.received).toHaveLength(3);
    const [first, second, again] = peer.received;
    expect(first).toMatchObject({
      address: DELIVERY_QUEUE_NAME,
      body: deliver,
      messageId: jobMessageId(deliver),
      contentType: 'application/json',
      subject: 'deliver',
      applicationProperties: { notificationId: 'notif-0001', recipientKey: deliver.recipientKey, attempt: 2 },
    });
    expect(JSON.parse(first?.bodyText ?? '')).toEqual(deliver);
    expect(second).toMatchObject({
      body: expandJob,
      messageId: jobMessageId(expandJob),
      subject: 'expand',
      applicationProperties: { notificationId: 'notif-0001', recipientKey: expandJob.recipientKey, attempt: 1 },
    });
    expect(again?.messageId).toBe(first?.messageId);
    expect(jobMessageId(deliverJob(1, { attempt: 3, throttled: 1 }))).not.toBe(first?.messageId);
    // The SDK authorised the link through $cbs before attaching to the queue.
    expect(peer.tokenAudiences).toContain(`sb://127.0.0.1:${peer.port}/${DELIVERY_QUEUE_NAME}`);
  });

  it('delivers 300 jobs complete and in order, batched', async () => {
    const jobs = Array.from({ length: 300 }, (_, i) => deliverJob(i));
    await queue.enqueue(jobs.map((job) => ({ job })));

    expect(peer.received.map((m) => m.body)).toEqual(jobs);
    expect(peer.received.map((m) => m.messageId)).toEqual(jobs.map(jobMessageId));
    expect(new Set(peer.received.map((m) => m.messageId)).size).toBe(300);
    expect(peer.received.every((m) => m.batched)).toBe(true);
    // ~200 bytes each fits one 256 KB batch: one transfer, not 300.
    expect(new Set(peer.received.map((m) => m.transfer)).size).toBe(1);
  });

  it('starts a new batch when the link limit is reached and rejects a job that fits no batch', async () => {
    await queue.close();
    await peer.close();
    peer = await startAmqpTestPeer({ maxMessageSize: 8 * 1024 });
    queue = new ServiceBusJobQueue({ connectionString: peer.connectionString });

    const jobs = Array.from({ length: 300 }, (_, i) => deliverJob(i));
    await queue.enqueue(jobs.map((job) => ({ job })));

    expect(peer.received.map((m) => m.body)).toEqual(jobs);
    const transfers = new Set(peer.received.map((m) => m.transfer));
    const totalBytes = peer.received.reduce((sum, m) => sum + (m.bodyText?.length ?? 0), 0);
    expect(transfers.size).toBeGreaterThanOrEqual(Math.ceil(totalBytes / (8 * 1024)));
    expect(transfers.size).toBeLessThan(300);

    const huge = deliverJob(0, { recipientKey: 'x'.repeat(10_000) });
    await expect(queue.enqueue([{ job: huge }])).rejects.toThrow(/does not fit in an empty batch/);
    expect(peer.received).toHaveLength(300);
  });

  it('schedules future jobs through schedule-message at their notBefore, and sends due ones now', async () => {
    const soon = new Date(Date.now() + 60_000);
    const later = new Date(Date.now() + 3_600_000);
    const past = new Date(Date.now() - 1_000);
    const [a, b, c, d] = [deliverJob(1, { attempt: 1 }), deliverJob(2, { attempt: 1 }), deliverJob(3, { attempt: 4 }), deliverJob(4)];
    await queue.enqueue([
      { job: a!, notBefore: soon },
      { job: d!, notBefore: past },
      { job: b!, notBefore: soon },
      { job: c!, notBefore: later },
    ]);

    expect(peer.received.map((m) => m.body)).toEqual([d]);
    const byId = new Map(peer.scheduled.map((m) => [m.messageId, m]));
    expect(peer.scheduled).toHaveLength(3);
    for (const [job, at] of [[a!, soon], [b!, soon], [c!, later]] as const) {
      const scheduled = byId.get(jobMessageId(job));
      expect(scheduled).toMatchObject({
        address: DELIVERY_QUEUE_NAME,
        body: job,
        contentType: 'application/json',
        subject: 'deliver',
        applicationProperties: { notificationId: job.notificationId, recipientKey: job.recipientKey, attempt: job.attempt },
      });
      expect(scheduled?.scheduledEnqueueTime.getTime()).toBe(at.getTime());
    }
  });

  it('splits a large group scheduled for one instant across schedule requests', async () => {
    const at = new Date(Date.now() + 60_000);
    // 40 KB of recipient key, twice per message (body and properties): two fit one request, three do not.
    const jobs = [1, 2, 3].map((i) => deliverJob(i, { recipientKey: `${i}:${'k'.repeat(40_000)}` }));
    await queue.enqueue(jobs.map((job) => ({ job, notBefore: at })));

    expect(peer.scheduled.map((m) => m.body)).toEqual(jobs);
    const requests = peer.scheduled.map((m) => m.transfer);
    expect(new Set(requests).size).toBe(2);
    expect(requests[0]).toBe(requests[1]);
    expect(peer.scheduled.every((m) => m.scheduledEnqueueTime.getTime() === at.getTime())).toBe(true);
  });

  it('parks a dead letter with the original body and its reason', async () => {
    const before = Date.now();
    const poison = '{"v":1,"kind":"deliver", not json';
    await queue.deadLetter({ body: poison, reason: 'poison-body', description: 'body is not JSON' });
    await queue.deadLetter({ body: JSON.stringify(deliverJob(7)), reason: 'retries-exhausted', description: '6 attempts' });

    expect(peer.received).toHaveLength(2);
    const [first, second] = peer.received;
    expect(first).toMatchObject({
      address: DEAD_LETTER_QUEUE_NAME,
      bodyText: poison,
      applicationProperties: { reason: 'poison-body', description: 'body is not JSON' },
    });
    const at = Date.parse(String(first?.applicationProperties.deadLetteredAt));
    expect(at).toBeGreaterThanOrEqual(before - 1);
    expect(at).toBeLessThanOrEqual(Date.now());
    // Byte for byte, not re-encoded as a JSON string.
    expect(second?.bodyText).toBe(JSON.stringify(deliverJob(7)));
    expect(second?.applicationProperties).toMatchObject({ reason: 'retries-exhausted', description: '6 attempts' });
    expect(peer.received.filter((m) => m.address === DELIVERY_QUEUE_NAME)).toHaveLength(0);
  });

  it('pings the namespace by opening the delivery queue link', async () => {
    await queue.ping();
    expect(peer.tokenAudiences).toEqual([`sb://127.0.0.1:${peer.port}/${DELIVERY_QUEUE_NAME}`]);
    expect(peer.received).toHaveLength(0);
  });
});

describe('ServiceBusJobQueue without a namespace', () => {
  it('refuses settings that name no namespace', () => {
    expect(() => ServiceBusJobQueue.fromSettings({ fullyQualifiedNamespace: 'ns.servicebus.windows.net' })).toThrow(/credential/);
  });

  it('rejects quickly when nothing listens', async () => {
    const queue = new ServiceBusJobQueue({ connectionString: emulator(await closedPort()) }, { pingTimeoutMs: 3_000 });
    const started = Date.now();
    try {
      await expect(queue.ping()).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      await queue.close();
    }
  });

  it('rejects at its timeout when the port accepts TCP but never speaks AMQP', async () => {
    const sockets = new Set<Socket>();
    const blackhole: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const queue = new ServiceBusJobQueue({ connectionString: emulator((blackhole.address() as AddressInfo).port) }, { pingTimeoutMs: 1_500 });
    const started = Date.now();
    try {
      await expect(queue.ping()).rejects.toThrow(/did not answer within 1500 ms/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await queue.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    }
  });
});
