import type { QueueClient } from '@azure/storage-queue';
import type { QueueFunctionDefinition } from '../functions/definitions';
import type { Logger } from '../shared/logger';
import type { JobQueue } from '../shared/queue/jobQueue';
import { decodeQueueBody } from '../shared/queue/storageQueueJobQueue';
import { invocationContext } from './functionHost';

export interface StorageQueueTriggerOptions {
  readonly queue: QueueClient;
  readonly deadLetters: JobQueue;
  readonly definition: QueueFunctionDefinition;
  /** Messages handled at once, like host.json `maxConcurrentCalls`. */
  readonly concurrency?: number;
  /** After this many failed deliveries a message is dead-lettered, like Service Bus `maxDeliveryCount`. */
  readonly maxDeliveryCount?: number;
  /** How long a received message stays invisible to others: the lock. */
  readonly lockSeconds?: number;
  readonly log?: Logger;
}

export interface RunningTrigger {
  /** Stops receiving and waits for the messages in hand. */
  stop(): Promise<void>;
  /** Resolves when the queue was seen empty with nothing in hand (tests). */
  idle(): Promise<void>;
}

/**
 * The local stand-in for the Service Bus trigger: receives from an Azurite queue and calls the
 * queue handler with the decoded job, with Service Bus semantics: returning completes (deletes),
 * throwing abandons (visible again at once), and too many deliveries dead-letter it.
 */
export function startStorageQueueTrigger(options: StorageQueueTriggerOptions): RunningTrigger {
  const concurrency = options.concurrency ?? 16;
  const maxDeliveryCount = options.maxDeliveryCount ?? 10;
  const lockSeconds = options.lockSeconds ?? 300;
  const log = options.log ?? console;
  const { queue, definition } = options;
  let running = true;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let wake: (() => void) | undefined;

  const handleOne = async (message: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number }): Promise<void> => {
    const body = decodeQueueBody(message.messageText);
    if (message.dequeueCount > maxDeliveryCount) {
      await options.deadLetters.deadLetter({ body, reason: 'max-delivery-count', description: `failed ${maxDeliveryCount} deliveries` });
      await queue.deleteMessage(message.messageId, message.popReceipt);
      return;
    }
    const context = invocationContext(definition.name, log, { messageId: message.messageId, deliveryCount: message.dequeueCount });
    let parsed: unknown = body;
    try {
      parsed = JSON.parse(body);
    } catch {
      // The Functions host hands a non-JSON body over as a string; so do we.
    }
    try {
      await definition.handler(parsed, context);
    } catch (error) {
      log.error(`[${definition.name}] failed, redelivering:`, error);
      await queue.updateMessage(message.messageId, message.popReceipt, undefined, 0).catch(() => undefined);
      return;
    }
    await queue.deleteMessage(message.messageId, message.popReceipt);
  };

  const loop = async (): Promise<void> => {
    let emptyPolls = 0;
    while (running) {
      const room = concurrency - inFlight;
      let received: Awaited<ReturnType<QueueClient['receiveMessages']>>['receivedMessageItems'] = [];
      if (room > 0) {
        try {
          received = (await queue.receiveMessages({ numberOfMessages: Math.min(32, room), visibilityTimeout: lockSeconds })).receivedMessageItems;
        } catch (error) {
          log.warn(`[${definition.name}] receive failed, retrying:`, error instanceof Error ? error.message : error);
        }
      }
      for (const message of received) {
        inFlight += 1;
        void handleOne(message)
          .catch((error: unknown) => log.error(`[${definition.name}] settling failed:`, error))
          .finally(() => {
            inFlight -= 1;
            wake?.();
          });
      }
      if (received.length === 0 && inFlight === 0) {
        for (const resolve of idleWaiters) resolve();
        idleWaiters = [];
      }
      emptyPolls = received.length === 0 ? emptyPolls + 1 : 0;
      // Poll fast while busy, back off to 1 s when idle; a finished message wakes the loop early.
      const delay = received.length > 0 && room > received.length ? 0 : Math.min(1000, 25 * 2 ** Math.min(emptyPolls, 6));
      if (delay > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
        });
      }
    }
  };
  const done = loop();

  return {
    async stop() {
      running = false;
      wake?.();
      await done;
      while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    idle: () => new Promise<void>((resolve) => idleWaiters.push(resolve)),
  };
}
