import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallbackEvent } from '../../shared/callbacks/callbackEvent';
import { SIGNATURE_HEADER, verifySignature } from '../../shared/callbacks/signature';

/** One POST as the receiver saw it, duplicates and bad signatures included. */
export interface CallbackDelivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly verified: boolean;
  /** What the receiver answered. */
  readonly status: number;
}

export interface CallbackReceiver {
  readonly url: string;
  /** Verified events, each id once, in arrival order: what a correct receiver keeps. */
  readonly events: readonly CallbackEvent[];
  readonly deliveries: readonly CallbackDelivery[];
  /** The next `n` correctly signed POSTs are answered with `status` and `headers` (e.g. Retry-After, Location), and not kept. */
  failNext(n: number, status?: number, headers?: Readonly<Record<string, string>>): void;
  close(): Promise<void>;
}

/**
 * A callback receiver on loopback that does what the README tells a real one to do: verify the
 * signature over the raw body, answer 401 to a bad one, and drop a redelivery by its event id.
 */
export async function startCallbackReceiver(options: { key: string }): Promise<CallbackReceiver> {
  const events: CallbackEvent[] = [];
  const seen = new Set<string>();
  const deliveries: CallbackDelivery[] = [];
  let failures: { left: number; status: number; headers: Readonly<Record<string, string>> } = { left: 0, status: 503, headers: {} };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers[SIGNATURE_HEADER.toLowerCase()];
      const verified = req.method === 'POST' && verifySignature(body, typeof header === 'string' ? header : undefined, options.key);
      let status = 200;
      let answerHeaders: Readonly<Record<string, string>> = {};
      if (!verified) status = 401;
      else if (failures.left > 0) {
        failures = { ...failures, left: failures.left - 1 };
        ({ status, headers: answerHeaders } = failures);
      } else {
        const event = JSON.parse(body) as CallbackEvent;
        if (!seen.has(event.id)) {
          seen.add(event.id);
          events.push(event);
        }
      }
      deliveries.push({ headers: req.headers, body, verified, status });
      res.writeHead(status, { 'content-type': 'text/plain', ...answerHeaders }).end(status === 200 ? 'ok' : 'not now');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/callbacks`,
    events,
    deliveries,
    failNext(n, status = 503, headers = {}) {
      failures = { left: n, status, headers };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
