/**
 * The local queue trigger's stop, on Azurite: after it, no message is received; handlers in hand
 * either finish (and their messages are completed) or their messages are visible again at once,
 * so the next start does not wait out a five-minute lock.
 */
import { QueueClient } from '@azure/storage-queue';
import type { InvocationContext } from '@azure/functions';
import type { QueueFunctionDefinition } from '../../functions/definitions';
import { startStorageQueueTrigger } from '../../local/storageQueueTrigger';
import { silentLogger } from '../../shared/logger';
import { StorageQueueJobQueue, encodeQueueBody } from '../../shared/queue/storageQueueJobQueue';
import { storageConnectionString, uniqueName } from '../support/azurite';
import { eventually } from '../support/pipeline';

describe('stopping the local queue trigger', () => {
  let queue: StorageQueueJobQueue;
  let deliveries: QueueClient;

  beforeEach(async () => {
    const name = uniqueName();
    queue = new StorageQueueJobQueue(storageConnectionString(), { deliveries: `${name}-jobs`, deadLetters: `${name}-dead` });
    await queue.ensureCreated();
    deliveries = queue.deliveries;
  });

  /** A queue function whose handler does what `behave` says with each message, and records what it saw. */
  function definition(behave: (body: { n: number }) => Promise<void>): QueueFunctionDefinition & { seen: number[] } {
    const seen: number[] = [];
    return {
      kind: 'queue',
      name: 'testJob',
      queueName: 'unused',
      connection: 'unused',
      seen,
      handler: async (message: unknown, _context: InvocationContext) => {
        const body = message as { n: number };
        seen.push(body.n);
        await behave(body);
      },
    };
  }

  async function send(count: number): Promise<void> {
    for (let n = 0; n < count; n += 1) await deliveries.sendMessage(encodeQueueBody({ n }));
  }

  async function visibleNow(): Promise<number> {
    return (await deliveries.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;
  }

  it('lets handlers in hand finish within the grace and completes their messages; receives nothing after', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const def = definition(() => gate);
    const trigger = startStorageQueueTrigger({ queue: deliveries, deadLetters: queue, definition: def, concurrency: 4, log: silentLogger });
    await send(4);
    await eventually(async () => (def.seen.length === 4 ? true : undefined), 10_000, 'four messages in hand');
    await send(2);

    const stopping = trigger.stop({ graceMs: 5_000, interrupt: () => setTimeout(release, 200) });
    const report = await stopping;
    expect(report).toEqual({ finished: 4, returned: 0 });
    expect(def.seen).toHaveLength(4);
    // The four were completed; the two sent later were never received and are still there.
    expect(await visibleNow()).toBe(2);
  });

  it('hands back at once what gave up when interrupted, and what ran past the grace', async () => {
    let interrupted = false;
    const def = definition(async ({ n }) => {
      if (n % 2 === 0) {
        // Gives up when asked, as a delivery waiting for a send slot does.
        await eventually(async () => (interrupted ? true : undefined), 10_000, 'the interrupt');
        throw new Error('stopping');
      }
      await new Promise(() => undefined); // stuck: never finishes
    });
    const trigger = startStorageQueueTrigger({ queue: deliveries, deadLetters: queue, definition: def, concurrency: 4, log: silentLogger });
    await send(4);
    await eventually(async () => (def.seen.length === 4 ? true : undefined), 10_000, 'four messages in hand');

    const began = Date.now();
    const report = await trigger.stop({ graceMs: 1_000, interrupt: () => (interrupted = true) });
    expect(Date.now() - began).toBeLessThan(3_000);
    expect(report).toEqual({ finished: 0, returned: 4 });
    // Visible again now, not after the trigger's five-minute lock.
    expect(await visibleNow()).toBe(4);
  });
});
