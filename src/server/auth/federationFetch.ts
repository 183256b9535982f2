// One GET to another Matrix server (OpenID userinfo, /.well-known/matrix/server), hardened
// against the servers it talks to: the answer is streamed with a hard byte cap (never read
// whole first), one deadline covers connect, headers and body (a trickling server cannot
// hold us), redirects are never followed, and the host's addresses are resolved first and
// refused if any is loopback, private, link-local or otherwise non-public (all of them are
// checked, and the connection goes to a checked one, so DNS cannot swap it afterwards),
// unless the caller allows private addresses (a server in `auth.serverUrlOverrides`).

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { promises as dns } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { parseAddressRanges } from '../http/clientAddress.ts';

/** Largest federation answer read (bytes); userinfo and well-known answers are tiny. */
export const MAX_FEDERATION_RESPONSE_BYTES = 65_536;

/** Why a federation request failed: `unavailable` (network, timeout) or `refused` (we will not use the answer). */
export class FederationFetchError extends Error {
  override readonly name = 'FederationFetchError';
  readonly kind: 'unavailable' | 'refused';
  constructor(kind: 'unavailable' | 'refused', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** A resolved address. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to all its addresses (A and AAAA). */
export type LookupAll = (host: string) => Promise<ResolvedAddress[]>;

export const defaultLookupAll: LookupAll = async (host) =>
  (await dns.lookup(host, { all: true, verbatim: true })).map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));

/**
 * Addresses never called unless allowed: "this network", private (RFC 1918), shared
 * (RFC 6598), loopback, link-local, IETF protocol assignments, benchmarking, multicast,
 * reserved and broadcast for IPv4; unspecified, loopback, IPv4-mapped/compatible, NAT64,
 * discard, documentation, unique-local, link-local, site-local and multicast for IPv6.
 */
const NON_PUBLIC = parseAddressRanges([
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '::/96', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001:db8::/32', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8',
]);

/** Whether `address` is one we never call without an override. */
export function isNonPublicAddress(address: string): boolean {
  return NON_PUBLIC.has(address);
}

/** Options of federationGet(). */
export interface FederationGetOptions {
  /** One deadline for the whole exchange. */
  readonly timeoutMs: number;
  /** Call loopback/private addresses too (the server is in auth.serverUrlOverrides). */
  readonly allowPrivate: boolean;
  readonly lookupAll?: LookupAll;
  /** Byte cap of the body. Default MAX_FEDERATION_RESPONSE_BYTES. */
  readonly maxBytes?: number;
}

/**
 * GETs `url` and returns its status and JSON body (undefined when not JSON).
 * @throws FederationFetchError `refused` for a non-public address (without allowPrivate), a
 *   redirect, or an answer over the byte cap; `unavailable` for DNS, connection or timeout failures.
 */
export async function federationGet(url: string, options: FederationGetOptions): Promise<{ status: number; body: unknown }> {
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new FederationFetchError('refused', `scheme ${target.protocol} not allowed`);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const deadline = AbortSignal.timeout(options.timeoutMs);
  let addresses: ResolvedAddress[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await raceDeadline((options.lookupAll ?? defaultLookupAll)(host), deadline);
    } catch (error) {
      throw new FederationFetchError('unavailable', `cannot resolve ${host}`, { cause: error });
    }
  }
  if (addresses.length === 0) throw new FederationFetchError('unavailable', `${host} has no address`);
  if (!options.allowPrivate) {
    const blocked = addresses.filter((entry) => isNonPublicAddress(entry.address));
    if (blocked.length > 0) throw new FederationFetchError('refused', `${host} resolves to a non-public address`);
  }
  const pinned = addresses[0]!;
  // Connect to the address we checked, not to whatever a second resolution returns.
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const maxBytes = options.maxBytes ?? MAX_FEDERATION_RESPONSE_BYTES;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: FederationFetchError): void => {
      if (settled) return;
      settled = true;
      request.destroy();
      reject(error);
    };
    const request = send(
      target,
      { method: 'GET', lookup, headers: { accept: 'application/json' }, signal: deadline, agent: false },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          fail(new FederationFetchError('refused', `redirect (${status}) not followed`));
          return;
        }
        const declared = Number(response.headers['content-length'] ?? '0');
        if (declared > maxBytes) {
          fail(new FederationFetchError('refused', `answer of ${declared} bytes over the ${maxBytes} byte cap`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        response.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBytes) {
            fail(new FederationFetchError('refused', `answer over the ${maxBytes} byte cap`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (settled) return;
          settled = true;
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          } catch {
            body = undefined;
          }
          resolve({ status, body });
        });
        response.on('error', (error) => fail(new FederationFetchError('unavailable', 'answer interrupted', { cause: error })));
      },
    );
    request.on('error', (error) => {
      const timedOut = deadline.aborted;
      fail(new FederationFetchError('unavailable', timedOut ? `no complete answer within ${options.timeoutMs} ms` : 'request failed', { cause: error }));
    });
    request.end();
  });
}

function raceDeadline<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
