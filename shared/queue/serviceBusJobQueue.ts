import { createHash } from 'node:crypto';
import {
  ServiceBusClient,
  type ServiceBusMessage,
  type ServiceBusMessageBatch,
  type ServiceBusSender,
  type TokenCredential,
} from '@azure/service-bus';
import { jobMessageId } from '../domain/job';
import { welcomeMessageId } from '../domain/welcomeJob';
import type { DeadLetters, HasDeadLetters } from './deadLetters';
import { ServiceBusDeadLetters } from './serviceBusDeadLetters';
import { DEAD_LETTER_QUEUE_NAME, DELIVERY_QUEUE_NAME, type DeadLetter, type JobQueue, type QueuedJob, type QueueJob } from './jobQueue';

/** How to reach the namespace: a connection string (local, emulator, test peer) or a managed identity. */
export type ServiceBusConnection =
  | { readonly connectionString: string }
  | { readonly fullyQualifiedNamespace: string; readonly credential: TokenCredential };

export interface ServiceBusJobQueueOptions {
  /** Delivery queue name; the default is the one the Functions trigger listens on. */
  readonly queueName?: string;
  /** Parking queue for jobs that must not be retried. */
  readonly deadLetterQueueName?: string;
  /** Upper bound for `ping`, so a health probe answers before its own caller gives up. */
  readonly pingTimeoutMs?: number;
}

/**
 * Budget for one schedule-message request. The request is a single AMQP message on the
 * management link and counts against the entity's message size limit (256 KB on Standard), so
 * a large group of jobs scheduled for the same instant is split across requests.
 */
const SCHEDULE_REQUEST_BUDGET_BYTES = 192 * 1024;
/** Per-entry allowance for AMQP framing and the SDK's own annotations in a schedule request. */
const SCHEDULE_ENTRY_OVERHEAD_BYTES = 512;
const DEFAULT_PING_TIMEOUT_MS = 5_000;

/**
 * The job queue on Azure Service Bus. One client (one AMQP connection) per instance, and one
 * cached sender per queue, because opening a link costs a round trip plus a CBS token exchange.
 */
export class ServiceBusJobQueue implements JobQueue, HasDeadLetters {
  private readonly client: ServiceBusClient;
  private readonly senders = new Map<string, ServiceBusSender>();
  private readonly queueName: string;
  private readonly deadLetterQueueName: string;
  private readonly pingTimeoutMs: number;
  private parked: ServiceBusDeadLetters | undefined;

  constructor(connection: ServiceBusConnection, options: ServiceBusJobQueueOptions = {}) {
    this.client =
      'connectionString' in connection
        ? new ServiceBusClient(connection.connectionString)
        : new ServiceBusClient(connection.fullyQualifiedNamespace, connection.credential);
    this.queueName = options.queueName ?? DELIVERY_QUEUE_NAME;
    this.deadLetterQueueName = options.deadLetterQueueName ?? DEAD_LETTER_QUEUE_NAME;
    this.pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  }

  /**
   * From the settings: a connection string wins (it is what `func start` and the test peer use);
   * otherwise the namespace with the credential (DefaultAzureCredential with the user-assigned
   * identity in Azure), which the caller builds so this module does not pick an identity policy.
   */
  static fromSettings(
    settings: { connectionString?: string; fullyQualifiedNamespace?: string; credential?: TokenCredential },
    options?: ServiceBusJobQueueOptions,
  ): ServiceBusJobQueue {
    if (settings.connectionString) return new ServiceBusJobQueue({ connectionString: settings.connectionString }, options);
    if (settings.fullyQualifiedNamespace && settings.credential) {
      return new ServiceBusJobQueue({ fullyQualifiedNamespace: settings.fullyQualifiedNamespace, credential: settings.credential }, options);
    }
    throw new Error('Service Bus needs a connection string, or a fully qualified namespace and a credential');
  }

  /** The dead letters of both queues, on this instance's connection. */
  deadLetterStore(): DeadLetters {
    this.parked ??= new ServiceBusDeadLetters(this.client, { queueName: this.queueName, deadLetterQueueName: this.deadLetterQueueName });
    return this.parked;
  }

  /** The queues come from infra/: duplicate detection can only be set when a queue is created. */
  async ensureCreated(): Promise<void> {}

