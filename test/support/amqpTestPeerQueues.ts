import { randomBytes } from 'node:crypto';
import { message as amqpMessage, types, type Delivery, type EventContext, type Message, type Sender } from 'rhea';

/**
 * The consumer side of the AMQP test peer: queues that keep what was sent to them and hand it out
 * as Service Bus does, so the real @azure/service-bus receiver can be tested without Azure.
 *
 * Modelled on Service Bus' documented behaviour:
 * - every message gets a sequence number, unique and increasing per queue, and its enqueued time,
 *   as the `x-opt-sequence-number` / `x-opt-enqueued-time` annotations; a dead-lettered message
 *   keeps both in the subqueue;
 * - `com.microsoft:peek-message` on `<entity>/$management` returns up to `message-count` messages
 *   from `from-sequence-number` on, locked ones included, without locking or counting anything;
 *   status 204 when there are none;
 * - a receiver link on `<queue>` or `<queue>/$deadletterqueue` gets messages in sequence order
 *   as it gives credit; in peek-lock each is locked (the delivery tag is its lock token) until
 *   settled: `accepted` completes (deletes) it, `modified` abandons it (unlocked, delivery count
 *   + 1), `rejected` with `com.microsoft:dead-letter` moves it to the subqueue; a message abandoned
 *   `maxDeliveryCount` times moves to the subqueue with `DeadLetterReason` MaxDeliveryCountExceeded.
 *   A link closed with messages still locked gives them back as abandoned (a lock that lapses
 *   counts a delivery). In receive-and-delete, a message is deleted as it is sent;
 * - a drain (flow with `drain`) is answered at once by giving up the credit left, as the SDK waits for.
 * - entity names are case-insensitive (the SDK writes `<queue>/$DeadLetterQueue`).
 * Not modelled: sessions, deferral, lock renewal and expiry by time, scheduled messages
 * becoming active (the peer records those apart), partitions.
 */

/** rhea keeps the drain flag of the last flow privately. */
function isDraining(link: Sender): boolean {
  return (link as unknown as { _draining?: boolean })._draining === true;
}

const DEAD_LETTER_SUFFIX = '/$deadletterqueue';

/** Service Bus entity paths are case-insensitive: one key per entity. */
function entityKey(address: string): string {
  return address.toLowerCase();
}
const DEAD_LETTER_CONDITION = 'com.microsoft:dead-letter';
const LOCK_MS = 60_000;

export interface StoredMessage {
  readonly sequenceNumber: number;
  readonly enqueuedAt: Date;
  /** The message as it arrived (its properties, application properties and body). */
  readonly message: Message;
  deliveryCount: number;
  locked: boolean;
}

export interface PeerQueuesOptions {
  /** Service Bus' per-queue `maxDeliveryCount` (default 10). */
  readonly maxDeliveryCount?: number;
}

export class PeerQueues {
  private readonly entities = new Map<string, StoredMessage[]>();
  private readonly sequences = new Map<string, number>();
  private readonly consumers = new Set<Sender>();
  private readonly inFlight = new Map<Delivery, { entity: string; stored: StoredMessage; link: Sender }>();
  private readonly maxDeliveryCount: number;
  /** Settlements the peer could not make sense of (a test should expect none). */
  readonly errors: string[] = [];

  constructor(options: PeerQueuesOptions = {}) {
    this.maxDeliveryCount = options.maxDeliveryCount ?? 10;
  }

  /** What an entity holds now, in sequence order (`delivery-jobs`, `delivery-jobs/$deadletterqueue`). */
  messages(entity: string): readonly StoredMessage[] {
    return this.entities.get(entityKey(entity)) ?? [];
  }

  /** A message sent to an entity (a sender link's transfer, or one message of a batch). */
  append(address: string, message: Message): StoredMessage {
    const entity = entityKey(address);
    const sequenceNumber = (this.sequences.get(entity) ?? 0) + 1;
    this.sequences.set(entity, sequenceNumber);
    const stored: StoredMessage = { sequenceNumber, enqueuedAt: new Date(), message, deliveryCount: 0, locked: false };
    const list = this.entities.get(entity) ?? [];
    list.push(stored);
    this.entities.set(entity, list);
    this.pump();
    return stored;
  }

  /**
   * What Service Bus does on its own: moves a message to the queue's dead-letter subqueue with a
   * reason (as for MaxDeliveryCountExceeded or TTLExpiredException). Returns the new sequence number.
   */
  deadLetter(queue: string, sequenceNumber: number, reason: string, description: string): number {
    const list = this.entities.get(entityKey(queue)) ?? [];
    const index = list.findIndex((m) => m.sequenceNumber === sequenceNumber);
    const stored = list[index];
    if (stored === undefined) throw new Error(`test peer: no message ${sequenceNumber} in ${queue}`);
    list.splice(index, 1);
    return this.moveToSubqueue(queue, stored, reason, description).sequenceNumber;
  }

  /** A receiver link the client opened (the peer's sender): messages go out as it gives credit. */
  isConsumerAddress(address: string | undefined): boolean {
    return address !== undefined && address !== '' && address !== '$cbs' && !address.endsWith('/$management');
  }

  attach(link: Sender): void {
    this.consumers.add(link);
  }

