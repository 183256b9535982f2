// OpenID token verification against the user's homeserver: resolve its
// federation endpoint (override map for private DNS → server name with port →
// /.well-known/matrix/server → SRV _matrix-fed._tcp → port 8448), then
// GET /_matrix/federation/v1/openid/userinfo and check that `sub` belongs to
// the claimed server (src/server/matrix/README.md §7). Every request goes through
// federationGet() (byte cap, one deadline, no redirects, non-public addresses refused
// unless the server is an override). Outcomes (README.md in this folder):
// a definite refusal of the token is `openid_invalid` (401); a homeserver that cannot be
// reached (DNS, connection, timeout, 5xx, 429) is `homeserver_unavailable` (503, retry);
// an answer we will not use (redirect, oversized, non-public address) is `federation_refused`.

import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { AdmissionError } from './errors.ts';
import { FederationFetchError, federationGet, type LookupAll } from './federationFetch.ts';

/** Injectable network access (tests and private deployments). */
export interface FederationDeps {
  /** One federation GET; default federationGet(). */
  readonly get: typeof federationGet;
  readonly resolveSrv: (name: string) => Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
  /** Host name → all addresses; default DNS. */
  readonly lookupAll?: LookupAll;
}

export const DEFAULT_FEDERATION_DEPS: FederationDeps = {
  get: federationGet,
  resolveSrv: (name) => dns.resolveSrv(name),
};

/** Options of verifyOpenIdToken(). */
export interface OpenIdOptions {
  /** Server name → federation base URL (auth.serverUrlOverrides); these may be private addresses. */
  readonly overrides: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly deps?: FederationDeps;
}

/** Where a server's federation API is, and whether it may be on a private address. */
export interface FederationBase {
  readonly url: string;
  /** True for an auth.serverUrlOverrides entry: configured by the operator, may be loopback or private. */
  readonly override: boolean;
}

const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
const USER_ID = /^@[^:\s]{1,255}:(.+)$/;

function splitServerName(serverName: string): { host: string; port: number | undefined } {
  const match = SERVER_NAME.exec(serverName);
  if (!match) throw new AdmissionError('server_discovery_failed', 'malformed server name');
  const port = match[2] ? Number(match[2].slice(1)) : undefined;
  if (port !== undefined && (port < 1 || port > 65_535)) throw new AdmissionError('server_discovery_failed', 'bad port');
  return { host: match[1]!, port };
}

/** Resolves a server name to the base URL of its federation API. */
export async function resolveFederationBase(serverName: string, options: OpenIdOptions): Promise<FederationBase> {
  const override = options.overrides[serverName];
  if (override) return { url: override.replace(/\/$/, ''), override: true };
  const deps = options.deps ?? DEFAULT_FEDERATION_DEPS;
  const { host, port } = splitServerName(serverName);
  // Spec: an IP literal or an explicit port is used as is.
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0 || port !== undefined) return { url: `https://${host}:${port ?? 8448}`, override: false };
  try {
    const { status, body } = await deps.get(`https://${host}/.well-known/matrix/server`, {
      timeoutMs: options.timeoutMs,
      allowPrivate: false,
      ...(deps.lookupAll ? { lookupAll: deps.lookupAll } : {}),
    });
    const delegated = status === 200 && typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['m.server'] : undefined;
    if (typeof delegated === 'string') {
      const target = splitServerName(delegated);
      return { url: `https://${target.host}:${target.port ?? 8448}`, override: false };
    }
  } catch (error) {
    // No usable well-known (absent, unreachable, refused): fall through to SRV and the
    // default port, as the spec says. The address checks apply again to what comes next.
    if (error instanceof AdmissionError) throw error;
  }
  for (const prefix of ['_matrix-fed._tcp.', '_matrix._tcp.']) {
    try {
      const records = await deps.resolveSrv(prefix + host);
      const best = records.sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
      if (best) return { url: `https://${best.name}:${best.port}`, override: false };
    } catch {
      // No SRV record of this kind.
    }
  }
  return { url: `https://${host}:8448`, override: false };
}

/** Verifies an OpenID access token issued by `serverName`; returns the user id it belongs to. */
export async function verifyOpenIdToken(serverName: string, accessToken: string, options: OpenIdOptions): Promise<string> {
  const deps = options.deps ?? DEFAULT_FEDERATION_DEPS;
  let base: FederationBase;
  try {
    base = await resolveFederationBase(serverName, options);
  } catch (error) {
    if (error instanceof AdmissionError) throw error;
    throw new AdmissionError('server_discovery_failed', `cannot resolve ${serverName}`, { cause: error });
  }
  let result;
  try {
    result = await deps.get(`${base.url}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(accessToken)}`, {
      timeoutMs: options.timeoutMs,
      allowPrivate: base.override,
      ...(deps.lookupAll ? { lookupAll: deps.lookupAll } : {}),
    });
  } catch (error) {
    if (error instanceof FederationFetchError && error.kind === 'refused') {
      throw new AdmissionError('federation_refused', `userinfo of ${serverName}: ${error.message}`, { cause: error });
    }
    throw new AdmissionError('homeserver_unavailable', `userinfo request to ${serverName} failed`, { cause: error });
  }
  if (result.status >= 500 || result.status === 429) {
    throw new AdmissionError('homeserver_unavailable', `userinfo answered ${result.status}`);
  }
  const sub = typeof result.body === 'object' && result.body !== null ? (result.body as Record<string, unknown>)['sub'] : undefined;
  if (result.status !== 200 || typeof sub !== 'string') {
    throw new AdmissionError('openid_invalid', `userinfo answered ${result.status}`);
  }
  const match = USER_ID.exec(sub);
  if (!match) throw new AdmissionError('openid_invalid', 'userinfo sub is not a user id');
  if (match[1] !== serverName) throw new AdmissionError('user_server_mismatch', `sub belongs to ${match[1]}, not ${serverName}`);
  return sub;
}
