// WebSocket admission with a fake membership view: the JWT from the subprotocol (preferred)
// or the query, jti once (persisted), Matrix display names, and the stale-sync rule.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, type SigningKey } from '../../../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../../../src/server/auth/SfuToken.ts';
import { MatrixAdmission, type SyncFreshness } from '../../../../src/server/auth/MatrixAdmission.ts';
import { JtiStore } from '../../../../src/server/auth/JtiStore.ts';
import type { AdmissionRequest } from '../../../../src/server/auth/Admission.ts';
import type { MembershipCheck, MembershipView } from '../../../../src/server/auth/types.ts';
import { PermissionError, SfuError } from '../../../../src/common/lib/errors.ts';
import { jwtFromSubprotocols, jwtSubprotocol } from '../../../../src/common/protocol/admission.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const ISS = 'https://sfu.example.org';
const subject = { userId: '@alice:example.org', deviceId: 'DEV1', roomId: '!room:example.org', membershipId: 'm1' };
let key: SigningKey;
let tokens: SfuTokenService;

beforeAll(async () => {
  ({ key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: mkdtempSync(join(tmpdir(), 'sfu-adm-')) }));
  tokens = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000 });
});

function view(check: MembershipCheck = { ok: true, membershipId: 'm1', displayName: 'Alice A.' }): MembershipView & { unwatched: number } {
  const fake = {
    unwatched: 0,
    check: () => check,
    watch: () => () => {
      fake.unwatched++;
    },
  };
  return fake;
}

function viaSubprotocol(jwt: string): AdmissionRequest {
  return { url: new URL('ws://sfu/ws'), headers: { 'sec-websocket-protocol': `matrix-sfu.v1, ${jwtSubprotocol(jwt)}` }, remoteAddress: '127.0.0.1' };
}

function viaQuery(jwt: string): AdmissionRequest {
  return { url: new URL(`ws://sfu/ws?jwt=${jwt}`), headers: {}, remoteAddress: '127.0.0.1' };
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; reason: string }> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof SfuError)) throw error;
    return { code: error.code, reason: (error.cause as { reason: string }).reason };
  }
  throw new Error('expected a refusal');
}

describe('MatrixAdmission.admit()', () => {
  it('reads the JWT from the offered subprotocol, and still from ?jwt= (older clients)', async () => {
    const admission = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger() });
    const a = await admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt));
    expect(a.participantId).toBe('@alice:example.org:DEV1');
    const b = await admission.admit(viaQuery((await tokens.mint(subject)).jwt));
    expect(b.conferenceId).toBe('!room:example.org');
  });

  it('jwtFromSubprotocols() ignores other protocols and refuses two offered tokens', () => {
    expect(jwtFromSubprotocols('matrix-sfu.v1')).toBeUndefined();
    expect(jwtFromSubprotocols(['matrix-sfu.v1', 'matrix-sfu.jwt.abc'])).toBe('abc');
    expect(jwtFromSubprotocols('matrix-sfu.jwt.a, matrix-sfu.jwt.b')).toBeUndefined();
  });

  it('takes the display name from room state; the client may only narrow it', async () => {
    const admission = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger() });
    const ticket = await admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt));
    expect(ticket.displayName).toBe('Alice A.');
    expect(ticket.displayNameFor?.('Mallory')).toBe('Alice A.');
    expect(ticket.displayNameFor?.('Alice A. (tablet)')).toBe('Alice A. (tablet)');
    const unnamed = new MatrixAdmission({ tokens, membership: view({ ok: true, membershipId: 'm1' }), logger: silentLogger() });
    expect((await unnamed.admit(viaSubprotocol((await tokens.mint(subject)).jwt))).displayName).toBe('@alice:example.org');
  });

  it('a jti opens one session, also after a restart with the same data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sfu-adm-jti-'));
    const { jwt } = await tokens.mint(subject);
    const before = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger(), jtis: await JtiStore.open({ dataDir, logger: silentLogger() }) });
    await before.admit(viaSubprotocol(jwt));
    expect(await refusal(before.admit(viaQuery(jwt)))).toEqual({ code: 'UNAUTHORIZED', reason: 'jwt_replayed' });
    const after = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger(), jtis: await JtiStore.open({ dataDir, logger: silentLogger() }) });
    expect(await refusal(after.admit(viaSubprotocol(jwt)))).toEqual({ code: 'UNAUTHORIZED', reason: 'jwt_replayed' });
  });

  it('a refused attempt (membership not live) does not use up the jti', async () => {
    const ended = new MatrixAdmission({ tokens, membership: view({ ok: false, reason: 'no_membership' }), logger: silentLogger() });
    const { jwt } = await tokens.mint(subject);
    const first = await refusal(ended.admit(viaSubprotocol(jwt)));
    expect(first).toEqual({ code: 'UNAUTHORIZED', reason: 'membership_ended' });
  });
});

describe('MatrixAdmission while the Matrix sync is stale', () => {
  function stale(lastSyncAtMs: number): SyncFreshness {
    return { isFresh: () => false, lastSyncAtMs };
  }

  it('refuses a new session with a retryable DRAINING (close 4006), reason sync_stale', async () => {
    const now = Date.now();
    const admission = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger(), sync: stale(now - 50_000), staleAdmissionMs: 120_000 });
    expect(await refusal(admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt)))).toEqual({ code: 'DRAINING', reason: 'sync_stale' });
  });

  it('admits a returning session (same participant had a session when the sync went stale) within staleAdmissionMs, not after', async () => {
    let now = Date.now();
    const sync = { fresh: true, lastSyncAtMs: now, isFresh: () => sync.fresh };
    const membership = view();
    const admission = new MatrixAdmission({ tokens, membership, logger: silentLogger(), sync, staleAdmissionMs: 120_000, now: () => now });
    const first = await admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt));
    const unwatch = first.watch!(() => undefined);
    // The homeserver goes away; the client's socket drops and it comes back.
    sync.fresh = false;
    now += 30_000;
    unwatch();
    unwatch();
    expect(membership.unwatched).toBe(1);
    await admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt));
    const other = { ...subject, userId: '@bob:example.org' };
    expect((await refusal(admission.admit(viaSubprotocol((await tokens.mint(other)).jwt)))).reason).toBe('sync_stale');
    now += 100_000;
    expect((await refusal(admission.admit(viaSubprotocol((await tokens.mint(subject)).jwt)))).reason).toBe('sync_stale');
  });

  it('PermissionError stays the refusal for non-retryable reasons', async () => {
    const admission = new MatrixAdmission({ tokens, membership: view(), logger: silentLogger() });
    await expect(admission.admit({ url: new URL('ws://sfu/ws'), headers: {}, remoteAddress: undefined })).rejects.toBeInstanceOf(PermissionError);
  });
});
