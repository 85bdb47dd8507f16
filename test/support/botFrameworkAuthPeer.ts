import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The issuer of every token the Bot Framework channels (Teams among them) send a bot. */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';

/**
 * A loopback stand-in for login.botframework.com: the OpenID metadata document and the signing
 * keys (endorsed for `msteams`) botbuilder checks channel tokens against, and a signer for tokens
 * as Teams would send them. Point botbuilder at it with its `BotOpenIdMetadata` setting. It counts
 * the requests it serves, so a test can tell a token refused before any key was fetched.
 */
export interface BotFrameworkAuthPeer {
  /** The value for `BotOpenIdMetadata`. */
  readonly metadataUrl: string;
  /** Requests served (metadata and keys). */
  readonly requests: number;
  /** A channel token signed with the peer's published key; claims override the defaults. */
  token(claims: TokenClaims, options?: { readonly signer?: 'peer' | 'forged'; readonly kid?: string }): string;
  close(): Promise<void>;
}

export interface TokenClaims {
  /** The bot's app id: botbuilder's audience check. */
  readonly aud: string;
  /** Must equal the activity's serviceUrl. */
  readonly serviceurl: string;
  readonly iss?: string;
  /** Seconds since the epoch; default an hour from now. */
  readonly exp?: number;
  readonly nbf?: number;
  /** Entra-issued (emulator, skill) tokens carry these too. */
  readonly tid?: string;
  readonly ver?: string;
  readonly appid?: string;
}

/** `unavailable`: every request answers 503, as login.botframework.com in an outage. */
export async function startBotFrameworkAuthPeer(options: { readonly unavailable?: boolean } = {}): Promise<BotFrameworkAuthPeer> {
  const published = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // Same shape, same key id, not the key the metadata publishes: what a forger can make.
  const forged = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `peer-${randomUUID()}`;
  const jwk = published.publicKey.export({ format: 'jwk' });
  let requests = 0;
  let base = '';

  const server: Server = createServer((request, response) => {
    requests += 1;
    const send = (body: unknown) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (options.unavailable === true) {
      response.writeHead(503).end();
    } else if (request.url === '/v1/.well-known/openidconfiguration') {
      send({ issuer: BOT_FRAMEWORK_ISSUER, jwks_uri: `${base}/v1/.well-known/keys`, id_token_signing_alg_values_supported: ['RS256'] });
    } else if (request.url === '/v1/.well-known/keys') {
      send({ keys: [{ kty: 'RSA', use: 'sig', kid, n: jwk.n, e: jwk.e, endorsements: ['msteams'] }] });
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    metadataUrl: `${base}/v1/.well-known/openidconfiguration`,
    get requests() {
      return requests;
    },
    token(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload = { iss: BOT_FRAMEWORK_ISSUER, nbf: now - 60, exp: now + 3600, ...claims };
      return sign({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? kid }, payload, options.signer === 'forged' ? forged.privateKey : published.privateKey);
    },
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

/** A JWT (RS256) from its header and payload. */
export function sign(header: object, payload: object, key: KeyObject): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}
