import type { Server, Socket } from 'node:net';
import { create_container, message as amqpMessage, types, type Connection, type EventContext, type Message, type Sender } from 'rhea';
import { PeerQueues } from './amqpTestPeerQueues';

/**
 * A small AMQP 1.0 peer that plays the parts of a Service Bus namespace that the producer side
 * of @azure/service-bus uses: the `$cbs` token exchange, sender links to a queue (single and
 * batched transfers) and the `<queue>/$management` schedule-message request. It records what
 * arrived so a test can assert on the wire result of the real SDK, without Azure and without
 * mocking the SDK. What is sent to a queue is also kept in `queues` (see amqpTestPeerQueues.ts),
 * which serves receivers, peeks and dead-letter subqueues as Service Bus does.
 */

/** Message format Service Bus uses for a batch: one transfer whose data sections are encoded messages. */
const BATCH_MESSAGE_FORMAT = 0x80013700;
const DATA_SECTION = 0x75;
const SCHEDULED_TIME_ANNOTATION = 'x-opt-scheduled-enqueue-time';
const DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024;

export interface ReceivedMessage {
  /** Queue (link target address) the message was sent to. */
  readonly address: string;
  readonly messageId: unknown;
  readonly contentType: string | undefined;
  readonly subject: string | undefined;
  readonly applicationProperties: Readonly<Record<string, unknown>>;
  /** The data section as UTF-8 text (undefined for value/sequence bodies). */
  readonly bodyText: string | undefined;
  /** The body as JSON when the text parses, otherwise the text or the raw AMQP value. */
  readonly body: unknown;
  /** True when the message came out of a batched (0x80013700) transfer. */
  readonly batched: boolean;
  /** Which transfer (counted from 1 per peer) carried it: messages of one batch share it. */
  readonly transfer: number;
}

export interface ScheduledMessage extends ReceivedMessage {
  readonly scheduledEnqueueTime: Date;
}

export interface AmqpTestPeer {
  readonly port: number;
  readonly connectionString: string;
  readonly received: ReceivedMessage[];
  readonly scheduled: ScheduledMessage[];
  /** Every `$cbs` put-token audience seen, to show the SDK authorised before attaching. */
  readonly tokenAudiences: string[];
  /** Transfers the peer rejected, and why (a test should expect none). */
  readonly errors: string[];
  /** The queues as receivers see them: sequence numbers, locks, dead-letter subqueues. */
  readonly queues: PeerQueues;
  close(): Promise<void>;
}

export interface AmqpTestPeerOptions {
  /** Advertised on every link the peer receives on; createMessageBatch sizes batches by it. */
  readonly maxMessageSize?: number;
  /** Service Bus' `maxDeliveryCount` of every queue (default 10). */
  readonly maxDeliveryCount?: number;
}

/** A rhea data section as decoded (rhea's typings leave bodies as `any`). */
interface DataSection {
  readonly typecode: number;
  readonly content: Buffer | Buffer[];
  readonly multiple?: boolean;
}

function isDataSection(body: unknown): body is DataSection {
  return typeof body === 'object' && body !== null && (body as { typecode?: unknown }).typecode === DATA_SECTION;
}

function toRecord(address: string, msg: Message, batched: boolean, transfer: number): ReceivedMessage {
  const raw: unknown = msg.body;
  let bodyText: string | undefined;
  let body: unknown = raw;
  if (isDataSection(raw)) {
    const content = Array.isArray(raw.content) ? Buffer.concat(raw.content) : raw.content;
    bodyText = content.toString('utf8');
    try {
      body = JSON.parse(bodyText);
    } catch {
      body = bodyText;
    }
  }
  return {
    address,
    messageId: msg.message_id,
    contentType: msg.content_type,
    subject: msg.subject,
    applicationProperties: { ...(msg.application_properties ?? {}) },
    bodyText,
    body,
    batched,
    transfer,
  };
}

/** rhea.message.decode returns the same object a receiver gets; its typings name a looser interface. */
function decode(encoded: Buffer): Message {
  return amqpMessage.decode(encoded) as unknown as Message;
}

/** The encoded messages inside a batch transfer: one data section each. */
function batchParts(msg: Message): Buffer[] {
  const raw: unknown = msg.body;
  if (!isDataSection(raw)) throw new Error('batch transfer without data sections');
  return Array.isArray(raw.content) && raw.multiple === true ? raw.content : [raw.content as Buffer];
}

