// TURN REST credentials, URL and secret parsing, and the TurnService that issues them
// (pure: no TURN server; test/integration/turn.test.ts proves coturn accepts them).

import { describe, expect, it } from 'vitest';
import { turnIdentity, turnRestCredential, turnRestPassword } from '../../../../src/server/turn/credentials.ts';
import { normaliseIp, parseSharedSecret, parseTurnUrl, relayAddressesOf, turnUrlFaults } from '../../../../src/server/turn/turnConfig.ts';
import { TurnConfigError, TurnService } from '../../../../src/server/turn/TurnService.ts';
import { loadConfig } from '../../../../src/server/config/loadConfig.ts';

const SECRET = 'north-wind-secret-0001';

describe('turnRestCredential', () => {
  it('makes the username expiry:identity and the password base64 HMAC-SHA1 of it (vector from openssl dgst)', () => {
    const credential = turnRestCredential(SECRET, '0123456789abcdef', 1_700_000_000_000, 3_600_000);
    expect(credential.username).toBe('1700003600:0123456789abcdef');
    expect(credential.credential).toBe('4ZgWtKaxzeOHnFYKYM1SNwbKySA=');
    expect(credential.expiresAtMs).toBe(1_700_003_600_000);
  });

  it('rounds the expiry down to whole seconds', () => {
    expect(turnRestCredential(SECRET, 'id', 1_700_000_000_999, 60_000).username).toBe('1700000060:id');
  });

  it('refuses an empty secret, a bad identity and a non-positive lifetime', () => {
    expect(() => turnRestCredential('', 'id', 0, 1000)).toThrow(TypeError);
    expect(() => turnRestCredential(SECRET, 'a:b', 0, 1000)).toThrow(TypeError);
    expect(() => turnRestCredential(SECRET, '', 0, 1000)).toThrow(TypeError);
    expect(() => turnRestCredential(SECRET, 'x'.repeat(65), 0, 1000)).toThrow(TypeError);
    expect(() => turnRestCredential(SECRET, 'id', 0, 0)).toThrow(TypeError);
  });

  it('a password made with another secret differs', () => {
    expect(turnRestPassword('another-secret-000001', '1700003600:0123456789abcdef')).not.toBe('4ZgWtKaxzeOHnFYKYM1SNwbKySA=');
  });
});

describe('turnIdentity', () => {
  it('is 16 hex digits of SHA-256 over the participant id, never the Matrix id itself', () => {
    expect(turnIdentity('@alice:example.org:DEV1')).toBe('899c2a38cf376b78');
    expect(turnIdentity('@alice:example.org:DEV1')).not.toContain('alice');
  });
});

describe('parseTurnUrl', () => {
  it('reads turn, turns and stun URLs with default ports and transports', () => {
    expect(parseTurnUrl('turn:turn.example.org')).toEqual({ scheme: 'turn', host: 'turn.example.org', port: 3478, transport: undefined });
    expect(parseTurnUrl('turns:turn.example.org:443?transport=tcp')).toEqual({ scheme: 'turns', host: 'turn.example.org', port: 443, transport: 'tcp' });
    expect(parseTurnUrl('turn:192.0.2.7:3478?transport=udp')).toEqual({ scheme: 'turn', host: '192.0.2.7', port: 3478, transport: 'udp' });
    expect(parseTurnUrl('turn:[2001:db8::1]:3478')).toEqual({ scheme: 'turn', host: '2001:db8::1', port: 3478, transport: undefined });
    expect(parseTurnUrl('stun:stun.example.org')).toMatchObject({ scheme: 'stun', port: 3478 });
    expect(parseTurnUrl('turns:turn.example.org')).toMatchObject({ port: 5349 });
  });

  it('refuses other schemes, credentials in the URL, turns over UDP, bad ports and stun transports', () => {
    for (const bad of ['http://turn.example.org', 'turn://turn.example.org', 'turn:user@turn.example.org', 'turns:t.example.org?transport=udp', 'turn:t.example.org:70000', 'stun:t.example.org?transport=tcp', 'turn:t.example.org?transport=sctp', 'turn:[zz::1]']) {
      expect(typeof parseTurnUrl(bad), bad).toBe('string');
    }
    expect(turnUrlFaults(['turn:ok.example.org', 'nope'])).toHaveLength(1);
  });
});

describe('parseSharedSecret', () => {
  it('trims the file content and refuses short or multi-word secrets without quoting them', () => {
    expect(parseSharedSecret(`${SECRET}\n`)).toBe(SECRET);
    const short = parseSharedSecret('short');
    expect(short).toEqual({ fault: expect.stringContaining('16') });
    expect(JSON.stringify(parseSharedSecret('two words of secret text'))).not.toContain('words');
  });
});

