// Federation discovery and userinfo checks with a fake network (narrow deps).

import { describe, expect, it, vi } from 'vitest';
import { resolveFederationBase, verifyOpenIdToken, type FederationDeps } from '../../../../src/server/auth/openid.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';
import { FederationFetchError, federationGet, isNonPublicAddress } from '../../../../src/server/auth/federationFetch.ts';
import { rejectionOf } from '../../../tools/errors.ts';
const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, AdmissionError, 'reason');


type Route = { status: number; body: unknown } | FederationFetchError;

function deps(routes: Record<string, Route>, srv: Record<string, Array<{ name: string; port: number; priority: number; weight: number }>> = {}): FederationDeps {
  return {
    get: vi.fn(async (url: string) => {
      const route = Object.entries(routes).find(([prefix]) => url.startsWith(prefix));
      if (!route) throw new FederationFetchError('unavailable', `connection refused: ${url}`);
      if (route[1] instanceof FederationFetchError) throw route[1];
      return route[1];
    }) as unknown as typeof federationGet,
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
    expect(await resolveFederationBase('corp.example', options(deps({}), { 'corp.example': 'http://127.0.0.1:8008/' }))).toEqual({ url: 'http://127.0.0.1:8008', override: true });
  });

  it('uses an explicit port or IP literal as is', async () => {
    expect((await resolveFederationBase('example.org:8449', options(deps({})))).url).toBe('https://example.org:8449');
    expect(await resolveFederationBase('[::1]', options(deps({})))).toEqual({ url: 'https://[::1]:8448', override: false });
  });

  it('follows /.well-known/matrix/server delegation, defaulting the port to 8448', async () => {
    const d = deps({ 'https://example.org/.well-known/matrix/server': { status: 200, body: { 'm.server': 'matrix.example.org:443' } } });
    expect((await resolveFederationBase('example.org', options(d))).url).toBe('https://matrix.example.org:443');
    const d2 = deps({ 'https://example.org/.well-known/matrix/server': { status: 200, body: { 'm.server': 'matrix.example.org' } } });
    expect((await resolveFederationBase('example.org', options(d2))).url).toBe('https://matrix.example.org:8448');
  });

  it('falls back to SRV _matrix-fed._tcp, then to port 8448', async () => {
    const d = deps({}, { '_matrix-fed._tcp.example.org': [{ name: 'fed.example.org', port: 8443, priority: 10, weight: 5 }] });
    expect((await resolveFederationBase('example.org', options(d))).url).toBe('https://fed.example.org:8443');
    expect((await resolveFederationBase('example.org', options(deps({})))).url).toBe('https://example.org:8448');
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

  it('a homeserver that cannot be reached, times out, fails (5xx) or is overloaded (429) is homeserver_unavailable, never openid_invalid', async () => {
    const url = `${base}/_matrix/federation/v1/openid/userinfo`;
    expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(deps({}), overrides)))).toBe('homeserver_unavailable');
    for (const status of [500, 502, 503, 504, 429]) {
      expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(deps({ [url]: { status, body: {} } }), overrides))), String(status)).toBe('homeserver_unavailable');
    }
  });

  it('an answer we refuse to use (redirect, oversized, non-public address) is federation_refused', async () => {
    const url = `${base}/_matrix/federation/v1/openid/userinfo`;
    const refused = deps({ [url]: new FederationFetchError('refused', 'redirect (302) not followed') });
    expect(await reasonOf(verifyOpenIdToken('example.org', 'tok', options(refused, overrides)))).toBe('federation_refused');
  });

  it('calls userinfo with private addresses allowed only for an override', async () => {
    const d = deps({ [`${base}/`]: { status: 200, body: { sub: '@alice:example.org' } }, 'https://': { status: 200, body: { sub: '@alice:other.org' } } });
    await verifyOpenIdToken('example.org', 'tok', options(d, overrides));
    await verifyOpenIdToken('other.org', 'tok', options(d, {}));
    const calls = (d.get as unknown as { mock: { calls: Array<[string, { allowPrivate: boolean }]> } }).mock.calls;
    expect(calls.filter(([url]) => url.includes('userinfo')).map(([url, o]) => [new URL(url).host, o.allowPrivate])).toEqual([
      ['hs.test', true],
      ['other.org:8448', false],
    ]);
    expect(calls.every(([url, o]) => !url.includes('well-known') || o.allowPrivate === false)).toBe(true);
  });
});

describe('federationGet() address policy (no connection is made)', () => {
  const lookup = (...addresses: string[]) => async () => addresses.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  const kindOf = (promise: Promise<unknown>) => rejectionOf(promise, FederationFetchError, 'kind');

  it('refuses a host when any of its addresses is non-public, checking every address', async () => {
    for (const addresses of [['127.0.0.1'], ['93.184.216.34', '10.0.0.5'], ['2606:2800:220:1::1', '::1'], ['169.254.169.254'], ['fe80::1'], ['::ffff:127.0.0.1']]) {
      expect(await kindOf(federationGet('https://evil.example/x', { timeoutMs: 1000, allowPrivate: false, lookupAll: lookup(...addresses) })), addresses.join()).toBe('refused');
    }
    expect(await kindOf(federationGet('https://127.0.0.1:8448/x', { timeoutMs: 1000, allowPrivate: false }))).toBe('refused');
    expect(await kindOf(federationGet('https://[::1]:8448/x', { timeoutMs: 1000, allowPrivate: false }))).toBe('refused');
  });

  it('refuses schemes other than http(s) and reports DNS failures as unavailable', async () => {
    expect(await kindOf(federationGet('file:///etc/passwd', { timeoutMs: 1000, allowPrivate: true }))).toBe('refused');
    const failing = async () => {
      throw new Error('ENOTFOUND');
    };
    expect(await kindOf(federationGet('https://nowhere.example/x', { timeoutMs: 1000, allowPrivate: false, lookupAll: failing }))).toBe('unavailable');
  });

  it('isNonPublicAddress() knows the special ranges and passes public ones', () => {
    for (const address of ['10.1.1.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', 'fc00::1', 'fd12::1', 'ff02::1', '64:ff9b::a00:1']) {
      expect(isNonPublicAddress(address), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:2800:220:1::1']) expect(isNonPublicAddress(address), address).toBe(false);
  });
});
