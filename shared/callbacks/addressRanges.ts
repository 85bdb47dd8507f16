import { BlockList, isIP } from 'node:net';

/**
 * The addresses a callback must never reach: anything that is not the public internet. In Azure a
 * callback to one of them would let a caller probe (or post to) the function's own network, its
 * metadata endpoint or the host's wireserver, so the whole range is refused, not just the famous
 * addresses (SSRF).
 */
export interface SpecialRange {
  /** Why the address is refused, e.g. `private 10.0.0.0/8`. */
  readonly name: string;
  /** True for this machine itself: allowed only when running locally. */
  readonly loopback: boolean;
}

type Rule = readonly [cidr: string, name: string];

// The first rule that matches names the range, so the specific addresses come before their ranges.
const V4_RULES: readonly Rule[] = [
  ['127.0.0.0/8', 'loopback'],
  ['0.0.0.0/8', '"this network" (0.0.0.0 is unspecified)'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared (CGNAT)'],
  ['169.254.169.254/32', 'the instance metadata endpoint'],
  ['169.254.0.0/16', 'link-local'],
  ['168.63.129.16/32', "Azure's wireserver"],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
];

const V6_RULES: readonly Rule[] = [
  ['::1/128', 'loopback'],
  ['::/128', 'unspecified'],
  ['fc00::/7', 'unique local (private)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'discard-only'],
  ['2001:db8::/32', 'documentation'],
];

/**
 * IPv6 forms that carry an IPv4 address in known 16-bit groups. A connection to one reaches (or
 * is translated to) that IPv4 address, so it is judged as that address: `::ffff:10.0.0.1` and
 * `::ffff:a00:1` are both 10.0.0.1.
 */
const EMBEDDED_V4: readonly { readonly form: string; readonly prefix: readonly number[]; readonly at: number }[] = [
  { form: 'IPv4-mapped', prefix: [0, 0, 0, 0, 0, 0xffff], at: 6 },
  { form: 'IPv4-translated', prefix: [0, 0, 0, 0, 0xffff, 0], at: 6 },
  { form: 'IPv4-compatible', prefix: [0, 0, 0, 0, 0, 0], at: 6 },
  { form: 'NAT64', prefix: [0x64, 0xff9b, 0, 0, 0, 0], at: 6 },
  { form: '6to4', prefix: [0x2002], at: 1 },
];

const compile = (rules: readonly Rule[], type: 'ipv4' | 'ipv6') =>
  rules.map(([cidr, name]) => {
    const [network = '', prefix = ''] = cidr.split('/');
    const list = new BlockList();
    list.addSubnet(network, Number(prefix), type);
    return { list, range: { name: `${name} ${cidr}`, loopback: name === 'loopback' } };
  });

const V4 = compile(V4_RULES, 'ipv4');
const V6 = compile(V6_RULES, 'ipv6');

/** The special range `address` (an IPv4 or IPv6 literal) is in, or undefined for a public address. */
export function specialRange(address: string): SpecialRange | undefined {
  // A scoped address (`fe80::1%eth0`) does not match a BlockList with its zone attached.
  const bare = address.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 4) return V4.find(({ list }) => list.check(bare, 'ipv4'))?.range;
  if (family !== 6) return { name: 'not an IP address', loopback: false };
  const direct = V6.find(({ list }) => list.check(bare, 'ipv6'))?.range;
  if (direct !== undefined) return direct;
  const groups = ipv6Groups(bare);
  for (const { form, prefix, at } of EMBEDDED_V4) {
    if (!prefix.every((group, i) => groups[i] === group)) continue;
    const v4 = ipv4FromGroups(groups[at] ?? 0, groups[at + 1] ?? 0);
    const inner = specialRange(v4);
    return inner === undefined ? undefined : { name: `${form} ${v4}, ${inner.name}`, loopback: inner.loopback };
  }
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 literal (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string | undefined) => (part === undefined || part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const [head, tail] = text.split('::');
  if (tail === undefined) return parse(head);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