describe('relayAddressesOf', () => {
  it('takes turn.relayAddresses when given, otherwise the IP hosts of the turn URLs', () => {
    expect([...relayAddressesOf(['turn:turn.example.org', 'turn:192.0.2.7?transport=udp', 'stun:198.51.100.1'], [])]).toEqual(['192.0.2.7']);
    expect([...relayAddressesOf(['turn:192.0.2.7'], ['203.0.113.9', '::FFFF:198.51.100.2'])]).toEqual(['203.0.113.9', '198.51.100.2']);
    expect(normaliseIp('::ffff:127.0.0.2')).toBe('127.0.0.2');
  });
});

describe('TurnService', () => {
  const turnConfig = { urls: ['turn:127.0.0.1:3478?transport=udp', 'turns:127.0.0.1:5349?transport=tcp'], sharedSecretFile: '/secret', credentialLifetimeMs: 3_600_000, relayAddresses: ['127.0.0.2'] };

  it('is off while turn.urls is empty and reads no file then', () => {
    expect(TurnService.fromConfig({ ...turnConfig, urls: [] }, () => { throw new Error('read'); })).toBeUndefined();
  });

  it('issues one ICE server with every URL and a credential valid for the configured lifetime, counting each', () => {
    const issued: string[] = [];
    const service = TurnService.fromConfig(turnConfig, () => SECRET)!;
    service.onIssued((edge) => issued.push(edge));
    const before = Math.floor(Date.now() / 1000);
    const [server, ...rest] = service.issue('@alice:example.org:DEV1', 'livekit');
    expect(rest).toEqual([]);
    expect(server!.urls).toEqual(turnConfig.urls);
    const [expiry, identity] = server!.username.split(':');
    expect(Number(expiry) - before).toBeGreaterThanOrEqual(3599);
    expect(Number(expiry) - before).toBeLessThanOrEqual(3601);
    expect(identity).toBe(turnIdentity('@alice:example.org:DEV1'));
    expect(server!.credential).toBe(turnRestPassword(SECRET, server!.username));
    expect(issued).toEqual(['livekit']);
  });

  it('tells relayed remote addresses from direct ones', () => {
    const service = TurnService.fromConfig(turnConfig, () => SECRET)!;
    expect(service.isRelayAddress('127.0.0.2')).toBe(true);
    expect(service.isRelayAddress('::ffff:127.0.0.2')).toBe(true);
    expect(service.isRelayAddress('127.0.0.1')).toBe(false);
  });

  it('refuses an unreadable or weak secret file with the key named and the content never quoted', () => {
    expect(() => TurnService.fromConfig(turnConfig, () => { throw Object.assign(new Error('no'), { code: 'ENOENT' }); })).toThrow(/turn\.sharedSecretFile: cannot read \/secret \(ENOENT\)/);
    let message = '';
    try {
      TurnService.fromConfig(turnConfig, () => 'weak-secret');
    } catch (error) {
      expect(error).toBeInstanceOf(TurnConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/turn\.sharedSecretFile/);
    expect(message).not.toContain('weak-secret');
  });
});

describe('turn.* configuration', () => {
  it('is off by default', () => {
    const config = loadConfig({});
    expect(config.turn.urls).toEqual([]);
    expect(config.turn.credentialLifetimeMs).toBe(14_400_000);
  });

  it('refuses bad URLs, a lifetime outside 1 min..24 h, bad relay addresses, and URLs without a secret file', () => {
    let faults: readonly string[] = [];
    try {
      loadConfig({ overrides: { turn: { urls: ['http://x'], credentialLifetimeMs: 1000, relayAddresses: ['not-an-ip'] } } });
    } catch (error) {
      faults = (error as { faults: string[] }).faults;
    }
    expect(faults.some((fault) => fault.startsWith('turn.urls:'))).toBe(true);
    expect(faults.some((fault) => fault.startsWith('turn.credentialLifetimeMs:'))).toBe(true);
    expect(faults.some((fault) => fault.startsWith('turn.relayAddresses:'))).toBe(true);
    expect(() => loadConfig({ overrides: { turn: { urls: ['turn:192.0.2.7'] } } })).toThrow(/turn\.sharedSecretFile: must be set when turn\.urls is set/);
  });

  it('reads SFU_TURN_URLS as a comma-separated list', () => {
    const config = loadConfig({ env: { SFU_TURN_URLS: 'turn:192.0.2.7?transport=udp, turns:turn.example.org:443?transport=tcp', SFU_TURN_SHARED_SECRET_FILE: '/etc/matrix-sfu/turn-secret' } });
    expect(config.turn.urls).toEqual(['turn:192.0.2.7?transport=udp', 'turns:turn.example.org:443?transport=tcp']);
  });
});
