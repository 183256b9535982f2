// The one parser of "who is the client" for every edge (the /sfu/get rate limiter and the
// WebSocket sessions): the TCP peer, unless that peer is a configured reverse proxy
// (`server.trustedProxies`), in which case the forwarding headers are walked right to left,
// skipping trusted hops, and the first untrusted hop is the client. Headers from an
// untrusted peer are ignored: anyone can write `X-Forwarded-For`.

import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** A parsed address range (`10.0.0.0/8`, `::1`, `2001:db8::/32`). */
interface Cidr {
  readonly family: 4 | 6;
  /** Address as a bigint (32 or 128 bits). */
  readonly network: bigint;
  readonly prefix: number;
}

/** A set of address ranges (trusted proxies, non-public addresses). */
export interface AddressRanges {
  /** True if `address` (any textual form, IPv4-mapped IPv6 included) lies in a configured range. */
  has(address: string): boolean;
  /** Number of configured ranges (0 = trust nobody). */
  readonly size: number;
}

/** Decides whether an address is one of the configured proxies. */
export type TrustedProxies = AddressRanges;

/** Longest forwarding header we read; a longer one is treated as absent (the peer is the client). */
const MAX_HEADER_LENGTH = 4096;
/** Most hops we walk; a longer chain stops at the proxy that sent it. */
const MAX_HOPS = 32;

/**
 * Parses one `server.trustedProxies` entry: an IPv4/IPv6 address or CIDR. Returns a fault
 * text, or undefined when valid. Used by config validation, so config and runtime agree.
 */
export function trustedProxyFault(entry: string): string | undefined {
  return parseCidr(entry) === undefined ? `"${entry}" is not an IP address or CIDR` : undefined;
}

/** Builds the matcher of `server.trustedProxies`. @throws TypeError on an invalid entry (config validation refuses those first). */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  return parseAddressRanges(entries);
}

/** Builds a matcher of address ranges (addresses or CIDRs). @throws TypeError on an invalid entry. */
export function parseAddressRanges(entries: readonly string[]): AddressRanges {
  const ranges = entries.map((entry) => {
    const cidr = parseCidr(entry);
    if (!cidr) throw new TypeError(`"${entry}" is not an IP address or CIDR`);
    return cidr;
  });
  return {
    size: ranges.length,
    has(address: string): boolean {
      const parsed = parseAddress(address);
      if (!parsed) return false;
      return ranges.some((range) => range.family === parsed.family && sameNetwork(parsed.value, range));
    },
  };
}

/**
 * The client's address for a request that arrived from `peer` with `headers`.
 *
 * Rules: if `peer` is not a trusted proxy, it is the client. Otherwise the hops of
 * `Forwarded` (RFC 7239 `for=`; preferred when present) or else `X-Forwarded-For` are read,
 * `peer` is appended, and the list is walked from the right: trusted hops are skipped, the
 * first untrusted one is the client. A hop that is not an IP address (`unknown`, an
 * obfuscated `_id`, garbage) stops the walk and the last trusted hop is used, so a client
 * cannot choose its own bucket by writing junk. If every hop is trusted, the leftmost is used.
 */
export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, trusted: TrustedProxies): string | undefined {
  if (peer === undefined || trusted.size === 0 || !trusted.has(peer)) return normalise(peer);
  const hops = forwardedHops(headers);
  if (hops === undefined) return normalise(peer);
  let client = normalise(peer)!;
  for (let i = hops.length - 1, walked = 0; i >= 0 && walked < MAX_HOPS; i--, walked++) {
    const hop = hops[i]!;
    if (parseAddress(hop) === undefined) return client;
    client = normalise(hop)!;
    if (!trusted.has(hop)) return client;
  }
  return client;
}

/** Hops listed by the forwarding headers, left (origin) to right, or undefined if none. */
function forwardedHops(headers: IncomingHttpHeaders): string[] | undefined {
  const forwarded = headerText(headers['forwarded']);
  if (forwarded !== undefined) {
    const hops: string[] = [];
    for (const element of forwarded.split(',')) {
      const pair = element
        .split(';')
        .map((part) => part.trim())
        .find((part) => part.toLowerCase().startsWith('for='));
      hops.push(pair === undefined ? '' : unquoteForwardedNode(pair.slice(4)));
    }
    return hops;
  }
  const xff = headerText(headers['x-forwarded-for']);
  if (xff === undefined) return undefined;
  return xff.split(',').map((hop) => stripPort(hop.trim()));
}

function headerText(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text === undefined || text.trim() === '' || text.length > MAX_HEADER_LENGTH) return undefined;
  return text;
}

/** RFC 7239 node: `"[2001:db8::1]:4711"`, `192.0.2.1`, `"192.0.2.1:80"`, `unknown`, `_hidden`. */
function unquoteForwardedNode(value: string): string {
  let node = value.trim();
  if (node.startsWith('"') && node.endsWith('"') && node.length >= 2) node = node.slice(1, -1);
  return stripPort(node);
}

/** `[v6]:port` → `v6`, `v4:port` → `v4`; anything else unchanged. */
function stripPort(node: string): string {
  if (node.startsWith('[')) {
    const end = node.indexOf(']');
    return end > 0 ? node.slice(1, end) : node;
  }
  const colon = node.indexOf(':');
  if (colon > 0 && node.indexOf(':', colon + 1) < 0) return node.slice(0, colon);
  return node;
}

/** One textual form per address: IPv4-mapped IPv6 becomes IPv4, IPv6 lower-cased. */
function normalise(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  return isIP(address) === 6 ? address.toLowerCase() : address;
}

function parseCidr(entry: string): Cidr | undefined {
  const [address, prefixText, extra] = entry.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const parsed = parseAddress(address);
  if (!parsed) return undefined;
  const bits = parsed.family === 4 ? 32 : 128;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > bits) return undefined;
  }
  return { family: parsed.family, network: parsed.value, prefix };
}

function sameNetwork(value: bigint, range: Cidr): boolean {
  const bits = range.family === 4 ? 32n : 128n;
  const shift = bits - BigInt(range.prefix);
  return value >> shift === range.network >> shift;
}

/** Parses an IPv4 or IPv6 address (IPv4-mapped IPv6 counts as IPv4) into a bigint. */
export function parseAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  const address = normalise(text.trim())!;
  const family = isIP(address);
  if (family === 4) {
    const value = address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (family !== 6) return undefined;
  let body = address.split('%')[0]!;
  // A trailing dotted quad (::ffff:1.2.3.4 handled above; here e.g. 64:ff9b::1.2.3.4).
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (dotted) {
    const v4 = dotted[1]!.split('.').map(Number);
    body = body.slice(0, -dotted[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = body.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headParts.length - tailParts.length;
  const groups = tail === undefined ? headParts : [...headParts, ...Array<string>(missing).fill('0'), ...tailParts];
  if (groups.length !== 8) return undefined;
  const value = groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
  return { family: 6, value };
}
