import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import type { TableClient } from '@azure/data-tables';
import type { DeadLetters, HasDeadLetters } from './deadLetters';
import { DEAD_LETTER_QUEUE_NAME, DELIVERY_QUEUE_NAME, type DeadLetter, type JobQueue, type QueuedJob, type QueueJob } from './jobQueue';
import { StorageQueueDeadLetters } from './storageQueueDeadLetters';

/** Azure Storage queues cap visibility delays at 7 days; a later job re-schedules itself on arrival. */
export const MAX_VISIBILITY_DELAY_SECONDS = 7 * 24 * 3600 - 60;

/** Encodes a queue body the way the Functions storage-queue trigger expects it: base64 text. */
export function encodeQueueBody(body: unknown): string {
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8').toString('base64');
}

export function decodeQueueBody(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}

/**
 * The local adapter of the job queue: Azure Storage queues, served by Azurite. Scheduling is a
 * visibility delay; there is no duplicate detection, so delivery rows carry idempotency instead.
 */
export class StorageQueueJobQueue implements JobQueue, HasDeadLetters {
  private readonly service: QueueServiceClient;
  readonly deliveries: QueueClient;
  readonly deadLetters: QueueClient;
  /** The dead letters' index (see `StorageQueueDeadLetters`), a table named after the dead-letter queue. */
  private readonly deadLetterIndex: TableClient;
  private readonly parked: StorageQueueDeadLetters;
  private ensured: Promise<void> | undefined;

  constructor(connectionString: string, names = { deliveries: DELIVERY_QUEUE_NAME, deadLetters: DEAD_LETTER_QUEUE_NAME }) {
    this.service = QueueServiceClient.fromConnectionString(connectionString);
    this.deliveries = this.service.getQueueClient(names.deliveries);
    this.deadLetters = this.service.getQueueClient(names.deadLetters);
    this.deadLetterIndex = StorageQueueDeadLetters.indexClient(connectionString, names.deadLetters);
    this.parked = new StorageQueueDeadLetters(this.deadLetters, this.deadLetterIndex);
  }

  deadLetterStore(): DeadLetters {
    return this.parked;
  }

  ensureCreated(): Promise<void> {
    this.ensured ??= Promise.all([this.deliveries.createIfNotExists(), this.deadLetters.createIfNotExists(), this.deadLetterIndex.createTable()]).then(
      () => undefined,
      (error: unknown) => {
        this.ensured = undefined;
        throw error;
      },
    );
    return this.ensured;
  }

  async enqueue(jobs: readonly QueuedJob<QueueJob>[]): Promise<void> {
    await this.ensureCreated();
    const now = Date.now();
    // Storage queues take one message per request; a small pool keeps large fan-outs quick.
    const pending = [...jobs];
    const worker = async (): Promise<void> => {
      for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
        const delay = next.notBefore === undefined ? 0 : Math.ceil((next.notBefore.getTime() - now) / 1000);
        await this.deliveries.sendMessage(encodeQueueBody(next.job), {
          visibilityTimeout: Math.min(Math.max(delay, 0), MAX_VISIBILITY_DELAY_SECONDS),
          messageTimeToLive: -1,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, pending.length) }, worker));
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    await this.ensureCreated();
    await this.parked.park(letter, (id, deadLetteredAt) =>
      encodeQueueBody({ id, reason: letter.reason, description: letter.description, body: letter.body, deadLetteredAt }),
    );
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.deliveries.getProperties(signal !== undefined ? { abortSignal: signal } : {});
  }

  async close(): Promise<void> {
    // HTTP clients hold no connection to close.
  }
}
