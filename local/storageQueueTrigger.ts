import type { QueueClient } from '@azure/storage-queue';
import type { QueueFunctionDefinition } from '../functions/definitions';
import type { Logger } from '../shared/logger';
import type { JobQueue } from '../shared/queue/jobQueue';
import { decodeQueueBody } from '../shared/queue/storageQueueJobQueue';
import { processLogger } from '../shared/telemetry/functionLogger';
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

export interface StopOptions {
  /** How long handlers in hand may take to finish before their messages are handed back (default 5 s). */
  readonly graceMs?: number;
  /** Called once receiving has stopped: asks the handlers in hand to give up what they have not started. */
  readonly interrupt?: () => void;
}

/** What a stop did with the messages in hand. */
export interface StopReport {
  /** Handled to the end (completed, or settled and re-scheduled by the handler itself). */
  readonly finished: number;
  /** Made visible again at once, for the next receiver: handlers that gave up, or ran past the grace. */
  readonly returned: number;
}

export interface RunningTrigger {
  /** Stops receiving, lets the messages in hand finish within the grace, and hands back the rest. */
  stop(options?: StopOptions): Promise<StopReport>;
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
  const log = options.log ?? processLogger;
  const { queue, definition } = options;
  let running = true;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  let wake: (() => void) | undefined;

  /** Messages in hand, by message id, with the receipt that lets us hand one back. */
  const inHand = new Map<string, { popReceipt: string }>();
  let finished = 0;
  let returned = 0;

  const abandon = async (message: { messageId: string; popReceipt: string }): Promise<void> => {
    await queue.updateMessage(message.messageId, message.popReceipt, undefined, 0).catch(() => undefined);
  };

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
      // While stopping, a throw is the handler giving the job back unsent: no alarm, just hand it back.
      if (!running) returned += 1;
      else log.error('failed, redelivering', { functionName: definition.name, error });
      await abandon(message);
      return;
    }
    if (!inHand.has(message.messageId)) return; // handed back at the end of the grace: not ours to complete
    await queue.deleteMessage(message.messageId, message.popReceipt);
    if (!running) finished += 1;
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
          log.warn('receive failed, retrying', { functionName: definition.name, error });
        }
      }
      for (const message of received) {
        inFlight += 1;
        inHand.set(message.messageId, { popReceipt: message.popReceipt });
        void handleOne(message)
          .catch((error: unknown) => log.error('settling failed', { functionName: definition.name, error }))
          .finally(() => {
            inHand.delete(message.messageId);
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
      // With jobs in hand (slices waiting for their times) it looks at least every 250 ms, so that
      // an urgent job queued behind them is picked up soon (Service Bus pushes; this polls).
      const cap = inFlight > 0 ? 250 : 1000;
      const delay = received.length > 0 && room > received.length ? 0 : Math.min(cap, 25 * 2 ** Math.min(emptyPolls, 6));
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
    async stop(stopOptions: StopOptions = {}): Promise<StopReport> {
      running = false;
      wake?.();
      await done;
      stopOptions.interrupt?.();
      const deadline = Date.now() + (stopOptions.graceMs ?? 5_000);
      while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // Past the grace: hand back what is still in hand, so the next start need not wait out the lock.
      // A handler still running may be mid-send: that is the documented crash window.
      const late = [...inHand.entries()];
      inHand.clear();
      await Promise.all(late.map(([messageId, { popReceipt }]) => abandon({ messageId, popReceipt })));
      return { finished, returned: returned + late.length };
    },
    idle: () => new Promise<void>((resolve) => idleWaiters.push(resolve)),
  };
}
