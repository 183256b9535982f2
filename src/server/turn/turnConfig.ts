// Parsing of the `turn.*` configuration: TURN/STUN URLs in the RFC 7064 / RFC 7065 form
// (`turn:host:port?transport=udp|tcp`, `turns:host:port?transport=tcp`, `stun:host:port`),
// the shared secret read from its file, and the relay addresses that mark a relayed ICE tuple.

import { isIP } from 'node:net';

/** A parsed TURN or STUN URL. */
export interface TurnUrl {
  readonly scheme: 'turn' | 'turns' | 'stun' | 'stuns';
  readonly host: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | undefined;
}

const URL_PATTERN = /^(turns?|stuns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/** Default ports (RFC 7065): 3478 for turn/stun, 5349 for turns/stuns. */
function defaultPort(scheme: TurnUrl['scheme']): number {
  return scheme === 'turns' || scheme === 'stuns' ? 5349 : 3478;
}

/** Parses one URL, or returns a fault sentence. */
export function parseTurnUrl(text: string): TurnUrl | string {
  const match = URL_PATTERN.exec(text);
  if (!match) return `"${text}" is not a turn:, turns:, stun: or stuns: URL (host[:port][?transport=udp|tcp])`;
  const scheme = match[1] as TurnUrl['scheme'];
  const rawHost = match[2]!;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') && isIP(host) !== 6) return `"${text}": bad IPv6 address`;
  const port = match[3] !== undefined ? Number(match[3]) : defaultPort(scheme);
  if (port < 1 || port > 65_535) return `"${text}": port must be 1..65535`;
  const transport = match[4] as 'udp' | 'tcp' | undefined;
  if (scheme.startsWith('stun') && transport !== undefined) return `"${text}": stun URLs take no transport`;
  if ((scheme === 'turns' || scheme === 'stuns') && transport === 'udp') return `"${text}": turns: runs over TCP (TLS), not UDP`;
  return { scheme, host, port, transport };
}

/** Faults of a `turn.urls` list (empty when every entry parses). */
export function turnUrlFaults(urls: readonly string[]): string[] {
  return urls.map(parseTurnUrl).filter((result): result is string => typeof result === 'string');
}

/** Smallest shared secret accepted (characters). */
export const MIN_SECRET_LENGTH = 16;

/**
 * The shared secret from the content of `turn.sharedSecretFile` (surrounding whitespace
 * dropped), or a fault sentence that never quotes the content.
 */
export function parseSharedSecret(content: string): string | { fault: string } {
  const secret = content.trim();
  if (secret.length < MIN_SECRET_LENGTH) return { fault: `the shared secret must have at least ${MIN_SECRET_LENGTH} characters` };
  if (/\s/.test(secret)) return { fault: 'the shared secret must be one line without spaces' };
  return secret;
}

/**
 * Addresses a relayed ICE tuple comes from: `turn.relayAddresses` when given, otherwise the
 * IP-literal hosts of the TURN URLs (a TURN server with a host name needs relayAddresses for
 * the relay metric to count it).
 */
export function relayAddressesOf(urls: readonly string[], configured: readonly string[]): ReadonlySet<string> {
  if (configured.length > 0) return new Set(configured.map(normaliseIp));
  const out = new Set<string>();
  for (const url of urls) {
    const parsed = parseTurnUrl(url);
    if (typeof parsed !== 'string' && parsed.scheme.startsWith('turn') && isIP(parsed.host) !== 0) out.add(normaliseIp(parsed.host));
  }
  return out;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, IPv6 lower-cased. */
export function normaliseIp(ip: string): string {
  const lower = ip.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}
