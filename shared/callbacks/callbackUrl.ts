import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { specialRange } from './addressRanges';

/** Loopback (and plain http to it) is for running locally: a receiver on this machine. */
export interface CallbackUrlOptions {
  readonly allowLoopback: boolean;
}

export type LookupAll = (host: string) => Promise<readonly { address: string; family: number }[]>;

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };
export type AddressCheck = { ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string };

export const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * The check at the edge, without DNS: what the URL says. A literal IP host is judged here already;
 * a name is judged by `resolveSafeAddress` each time a callback is sent, since what a name
 * resolves to can change between the request and the send.
 */
export function checkCallbackUrl(raw: string, options: CallbackUrlOptions): UrlCheck {
  if (raw.length > MAX_CALLBACK_URL_LENGTH) return refuse(`is longer than ${MAX_CALLBACK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('is not an absolute URL');
  }
  // Credentials would be sent with every event and shown wherever the URL is.
  if (url.username !== '' || url.password !== '') return refuse('must not contain a user name or password');
  // Any '#' starts a fragment; a fragment is never sent, so one only means the URL is not what was meant.
  if (raw.includes('#')) return refuse('must not have a fragment');
  const host = bareHost(url);
  const range = isIP(host) === 0 ? undefined : specialRange(host);
  const loopback = isIP(host) === 0 ? isLoopbackName(host) : range?.loopback === true;
  if (loopback && !options.allowLoopback) return refuse('must not be loopback (allowed only when running locally)');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return refuse(options.allowLoopback ? 'must be https (or http to loopback)' : 'must be https');
  }
  if (range !== undefined && !range.loopback) return refuse(`must not be ${range.name}`);
  return { ok: true, url };
}

/**
 * The address to connect to for `url`, checked: refused when ANY address the host resolves to is
 * not public. Checking them all matters, since the connection may use any of them. A literal IP
 * host is checked as it is, without DNS.
 *
 * Rejects when the host cannot be resolved: that is no refusal, the caller may try again later.
 */
export async function resolveSafeAddress(
  url: URL,
  options: CallbackUrlOptions & { readonly lookup?: LookupAll },
): Promise<AddressCheck> {
  const host = bareHost(url);
  const addresses = isIP(host) !== 0 ? [{ address: host, family: isIP(host) }] : await (options.lookup ?? systemLookup)(host);
  const first = addresses[0];
  if (first === undefined) throw new Error(`${host} resolves to no address`);
  for (const { address } of addresses) {
    const range = specialRange(address);
    if (range !== undefined && !(range.loopback && options.allowLoopback)) return refuse(`host ${host} resolves to ${address}, ${range.name}`);
    // Plain http only ever goes to this machine: a name that resolves elsewhere gets no cleartext event.
    if (url.protocol === 'http:' && range?.loopback !== true) return refuse(`is http but host ${host} resolves to ${address}, which is not loopback`);
  }
  return { ok: true, address: first.address, family: isIP(first.address) === 6 ? 6 : 4 };
}

const systemLookup: LookupAll = (host) => dnsLookup(host, { all: true });

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason: `callbackUrl ${reason}` };
}

/** The URL's host as an address or name: WHATWG keeps IPv6 literals in brackets. */
function bareHost(url: URL): string {
  const host = url.hostname.toLowerCase();
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `localhost` and its subdomains are loopback by definition (RFC 6761), whatever DNS says. */
function isLoopbackName(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name === 'localhost' || name.endsWith('.localhost');
}
