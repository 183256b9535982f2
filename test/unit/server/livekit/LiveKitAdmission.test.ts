// LiveKit admission with a fake membership view: a token presented to validate and to a
// refused connect stays unspent; once a connect is admitted its jti opens that session
// again (resume, reconnect) but no other identity's, not after eviction and not long after
// the session ended; subscribe-only tokens stand on the subscriber check.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../../../src/server/auth/SfuToken.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';
import type { MembershipCheck, MembershipView } from '../../../../src/server/auth/types.ts';
import { DevLiveKitAdmission, MatrixLiveKitAdmission, REUSE_WINDOW_MS } from '../../../../src/server/livekit/LiveKitAdmission.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { rejectionOf } from '../../../tools/errors.ts';

const ISS = 'https://sfu.example.org';
const ROOM = '!room:example.org';
let tokens: SfuTokenService;
let now = 1_800_000_000_000;

beforeAll(async () => {
  const { key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: mkdtempSync(join(tmpdir(), 'sfu-lka-')) });
  tokens = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000, now: () => now });
});

function view(publisher: MembershipCheck, subscriber: MembershipCheck = { ok: false, reason: 'membership_other_sfu' }): MembershipView {
  return { check: () => publisher, checkSubscriber: () => subscriber, watch: () => () => undefined };
}

const reason = (promise: Promise<unknown>) => rejectionOf(promise, AdmissionError, 'reason');

async function mint(canPublish = true, membershipId = 'm1'): Promise<string> {
  return (await tokens.mint({ userId: '@a:example.org', deviceId: 'D', roomId: ROOM, membershipId, grant: { canPublish, canSubscribe: true } })).jwt;
}

describe('MatrixLiveKitAdmission', () => {
  it('admits a publisher token as participant {user}:{device} in the room conference', async () => {
    const admission = new MatrixLiveKitAdmission({ tokens, membership: view({ ok: true, membershipId: 'm1', displayName: 'Alice' }), logger: silentLogger(), now: () => now });
    const ticket = await admission.admit(await mint());
    expect(ticket).toMatchObject({ conferenceId: ROOM, participantId: '@a:example.org:D', identity: '@a:example.org:D', name: 'Alice', canPublish: true, roomName: ROOM });
  });

  it('does not spend a token on validate or on a refused connect', async () => {
    let membership: MembershipCheck = { ok: false, reason: 'no_membership' };
    const admission = new MatrixLiveKitAdmission({ tokens, membership: { check: () => membership, watch: () => () => undefined }, logger: silentLogger(), now: () => now });
    const token = await mint();
    expect(await reason(admission.admit(token))).toBe('membership_ended');
    expect(await reason(admission.validate(token))).toBe('membership_ended');
    membership = { ok: true, membershipId: 'm1' };
    await admission.validate(token);
    await expect(admission.admit(token)).resolves.toMatchObject({ identity: '@a:example.org:D' });
  });

  it('lets the same token reopen its session (resume) until REUSE_WINDOW_MS after it closed, never after eviction', async () => {
    const admission = new MatrixLiveKitAdmission({ tokens, membership: view({ ok: true, membershipId: 'm1' }), logger: silentLogger(), now: () => now });
    const token = await mint();
    const first = await admission.admit(token);
    const second = await admission.admit(token);
    first.closed(false);
    second.closed(false);
    now += REUSE_WINDOW_MS - 1;
    const third = await admission.admit(token);
    third.closed(false);
    now += REUSE_WINDOW_MS + 1;
    expect(await reason(admission.admit(token))).toBe('jwt_replayed');

    const evictedToken = await mint();
    (await admission.admit(evictedToken)).closed(true);
    expect(await reason(admission.admit(evictedToken))).toBe('jwt_replayed');
    expect(await reason(admission.validate(evictedToken))).toBe('jwt_replayed');
  });

  it('admits a subscribe-only token on the subscriber check, without publish rights', async () => {
    const admission = new MatrixLiveKitAdmission({
      tokens,
      membership: view({ ok: false, reason: 'membership_other_sfu' }, { ok: true, membershipId: 'm1' }),
      logger: silentLogger(),
      now: () => now,
    });
    expect(await admission.admit(await mint(false))).toMatchObject({ canPublish: false });
    const publisherToken = await mint(true);
    expect(await reason(admission.admit(publisherToken))).toBe('membership_ended');
  });

  it('refuses a missing or forged token', async () => {
    const admission = new MatrixLiveKitAdmission({ tokens, membership: view({ ok: true, membershipId: 'm1' }), logger: silentLogger(), now: () => now });
    expect(await reason(admission.admit(null))).toBe('jwt_missing');
    const token = await mint();
    expect(await reason(admission.admit(token.slice(0, -4) + 'AAAA'))).toBe('jwt_bad_signature');
  });
});

describe('DevLiveKitAdmission', () => {
  it('reads room and identity from an unsigned token and refuses malformed names', async () => {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = (payload: unknown) => `${part({ alg: 'none' })}.${part(payload)}.`;
    const admission = new DevLiveKitAdmission();
    expect(await admission.admit(token({ sub: 'alice', video: { room: 'r1' } }))).toMatchObject({ conferenceId: 'r1', participantId: 'alice', name: 'alice' });
    expect(await reason(admission.admit(token({ sub: 'a b', video: { room: 'r1' } })))).toBe('jwt_bad_claims');
    expect(await reason(admission.admit('nonsense'))).toBe('jwt_malformed');
  });
});
