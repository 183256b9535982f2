// The one client-address parser: forwarding headers believed only from trusted proxies,
// walked right to left, junk never chooses the bucket.

import { describe, expect, it } from 'vitest';
import { clientAddress, parseAddress, parseTrustedProxies, trustedProxyFault } from '../../../../src/server/http/clientAddress.ts';

const proxies = parseTrustedProxies(['10.0.0.0/8', '::1', '2001:db8:1::/48']);

describe('clientAddress()', () => {
  it('returns the TCP peer when no proxy is configured, whatever the headers say', () => {
    const none = parseTrustedProxies([]);
    expect(clientAddress('198.51.100.7', { 'x-forwarded-for': '203.0.113.1' }, none)).toBe('198.51.100.7');
  });

  it('ignores X-Forwarded-For and Forwarded from an untrusted peer', () => {
    expect(clientAddress('198.51.100.7', { 'x-forwarded-for': '203.0.113.1' }, proxies)).toBe('198.51.100.7');
    expect(clientAddress('198.51.100.7', { forwarded: 'for=203.0.113.1' }, proxies)).toBe('198.51.100.7');
  });

  it('takes the first untrusted hop from the right of X-Forwarded-For behind a trusted proxy', () => {
    expect(clientAddress('10.1.2.3', { 'x-forwarded-for': '203.0.113.1' }, proxies)).toBe('203.0.113.1');
    // A client-written spoof on the left is skipped: the proxy appended the real peer.
    expect(clientAddress('10.1.2.3', { 'x-forwarded-for': '1.1.1.1, 203.0.113.9, 10.9.9.9' }, proxies)).toBe('203.0.113.9');
  });

  it('reads RFC 7239 Forwarded (quoted IPv6 with port, several elements) in preference to X-Forwarded-For', () => {
    const headers = { forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"', 'x-forwarded-for': '203.0.113.1' };
    expect(clientAddress('::1', headers, proxies)).toBe('2001:db8:cafe::17');
  });

  it('stops at a hop that is not an address and keeps the last trusted hop', () => {
    expect(clientAddress('10.1.2.3', { forwarded: 'for=unknown' }, proxies)).toBe('10.1.2.3');
    expect(clientAddress('10.1.2.3', { 'x-forwarded-for': 'garbage, 10.4.4.4' }, proxies)).toBe('10.4.4.4');
  });

  it('uses the leftmost hop when every hop is trusted, and normalises IPv4-mapped peers', () => {
    expect(clientAddress('::ffff:10.1.2.3', { 'x-forwarded-for': '10.7.7.7' }, proxies)).toBe('10.7.7.7');
    expect(clientAddress('::ffff:198.51.100.7', {}, proxies)).toBe('198.51.100.7');
  });

  it('treats an overlong header as absent', () => {
    expect(clientAddress('10.1.2.3', { 'x-forwarded-for': '203.0.113.1,'.repeat(500) }, proxies)).toBe('10.1.2.3');
  });
});

describe('parseTrustedProxies() / trustedProxyFault()', () => {
  it('matches IPv4 and IPv6 ranges and single addresses', () => {
    expect(proxies.has('10.255.0.1')).toBe(true);
    expect(proxies.has('11.0.0.1')).toBe(false);
    expect(proxies.has('0:0:0:0:0:0:0:1')).toBe(true);
    expect(proxies.has('2001:db8:1:ffff::5')).toBe(true);
    expect(proxies.has('2001:db8:2::5')).toBe(false);
  });

  it('names invalid entries', () => {
    expect(trustedProxyFault('10.0.0.0/8')).toBeUndefined();
    expect(trustedProxyFault('10.0.0.0/33')).toMatch(/not an IP address or CIDR/);
    expect(trustedProxyFault('proxy.example')).toMatch(/not an IP address or CIDR/);
    expect(() => parseTrustedProxies(['x'])).toThrow(TypeError);
  });

  it('parseAddress() reads compressed IPv6 and embedded IPv4', () => {
    expect(parseAddress('::1')).toEqual({ family: 6, value: 1n });
    expect(parseAddress('64:ff9b::1.2.3.4')?.value).toBe((0x64n << 112n) | (0xff9bn << 96n) | 0x01020304n);
    expect(parseAddress('nope')).toBeUndefined();
  });
});