  async enqueue(jobs: readonly QueuedJob<QueueJob>[]): Promise<void> {
    const now = Date.now();
    const immediate: ServiceBusMessage[] = [];
    // Keyed by epoch milliseconds: scheduleMessages takes one time for the whole call.
    const later = new Map<number, ServiceBusMessage[]>();
    for (const { job, notBefore } of jobs) {
      const message = toMessage(job);
      if (notBefore === undefined || notBefore.getTime() <= now) {
        immediate.push(message);
      } else {
        const group = later.get(notBefore.getTime());
        if (group) group.push(message);
        else later.set(notBefore.getTime(), [message]);
      }
    }
    // A failure part-way leaves the earlier batches sent. The caller retries the whole call, and
    // because every job keeps its message id, duplicate detection drops what already went.
    const sender = this.sender(this.queueName);
    if (immediate.length > 0) await sendInBatches(sender, immediate);
    for (const [at, messages] of later) {
      for (const chunk of scheduleChunks(messages)) await sender.scheduleMessages(chunk, new Date(at));
    }
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.sender(this.deadLetterQueueName).sendMessages({
      // Bytes, not the string: the SDK JSON-encodes string bodies, which would wrap the original
      // text in quotes and escape it; operators and replay tools should see it as it arrived.
      body: Buffer.from(letter.body, 'utf8'),
      contentType: 'text/plain; charset=utf-8',
      // Same letter, same id: a redelivered poison message parked twice is dropped by duplicate
      // detection where the queue has it enabled.
      messageId: createHash('sha256').update(`${letter.reason}\n${letter.body}`).digest('base64url'),
      subject: letter.reason,
      applicationProperties: {
        reason: letter.reason,
        description: letter.description,
        deadLetteredAt: new Date().toISOString(),
      },
    });
  }

  async ping(): Promise<void> {
    // Sender links are opened lazily; creating a batch opens the link (connection, CBS token,
    // attach) without sending anything, which is the cheapest proof the namespace answers.
    // The abort bounds the SDK's own retries, which would otherwise run for minutes.
    const signal = AbortSignal.timeout(this.pingTimeoutMs);
    try {
      await this.sender(this.queueName).createMessageBatch({ abortSignal: signal });
    } catch (error) {
      if (signal.aborted) throw new Error(`Service Bus did not answer within ${this.pingTimeoutMs} ms`, { cause: error });
      throw error;
    }
  }

  async close(): Promise<void> {
    const senders = [...this.senders.values()];
    this.senders.clear();
    // Closing the client alone would close the links too, but closing the senders first lets
    // their detach complete before the connection goes away.
    await Promise.allSettled([...senders.map((sender) => sender.close()), this.parked?.close()]);
    await this.client.close();
  }

  private sender(queue: string): ServiceBusSender {
    let sender = this.senders.get(queue);
    if (!sender) {
      sender = this.client.createSender(queue);
      this.senders.set(queue, sender);
    }
    return sender;
  }
}

function toMessage(job: QueueJob): ServiceBusMessage {
  if (job.kind === 'welcome') {
    return {
      body: job,
      contentType: 'application/json',
      messageId: welcomeMessageId(job),
      subject: job.kind,
      applicationProperties: { tenantId: job.tenantId, sends: job.sends.length },
    };
  }
  return {
    body: job,
    contentType: 'application/json',
    messageId: jobMessageId(job),
    subject: job.kind,
    // Copies of routing facts, so Service Bus Explorer and SQL filters can see them without the body.
    applicationProperties: {
      notificationId: job.notificationId,
      ...(job.kind === 'deliver' || job.kind === 'expand' ? { recipientKey: job.recipientKey, attempt: job.attempt } : {}),
      ...(job.kind === 'slice' && { tenantId: job.tenantId, sends: job.sends.length }),
    },
  };
}

/** Sends everything in as few batches as the link's size limit allows, in order. */
async function sendInBatches(sender: ServiceBusSender, messages: readonly ServiceBusMessage[]): Promise<void> {
  let batch: ServiceBusMessageBatch = await sender.createMessageBatch();
  for (const message of messages) {
    if (batch.tryAddMessage(message)) continue;
    if (batch.count > 0) {
      await sender.sendMessages(batch);
      batch = await sender.createMessageBatch();
      if (batch.tryAddMessage(message)) continue;
    }
    // Alone in an empty batch and still too big: no retry or split can ever send it.
    throw new Error(`message ${String(message.messageId)} does not fit in an empty batch (max ${batch.maxSizeInBytes} bytes)`);
  }
  if (batch.count > 0) await sender.sendMessages(batch);
}

/** Splits one schedule group so that each management request stays under the size budget. */
function scheduleChunks(messages: readonly ServiceBusMessage[]): ServiceBusMessage[][] {
  const chunks: ServiceBusMessage[][] = [];
  let current: ServiceBusMessage[] = [];
  let size = 0;
  for (const message of messages) {
    const { body, applicationProperties, messageId } = message;
    const estimate = Buffer.byteLength(JSON.stringify({ body, applicationProperties, messageId })) + SCHEDULE_ENTRY_OVERHEAD_BYTES;
    if (current.length > 0 && size + estimate > SCHEDULE_REQUEST_BUDGET_BYTES) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(message);
    size += estimate;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
