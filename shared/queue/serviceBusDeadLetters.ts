import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
// The SDK's own sequence-number type (its peek and receive-by-number take nothing else).
import Long from 'long';
import type { Page } from '../stores/page';
import { bodyText } from './faultRetry';
import { decodeToken, describeBody, encodeToken, InvalidContinuationToken, type DeadLetterEntry, type DeadLetterQuery, type DeadLetters } from './deadLetters';

/**
 * Where dead letters are in a namespace, by the name an id starts with:
 * - `parked`: the queue our code parks jobs in (`JobQueue.deadLetter`, reason and description as
 *   application properties);
 * - `native`: the delivery queue's own dead-letter subqueue, where Service Bus moves a message past
 *   its `maxDeliveryCount` (`DeadLetterReason`, `DeadLetterErrorDescription`);
 * - `parked-dlq`: the parking queue's subqueue, where parked letters go when they expire (14 days).
 */
export type DeadLetterSourceName = 'parked' | 'native' | 'parked-dlq';

interface Source {
  readonly name: DeadLetterSourceName;
  readonly queue: string;
  readonly subQueue: boolean;
}

const ID = /^(parked|native|parked-dlq)-(\d{1,19})$/;
/** Sequence numbers are signed 64-bit: Long.MAX_VALUE. */
const MAX_SEQUENCE = 9_223_372_036_854_775_807n;
/** Messages read per peek request. */
const PEEK_BATCH = 100;
/** A filtered page stops after reading this many letters, with a continuation, so one request stays short. */
const SCAN_BUDGET = 1_000;
/** Removing one letter passes over at most this many older ones (each abandon counts a delivery). */
const REMOVE_SCAN_LIMIT = 1_000;
const RECEIVE_BATCH = 50;
const RECEIVE_WAIT_MS = 1_000;

/**
 * The Service Bus dead letters. Listing peeks (no lock, nothing changes) from a sequence number,
 * so a page's continuation is just the source and the next sequence number. A letter's id is its
 * source and sequence number (`native-42`): stable while it is parked. Removing one receives it
 * with a lock and completes it; the letters received on the way are abandoned afterwards, which
 * Service Bus counts as a delivery (see `remove`).
 */
export class ServiceBusDeadLetters implements DeadLetters {
  private readonly sources: readonly Source[];
  private readonly peekers = new Map<DeadLetterSourceName, ServiceBusReceiver>();

  constructor(
    private readonly client: ServiceBusClient,
    names: { readonly queueName: string; readonly deadLetterQueueName: string },
  ) {
    this.sources = [
      { name: 'parked', queue: names.deadLetterQueueName, subQueue: false },
      { name: 'native', queue: names.queueName, subQueue: true },
      { name: 'parked-dlq', queue: names.deadLetterQueueName, subQueue: true },
    ];
  }

  async list(query: DeadLetterQuery): Promise<Page<DeadLetterEntry>> {
    let { source, from } = query.continuationToken === undefined ? { source: 0, from: Long.ZERO } : fromToken(query.continuationToken);
    const items: DeadLetterEntry[] = [];
    let scanned = 0;
    while (source < this.sources.length) {
      const at = this.sources[source] as Source;
      const batch = await this.peeker(at).peekMessages(query.notificationId === undefined ? Math.min(query.limit, PEEK_BATCH) : PEEK_BATCH, { fromSequenceNumber: from });
      if (batch.length === 0) {
        source += 1;
        from = Long.ZERO;
        continue;
      }
      for (const message of batch) {
        const sequence = sequenceOf(message);
        if (sequence.lessThan(from)) continue;
        from = sequence.add(1);
        scanned += 1;
        const entry = toEntry(at, message);
        if (query.notificationId === undefined || entry.notificationId === query.notificationId) items.push(entry);
        if (items.length >= query.limit || scanned >= SCAN_BUDGET) return { items, continuationToken: toToken(source, from) };
      }
    }
    return { items };
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    const where = this.parse(id);
    if (where === undefined) return undefined;
    const [message] = await this.peeker(where.source).peekMessages(1, { fromSequenceNumber: where.sequence });
    return message !== undefined && sequenceOf(message).equals(where.sequence) ? toEntry(where.source, message) : undefined;
  }