  /**
   * Sends what the links' credit allows. rhea counts a link's credit down only when it writes the
   * transfer (later in the tick), so this sends one message per link and comes back for the next.
   */
  pump(): void {
    let sent = false;
    for (const link of this.consumers) {
      if (!link.is_open() || !link.sendable() || isDraining(link)) continue;
      const entity = entityKey((link.source as { address?: string } | undefined)?.address ?? '');
      // The client asks for receive-and-delete as a sender settle mode of `settled` on its attach.
      const presettled = (link as unknown as { remote?: { attach?: { snd_settle_mode?: number } } }).remote?.attach?.snd_settle_mode === 1;
      const stored = (this.entities.get(entity) ?? []).find((m) => !m.locked);
      if (stored === undefined) continue;
      const delivery = link.send(this.encode(stored, !presettled), presettled ? undefined : randomBytes(16));
      sent = true;
      if (presettled) this.remove(entity, stored);
      else {
        stored.locked = true;
        this.inFlight.set(delivery, { entity, stored, link });
      }
    }
    if (sent) setImmediate(() => this.pump());
  }

  /** The client asked to drain: send what can go, then give up the rest of the credit. */
  drain(link: Sender): void {
    // The rest of the credit is given up at once and nothing more is sent on it: rhea echoes the
    // drain only while credit is left, and the SDK closes a link whose drain is not echoed.
    link.set_drained(true);
  }

  /** Outcome of a peek-lock delivery, as the client's disposition says. */
  settle(context: EventContext, outcome: 'accepted' | 'modified' | 'rejected'): void {
    const delivery = context.delivery;
    const held = delivery === undefined ? undefined : this.inFlight.get(delivery);
    if (delivery === undefined || held === undefined) {
      // Replies on the $cbs and $management links are accepted by the SDK too: not ours.
      if (context.sender !== undefined && this.consumers.has(context.sender)) this.errors.push(`settlement (${outcome}) of a delivery the peer did not send`);
      return;
    }
    this.inFlight.delete(delivery);
    const { entity, stored } = held;
    if (outcome === 'accepted') {
      this.remove(entity, stored);
    } else if (outcome === 'modified') {
      const state = delivery.remote_state as { undeliverable_here?: boolean } | undefined;
      if (state?.undeliverable_here === true) this.errors.push('deferral is not modelled by the test peer');
      this.abandon(entity, stored);
    } else {
      const state = delivery.remote_state as { error?: { condition?: string; info?: Record<string, unknown> } } | undefined;
      if (state?.error?.condition !== DEAD_LETTER_CONDITION) this.errors.push(`rejected with ${String(state?.error?.condition)}`);
      this.remove(entity, stored);
      const info = state?.error?.info ?? {};
      this.moveToSubqueue(entity, stored, String(info.DeadLetterReason ?? ''), String(info.DeadLetterErrorDescription ?? ''));
    }
    // Settled on our side too: the SDK's settle call resolves only once the peer has settled.
    // (The outcome is echoed in its described form, as rhea writes outcomes.)
    const state = delivery.remote_state as { described?: () => unknown } | undefined;
    delivery.update(true, state?.described?.());
    this.pump();
  }

  /** The client closed a receiver link: what it still held is abandoned, as when its locks lapse. */
  detach(link: Sender): void {
    this.consumers.delete(link);
    for (const [delivery, held] of this.inFlight) {
      if (held.link !== link) continue;
      this.inFlight.delete(delivery);
      this.abandon(held.entity, held.stored);
    }
    this.pump();
  }

  /** `com.microsoft:peek-message`: the reply's status and body. */
  peek(address: string, request: Message): { statusCode: number; body?: unknown } {
    const entity = entityKey(address);
    const body = (request.body ?? {}) as { 'from-sequence-number'?: unknown; 'message-count'?: unknown };
    const from = Number(body['from-sequence-number'] ?? 1);
    const count = Number(body['message-count'] ?? 1);
    const found = (this.entities.get(entity) ?? []).filter((m) => m.sequenceNumber >= from).slice(0, count);
    if (found.length === 0) return { statusCode: 204 };
    return { statusCode: 200, body: { messages: found.map((m) => ({ message: amqpMessage.encode(this.encode(m, false)) })) } };
  }

  private abandon(entity: string, stored: StoredMessage): void {
    stored.locked = false;
    stored.deliveryCount += 1;
    if (!entity.endsWith(DEAD_LETTER_SUFFIX) && stored.deliveryCount >= this.maxDeliveryCount) {
      this.remove(entity, stored);
      this.moveToSubqueue(entity, stored, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${this.maxDeliveryCount} delivery attempts.`);
    }
  }

  private remove(entity: string, stored: StoredMessage): void {
    const list = this.entities.get(entity) ?? [];
    const index = list.indexOf(stored);
    if (index >= 0) list.splice(index, 1);
  }

  /** A dead-lettered message keeps its sequence number (the subqueue is part of its queue) and its delivery count. */
  private moveToSubqueue(queue: string, stored: StoredMessage, reason: string, description: string): StoredMessage {
    const message: Message = {
      ...stored.message,
      application_properties: { ...(stored.message.application_properties ?? {}), DeadLetterReason: reason, DeadLetterErrorDescription: description },
    };
    const entity = entityKey(`${queue}${DEAD_LETTER_SUFFIX}`);
    const moved: StoredMessage = { ...stored, message, locked: false };
    const list = this.entities.get(entity) ?? [];
    list.push(moved);
    list.sort((a, b) => a.sequenceNumber - b.sequenceNumber);
    this.entities.set(entity, list);
    this.pump();
    return moved;
  }

  private encode(stored: StoredMessage, locked: boolean): Message {
    return {
      ...stored.message,
      delivery_count: stored.deliveryCount,
      message_annotations: {
        ...(stored.message.message_annotations ?? {}),
        'x-opt-sequence-number': types.wrap_long(stored.sequenceNumber),
        'x-opt-enqueued-time': stored.enqueuedAt,
        ...(locked && { 'x-opt-locked-until': new Date(Date.now() + LOCK_MS) }),
      },
    };
  }
}