export async function startAmqpTestPeer(options: AmqpTestPeerOptions = {}): Promise<AmqpTestPeer> {
  const received: ReceivedMessage[] = [];
  const scheduled: ScheduledMessage[] = [];
  const tokenAudiences: string[] = [];
  const errors: string[] = [];
  let nextSequenceNumber = 1;
  let transfers = 0;
  const queues = new PeerQueues({ ...(options.maxDeliveryCount !== undefined && { maxDeliveryCount: options.maxDeliveryCount }) });

  const container = create_container({
    id: 'amqp-test-peer',
    // Applies to links the client opens towards us; without max_message_size the SDK's batch
    // believes nothing fits (it reads the remote attach's max_message_size as the limit).
    receiver_options: { max_message_size: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE, autoaccept: false },
    // Senders towards the SDK's receivers: an abandon (modified) is told apart from a release.
    sender_options: { treat_modified_as_released: false },
  });
  // The SDK's emulator mode offers SASL ANONYMOUS only.
  container.sasl_server_mechanisms.enable_anonymous();

  // Reply links by the names the SDK puts in `reply_to`: the CBS receiver is identified by its
  // link name, the management receiver by its target address; both are recorded.
  const replyLinks = new WeakMap<Connection, Map<string, Sender>>();
  const connections = new Set<Connection>();

  container.on('connection_open', (context: EventContext) => {
    connections.add(context.connection);
    replyLinks.set(context.connection, new Map());
  });
  container.on('disconnected', (context: EventContext) => {
    connections.delete(context.connection);
  });
  container.on('connection_close', (context: EventContext) => {
    connections.delete(context.connection);
  });

  container.on('sender_open', (context: EventContext) => {
    const sender = context.sender;
    if (!sender) return;
    // Mirror the terminus so the client sees a real (non-refused) attach.
    sender.set_source(sender.source);
    sender.set_target(sender.target);
    const links = replyLinks.get(context.connection);
    links?.set(sender.name, sender);
    const target = sender.target as { address?: string } | undefined;
    if (target?.address) links?.set(target.address, sender);
    if (queues.isConsumerAddress((sender.source as { address?: string } | undefined)?.address)) queues.attach(sender);
  });
  container.on('sendable', () => queues.pump());
  container.on('sender_draining', (context: EventContext) => {
    if (context.sender) queues.drain(context.sender);
  });
  container.on('accepted', (context: EventContext) => queues.settle(context, 'accepted'));
  container.on('modified', (context: EventContext) => queues.settle(context, 'modified'));
  container.on('rejected', (context: EventContext) => queues.settle(context, 'rejected'));
  container.on('sender_close', (context: EventContext) => {
    if (context.sender) queues.detach(context.sender);
  });

  container.on('receiver_open', (context: EventContext) => {
    const receiver = context.receiver;
    if (!receiver) return;
    receiver.set_source(receiver.source);
    receiver.set_target(receiver.target);
  });

  function reply(context: EventContext, request: Message, applicationProperties: Record<string, unknown>, body?: unknown): void {
    const replyTo = request.reply_to as string | undefined;
    const sender = replyTo === undefined ? undefined : replyLinks.get(context.connection)?.get(replyTo);
    if (!sender) throw new Error(`test peer: no reply link for reply_to ${String(replyTo)}`);
    sender.send({ correlation_id: request.message_id, application_properties: applicationProperties, body });
  }

  function onManagement(context: EventContext, queue: string, request: Message): void {
    const operation: unknown = request.application_properties?.operation;
    if (operation === 'com.microsoft:peek-message') {
      const { statusCode, body } = queues.peek(queue, request);
      reply(context, request, { statusCode }, body);
      return;
    }
    if (operation !== 'com.microsoft:schedule-message') {
      reply(context, request, { statusCode: 501, statusDescription: `test peer does not implement ${String(operation)}` });
      return;
    }
    // Body: { messages: [{ message: <encoded message>, 'message-id': string }, ...] }.
    const entries = (request.body as { messages?: Array<{ message: Buffer }> }).messages ?? [];
    const sequenceNumbers: number[] = [];
    for (const entry of entries) {
      const inner = decode(entry.message);
      const when: unknown = inner.message_annotations?.[SCHEDULED_TIME_ANNOTATION];
      if (!(when instanceof Date)) throw new Error(`scheduled message without ${SCHEDULED_TIME_ANNOTATION}`);
      scheduled.push({ ...toRecord(queue, inner, false, transfers), scheduledEnqueueTime: when });
      sequenceNumbers.push(nextSequenceNumber++);
    }
    // Service Bus answers an AMQP array of longs; the SDK turns each into a Long.
    reply(context, request, { statusCode: 200 }, { 'sequence-numbers': types.wrap_array(sequenceNumbers, 0x81, undefined) });
  }

  function onTransfer(context: EventContext): void {
    transfers++;
    const address = (context.receiver?.target as { address?: string } | undefined)?.address ?? '';
    // rhea decodes only format-0 transfers; for any other format `message` is the raw payload.
    const payload: unknown = context.message;
    if (context.delivery?.format === BATCH_MESSAGE_FORMAT) {
      if (!Buffer.isBuffer(payload)) throw new Error('batch transfer without a payload');
      for (const part of batchParts(decode(payload))) {
        const inner = decode(part);
        received.push(toRecord(address, inner, true, transfers));
        queues.append(address, inner);
      }
      return;
    }
    const msg = context.message;
    if (!msg) return;
    if (address === '$cbs') {
      tokenAudiences.push(String(msg.application_properties?.name));
      reply(context, msg, { 'status-code': 202, 'status-description': 'Accepted' });
    } else if (address.endsWith('/$management')) {
      onManagement(context, address.slice(0, -'/$management'.length), msg);
    } else {
      received.push(toRecord(address, msg, false, transfers));
      queues.append(address, msg);
    }
  }

  // Settled by hand (autoaccept is off) so that a transfer the peer cannot make sense of is
  // rejected back to the SDK, and the test fails loudly, instead of being silently accepted.
  container.on('message', (context: EventContext) => {
    try {
      onTransfer(context);
      context.delivery?.accept();
    } catch (error) {
      const description = error instanceof Error ? error.message : String(error);
      errors.push(description);
      context.delivery?.reject({ condition: 'amqp:internal-error', description });
    }
  });

  const sockets = new Set<Socket>();
  const server: Server = container.listen({ port: 0, host: '127.0.0.1' });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('test peer: no TCP address');
  const port = address.port;

  return {
    port,
    connectionString: `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true`,
    received,
    scheduled,
    tokenAudiences,
    errors,
    queues,
    async close(): Promise<void> {
      // Say goodbye politely, then cut whatever is left so jest has no open handles.
      for (const connection of connections) connection.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
