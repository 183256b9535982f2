// The admission JWT refusal battery at unit level: each forged or stale token
// is refused with its own reason.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, type SigningKey } from '../../../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../../../src/server/auth/SfuToken.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';
import { rejectionOf } from '../../../tools/errors.ts';
const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, AdmissionError, 'reason');


const ISS = 'https://sfu.example.org';
let key: SigningKey;
let service: SfuTokenService;
const subject = { userId: '@alice:example.org', deviceId: 'DEV1', roomId: '!room:example.org', membershipId: '@alice:example.org:DEV1' };

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sfu-jwt-'));
  ({ key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir }));
  service = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000 });
});

function baseClaims(now = Math.floor(Date.now() / 1000)) {
  return { device: 'DEV1', room: '!room:example.org', membership: 'm', sub: '@alice:example.org', jti: 'j1', iat: now, nbf: now, exp: now + 60 };
}

describe('SfuTokenService', () => {
  it('mint() then verify() round-trips every claim, with a lifetime of at most 5 minutes', async () => {
    const { jwt, claims } = await service.mint(subject);
    const verified = await service.verify(jwt);
    expect(verified).toEqual(claims);
    expect(claims.exp - claims.iat).toBe(300);
    expect(claims).toMatchObject({ iss: ISS, aud: ISS, sub: subject.userId, device: 'DEV1', room: subject.roomId, membership: subject.membershipId });
  });

  it('loadSigningKey() persists the development key: a second start signs with the same kid', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-jwt-'));
    const first = await loadSigningKey({ algorithm: 'ES256', keyFile: '', dataDir });
    const second = await loadSigningKey({ algorithm: 'ES256', keyFile: '', dataDir });
    expect(first.generated).toBe(true);
    expect(second.generated).toBe(false);
    expect(second.key.kid).toBe(first.key.kid);
    expect(first.key.publicJwk).not.toHaveProperty('d');
  });

  it('verify() refuses alg none', async () => {
    const token = `${b64url({ alg: 'none', kid: key.kid })}.${b64url(baseClaims())}.`;
    expect(await reasonOf(service.verify(token))).toBe('jwt_bad_algorithm');
  });

  it('verify() refuses HS256 signed with our public key as the secret', async () => {
    const header = b64url({ alg: 'HS256', kid: key.kid, typ: 'JWT' });
    const payload = b64url({ ...baseClaims(), iss: ISS, aud: ISS });
    const secret = JSON.stringify(key.publicJwk);
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    expect(await reasonOf(service.verify(`${header}.${payload}.${signature}`))).toBe('jwt_bad_algorithm');
  });

  it('verify() refuses a token signed by another key under our kid (bad signature) and an unknown kid', async () => {
    const other = await generateKeyPair('EdDSA');
    const forge = (kid: string) =>
      new SignJWT({ device: 'DEV1', room: 'r', membership: 'm' })
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setIssuer(ISS)
        .setAudience(ISS)
        .setSubject('@a:b')
        .setJti('x')
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime('1m')
        .sign(other.privateKey);
    expect(await reasonOf(service.verify(await forge(key.kid)))).toBe('jwt_bad_signature');
    expect(await reasonOf(service.verify(await forge('someone-else')))).toBe('jwt_unknown_kid');
  });

  it('verify() refuses expired, not-yet-valid, wrong audience and wrong issuer tokens', async () => {
    const { jwt } = await service.mint(subject);
    const later = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000, now: () => Date.now() + 301_000 });
    expect(await reasonOf(later.verify(jwt))).toBe('jwt_expired');
    const earlier = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000, now: () => Date.now() - 120_000 });
    expect(await reasonOf(earlier.verify(jwt))).toBe('jwt_not_yet_valid');
    const otherAudience = new SfuTokenService({ key, issuer: ISS, audience: 'https://other.example', lifetimeMs: 300_000 });
    expect(await reasonOf(otherAudience.verify(jwt))).toBe('jwt_wrong_audience');
    const otherIssuer = new SfuTokenService({ key, issuer: 'https://evil.example', audience: ISS, lifetimeMs: 300_000 });
    expect(await reasonOf(otherIssuer.verify(jwt))).toBe('jwt_wrong_issuer');
  });

  it('verify() refuses a token missing our claims, living over 5 minutes, or that is garbage', async () => {
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).sign(key.privateKey);
    const now = Math.floor(Date.now() / 1000);
    const { device: _d, ...noDevice } = baseClaims(now);
    expect(await reasonOf(service.verify(await sign({ ...noDevice, iss: ISS, aud: ISS })))).toBe('jwt_bad_claims');
    expect(await reasonOf(service.verify(await sign({ ...baseClaims(now), exp: now + 3600, iss: ISS, aud: ISS })))).toBe('jwt_bad_claims');
    expect(await reasonOf(service.verify('not.a.jwt'))).toBe('jwt_malformed');
    expect(await reasonOf(service.verify('x'.repeat(5000)))).toBe('jwt_malformed');
  });

  it('new SfuTokenService() refuses lifetimes over 5 minutes', () => {
    expect(() => new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_001 })).toThrow(TypeError);
  });
});