  /**
   * Service Bus deletes a message only by settling it, and there is no receive by sequence number
   * for a message that was not deferred: so this receives in peek-lock, no further than the letter
   * (its place is peeked first), completes it and abandons the older ones received on the way (at
   * the end, not at once, or they would come straight back). Each
   * abandon counts a delivery: on the parking queue (maxDeliveryCount 10), a letter passed over by
   * ten removals moves to its subqueue, where it is listed as `parked-dlq-...`.
   */
  async remove(id: string): Promise<boolean> {
    const where = this.parse(id);
    if (where === undefined) return false;
    // Receive no further than the letter: only those before it are passed over (and counted).
    const ahead = await this.countBefore(where.source, where.sequence);
    if (ahead === undefined) return false;
    const receiver = this.receiverFor(where.source);
    const passed: ServiceBusReceivedMessage[] = [];
    try {
      while (passed.length <= ahead) {
        const batch = await receiver.receiveMessages(Math.min(RECEIVE_BATCH, ahead - passed.length + 1), { maxWaitTimeInMs: RECEIVE_WAIT_MS });
        if (batch.length === 0) return false;
        let found = false;
        for (const message of batch) {
          if (!found && sequenceOf(message).equals(where.sequence)) {
            await receiver.completeMessage(message);
            found = true;
          } else {
            passed.push(message);
          }
        }
        if (found) return true;
      }
      return false;
    } finally {
      await Promise.allSettled(passed.map((message) => receiver.abandonMessage(message)));
      await receiver.close();
    }
  }

  async close(): Promise<void> {
    const peekers = [...this.peekers.values()];
    this.peekers.clear();
    await Promise.allSettled(peekers.map((receiver) => receiver.close()));
  }

  /** How many letters come before this one (peeked, nothing locked); undefined when it is not there or too deep. */
  private async countBefore(source: Source, sequence: Long): Promise<number | undefined> {
    let from = Long.ZERO;
    let count = 0;
    while (count <= REMOVE_SCAN_LIMIT) {
      const batch = await this.peeker(source).peekMessages(PEEK_BATCH, { fromSequenceNumber: from });
      if (batch.length === 0) return undefined;
      for (const message of batch) {
        const at = sequenceOf(message);
        if (at.equals(sequence)) return count;
        if (at.greaterThan(sequence)) return undefined;
        count += 1;
        from = at.add(1);
      }
    }
    return undefined;
  }

  private parse(id: string): { source: Source; sequence: Long } | undefined {
    const match = ID.exec(id);
    const source = this.sources.find((s) => s.name === match?.[1]);
    const sequence = sequenceFrom(match?.[2]);
    if (match === null || source === undefined || sequence === undefined) return undefined;
    return { source, sequence };
  }

  /** Peeking needs a receiver (its management link), but never locks anything: one per source, kept. */
  private peeker(source: Source): ServiceBusReceiver {
    let receiver = this.peekers.get(source.name);
    if (receiver === undefined) {
      receiver = this.receiverFor(source);
      this.peekers.set(source.name, receiver);
    }
    return receiver;
  }

  private receiverFor(source: Source): ServiceBusReceiver {
    return this.client.createReceiver(source.queue, {
      receiveMode: 'peekLock',
      skipParsingBodyAsJson: true,
      ...(source.subQueue && { subQueueType: 'deadLetter' as const }),
    });
  }
}

function sequenceOf(message: ServiceBusReceivedMessage): Long {
  return message.sequenceNumber ?? Long.ZERO;
}

function toToken(source: number, from: Long): string {
  return encodeToken({ s: source, f: from.toString() });
}

function fromToken(token: string): { source: number; from: Long } {
  const value = decodeToken(token) as { s?: unknown; f?: unknown } | undefined;
  const from = typeof value?.f === 'string' ? sequenceFrom(value.f) : undefined;
  if (typeof value?.s !== 'number' || !Number.isInteger(value.s) || value.s < 0 || value.s > 2 || from === undefined) throw new InvalidContinuationToken();
  return { source: value.s, from };
}

/**
 * A sequence number as text: digits up to Long.MAX_VALUE (19 digits reach past it, and
 * `Long.fromString` wraps those round to negatives). Undefined for anything else.
 */
function sequenceFrom(text: string | undefined): Long | undefined {
  if (text === undefined || !/^\d{1,19}$/.test(text) || BigInt(text) > MAX_SEQUENCE) return undefined;
  return Long.fromString(text);
}

function toEntry(source: Source, message: ServiceBusReceivedMessage): DeadLetterEntry {
  const properties = message.applicationProperties ?? {};
  const body = bodyText(message.body);
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const enqueued = message.enqueuedTimeUtc?.toISOString() ?? new Date(0).toISOString();
  const parkedByUs = source.name !== 'native';
  return {
    id: `${source.name}-${sequenceOf(message).toString()}`,
    reason: (parkedByUs ? text(properties.reason) : undefined) ?? message.deadLetterReason ?? 'unknown',
    description: (parkedByUs ? text(properties.description) : undefined) ?? message.deadLetterErrorDescription ?? '',
    deadLetteredAt: (parkedByUs ? text(properties.deadLetteredAt) : undefined) ?? enqueued,
    ...describeBody(body),
    body,
  };
}
