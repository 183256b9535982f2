// OpenID token verification against the user's homeserver: resolve its
// federation endpoint (override map for private DNS → server name with port →
// /.well-known/matrix/server → SRV _matrix-fed._tcp → port 8448), then
// GET /_matrix/federation/v1/openid/userinfo and check that `sub` belongs to
// the claimed server (src/server/matrix/README.md §7).

import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { AdmissionError } from './errors.ts';

/** Injectable network access (tests and private deployments). */
export interface FederationDeps {
  readonly fetch: typeof fetch;
  readonly resolveSrv: (name: string) => Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
}

export const DEFAULT_FEDERATION_DEPS: FederationDeps = {
  fetch: (...args) => fetch(...args),
  resolveSrv: (name) => dns.resolveSrv(name),
};

/** Options of verifyOpenIdToken(). */
export interface OpenIdOptions {
  readonly overrides: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly deps?: FederationDeps;
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

async function fetchJson(deps: FederationDeps, url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const response = await deps.fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  const text = await response.text();
  if (text.length > 65_536) return { status: response.status, body: undefined };
  try {
    return { status: response.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: response.status, body: undefined };
  }
}

/** Resolves a server name to the base URL of its federation API. */
export async function resolveFederationBase(serverName: string, options: OpenIdOptions): Promise<string> {
  const override = options.overrides[serverName];
  if (override) return override.replace(/\/$/, '');
  const deps = options.deps ?? DEFAULT_FEDERATION_DEPS;
  const { host, port } = splitServerName(serverName);
  // Spec: an IP literal or an explicit port is used as is.
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0 || port !== undefined) return `https://${host}:${port ?? 8448}`;
  try {
    const { status, body } = await fetchJson(deps, `https://${host}/.well-known/matrix/server`, options.timeoutMs);
    const delegated = status === 200 && typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['m.server'] : undefined;
    if (typeof delegated === 'string') {
      const target = splitServerName(delegated);
      return `https://${target.host}:${target.port ?? 8448}`;
    }
  } catch {
    // No well-known: fall through to SRV and the default port, as the spec says.
  }
  for (const prefix of ['_matrix-fed._tcp.', '_matrix._tcp.']) {
    try {
      const records = await deps.resolveSrv(prefix + host);
      const best = records.sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
      if (best) return `https://${best.name}:${best.port}`;
    } catch {
      // No SRV record of this kind.
    }
  }
  return `https://${host}:8448`;
}

/** Verifies an OpenID access token issued by `serverName`; returns the user id it belongs to. */
export async function verifyOpenIdToken(serverName: string, accessToken: string, options: OpenIdOptions): Promise<string> {
  const deps = options.deps ?? DEFAULT_FEDERATION_DEPS;
  let base: string;
  try {
    base = await resolveFederationBase(serverName, options);
  } catch (error) {
    if (error instanceof AdmissionError) throw error;
    throw new AdmissionError('server_discovery_failed', `cannot resolve ${serverName}`, { cause: error });
  }
  let result;
  try {
    result = await fetchJson(
      deps,
      `${base}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(accessToken)}`,
      options.timeoutMs,
    );
  } catch (error) {
    throw new AdmissionError('server_discovery_failed', `userinfo request to ${serverName} failed`, { cause: error });
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
