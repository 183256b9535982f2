// Federation discovery and userinfo checks with a fake network (narrow deps).

import { describe, expect, it, vi } from 'vitest';
import { resolveFederationBase, verifyOpenIdToken, type FederationDeps } from '../../../../src/server/auth/openid.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';
import { rejectionOf } from '../../../tools/errors.ts';
const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, AdmissionError, 'reason');


function deps(routes: Record<string, { status: number; body: unknown }>, srv: Record<string, Array<{ name: string; port: number; priority: number; weight: number }>> = {}): FederationDeps {
  return {
    fetch: vi.fn(async (input: string | URL | Request) => {
      const url = String(input);
      const route = Object.entries(routes).find(([prefix]) => url.startsWith(prefix));
      if (!route) throw new TypeError(`fetch failed: ${url}`);
      return new Response(JSON.stringify(route[1].body), { status: route[1].status });
    }) as unknown as typeof fetch,
    resolveSrv: async (name) => {
      const records = srv[name];
      if (!records) throw new Error('ENOTFOUND');
      return records;
    },
  };
}

const options = (d: FederationDeps, overrides: Record<string, string> = {}) => ({ overrides, timeoutMs: 1000, deps: d });

describe('resolveFederationBase()', () => {
  it('uses the override map first (private DNS)', async () => {
    expect(await resolveFederationBase('corp.example', options(deps({}), { 'corp.example': 'http://127.0.0.1:8008/' }))).toBe('http://127.0.0.1:8008');
  });

  it('uses an explicit port or IP literal as is', async () => {
    expect(await resolveFederationBase('example.org:8449', options(deps({})))).toBe('https://example.org:8449');
    expect(await resolveFederationBase('[::1]', options(deps({})))).toBe('https://[::1]:8448');
  });

  it('follows /.well-known/matrix/server delegation, defaulting the port to 8448', async () => {
    const d = deps({ 'https://example.org/.well-known/matrix/server': { status: 200, body: { 'm.server': 'matrix.example.org:443' } } });
    expect(await resolveFederationBase('example.org', options(d))).toBe('https://matrix.example.org:443');
    const d2 = deps({ 'https://example.org/.well-known/matrix/server': { status: 200, body: { 'm.server': 'matrix.example.org' } } });
    expect(await resolveFederationBase('example.org', options(d2))).toBe('https://matrix.example.org:8448');
  });

  it('falls back to SRV _matrix-fed._tcp, then to port 8448', async () => {
    const d = deps({}, { '_matrix-fed._tcp.example.org': [{ name: 'fed.example.org', port: 8443, priority: 10, weight: 5 }] });
    expect(await resolveFederationBase('example.org', options(d))).toBe('https://fed.example.org:8443');
    expect(await resolveFederationBase('example.org', options(deps({})))).toBe('https://example.org:8448');
  });

  it('refuses malformed server names', async () => {
    expect(await reasonOf(resolveFederationBase('exa mple/org', options(deps({}))))).toBe('server_discovery_failed');
  });
});

describe('verifyOpenIdToken()', () => {
  const base = 'http://hs.test';
  const overrides = { 'example.org': base };

  it('returns sub when userinfo accepts the token and sub belongs to the server', async () => {
    const d = deps({ [`${base}/_matrix/federation/v1/openid/userinfo`]: { status: 200, body: { sub: '@alice:example.org' } } });
    expect(await verifyOpenIdToken('example.org', 'tok', options(d, overrides))).toBe('@alice:example.org');
  });

  it('refuses a sub of another server (user_server_mismatch) and a rejected token (openid_invalid)', async () => {
    const other = deps({ [`${base}/_matrix/federation/v1/openid/userinfo`]: { status: 200, body: { sub: '@mallory:evil.org' } } });
    expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(other, overrides)))).toBe('user_server_mismatch');
    const rejected = deps({ [`${base}/_matrix/federation/v1/openid/userinfo`]: { status: 401, body: { errcode: 'M_UNKNOWN_TOKEN' } } });
    expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(rejected, overrides)))).toBe('openid_invalid');
  });

  it('refuses when the server cannot be reached (server_discovery_failed)', async () => {
    expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(deps({}), overrides)))).toBe('server_discovery_failed');
  });
});
