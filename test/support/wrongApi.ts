import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WrongApi {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A loopback stand-in that answers documented paths the way the document forbids: a health body
 * without `dependencies`, a 202 without `Location` whose id is a number, a 404 that is not
 * problem+json. A validator that lets these through checks nothing.
 */
export async function startWrongApi(): Promise<WrongApi> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'GET' && path === '/api/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'fine' }));
      } else if (req.method === 'POST' && path === '/api/notifications') {
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 42, status: 'accepted', statusUrl: '/api/notifications/42' }));
      } else {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not here</h1>');
      }
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}
