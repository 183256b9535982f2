// Pending tokens (issued before the device had a call membership, as Element Call asks for
// its token first): which check results yield one, how a connect binds one to the membership
// that appears (waiting a bounded time), and that both edges' admissions watch and refresh
// the bound membership, never the placeholder.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../../../src/server/auth/SfuToken.ts';
import { AdmissionError } from '../../../../src/server/auth/errors.ts';
import { MatrixAdmission } from '../../../../src/server/auth/MatrixAdmission.ts';
import { bindMembership, PENDING_MEMBERSHIP, tokenMembershipFor } from '../../../../src/server/auth/pendingMembership.ts';
import type { MembershipCheck, MembershipView } from '../../../../src/server/auth/types.ts';
import { MatrixLiveKitAdmission } from '../../../../src/server/livekit/LiveKitAdmission.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { rejectionOf } from '../../../tools/errors.ts';
import { PermissionError } from '../../../../src/common/lib/errors.ts';

const ROOM = '!room:example.org';
const ISS = 'https://sfu.example.org';
const reason = (promise: Promise<unknown>) => rejectionOf(promise, AdmissionError, 'reason');

/** A view whose check answers `checks[i]` on the i-th call (the last one after that); watched ids are recorded. */
function sequence(...checks: MembershipCheck[]): MembershipView & { calls: number; watched: string[] } {
  const view = {
    calls: 0,
    watched: [] as string[],
    check: (): MembershipCheck => checks[Math.min(view.calls++, checks.length - 1)]!,
    watch: (_room: string, _user: string, _device: string, membershipId: string) => {
      view.watched.push(membershipId);
      return () => undefined;
    },
  };
  return view;
}

/** A fake clock for bindMembership: sleeping advances it. */
function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number } {
  const clock = { t: 0, slept: 0, now: () => clock.t, sleep: async (ms: number) => void ((clock.t += ms), (clock.slept += ms)) };
  return clock;
}

const request = (membership: string) => ({ room: ROOM, user: '@a:example.org', device: 'D', membership, role: 'publisher' as const });

describe('tokenMembershipFor()', () => {
  it('names the live membership, the pending placeholder for a device without one, and nothing for other refusals', () => {
    expect(tokenMembershipFor({ ok: true, membershipId: 'm1' })).toBe('m1');
    expect(tokenMembershipFor({ ok: false, reason: 'no_membership' })).toBe(PENDING_MEMBERSHIP);
    for (const refusal of ['not_joined', 'membership_other_sfu', 'membership_expired'] as const) {
      expect(tokenMembershipFor({ ok: false, reason: refusal })).toBeUndefined();
    }
  });
});

describe('bindMembership()', () => {
  it('holds a bound token to its own membership: live passes, replaced or ended is membership_ended, without waiting', async () => {
    const clock = fakeClock();
    await expect(bindMembership(sequence({ ok: true, membershipId: 'm1' }), request('m1'), { waitMs: 10_000, ...clock })).resolves.toMatchObject({ membershipId: 'm1' });
    expect(await reason(bindMembership(sequence({ ok: true, membershipId: 'm2' }), request('m1'), { waitMs: 10_000, ...clock }))).toBe('membership_ended');
    expect(await reason(bindMembership(sequence({ ok: false, reason: 'no_membership' }), request('m1'), { waitMs: 10_000, ...clock }))).toBe('membership_ended');
    expect(clock.slept).toBe(0);
  });

  it('binds a pending token to the membership that appears while it waits', async () => {
    const clock = fakeClock();
    const view = sequence({ ok: false, reason: 'no_membership' }, { ok: false, reason: 'no_membership' }, { ok: true, membershipId: 'm7', displayName: 'A' });
    await expect(bindMembership(view, request(PENDING_MEMBERSHIP), { waitMs: 10_000, ...clock })).resolves.toEqual({ ok: true, membershipId: 'm7', displayName: 'A' });
    expect(clock.slept).toBe(200);
  });

  it('refuses a pending token with no_membership after waitMs, and at once when the membership names another SFU', async () => {
    const clock = fakeClock();
    expect(await reason(bindMembership(sequence({ ok: false, reason: 'no_membership' }), request(PENDING_MEMBERSHIP), { waitMs: 1000, ...clock }))).toBe('no_membership');
    expect(clock.slept).toBe(1000);
    const other = fakeClock();
    expect(await reason(bindMembership(sequence({ ok: false, reason: 'membership_other_sfu' }), request(PENDING_MEMBERSHIP), { waitMs: 1000, ...other }))).toBe('membership_ended');
    expect(other.slept).toBe(0);
  });
});

describe('admissions with a pending token', () => {
  let tokens: SfuTokenService;
  beforeAll(async () => {
    const { key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: mkdtempSync(join(tmpdir(), 'sfu-pending-')) });
    tokens = new SfuTokenService({ key, issuer: ISS, audience: ISS, lifetimeMs: 300_000 });
  });
  const pending = async () => (await tokens.mint({ userId: '@a:example.org', deviceId: 'D', roomId: ROOM, membershipId: PENDING_MEMBERSHIP })).jwt;

  it('the livekit edge waits for the membership, then watches and refreshes the bound one; validate does not wait', async () => {
    const view = sequence({ ok: false, reason: 'no_membership' }, { ok: false, reason: 'no_membership' }, { ok: true, membershipId: 'm9' });
    const admission = new MatrixLiveKitAdmission({ tokens, membership: view, logger: silentLogger(), pendingMembershipWaitMs: 5000 });
    const token = await pending();
    expect(await reason(admission.validate(token))).toBe('no_membership');
    const ticket = await admission.admit(token);
    expect(ticket.identity).toBe('@a:example.org:D');
    ticket.watch?.(() => undefined);
    expect(view.watched).toEqual(['m9']);
    expect(await tokens.verify(await ticket.refresh!())).toMatchObject({ membership: 'm9' });
  });

  it('the livekit edge refuses a pending token whose membership never appears', async () => {
    const admission = new MatrixLiveKitAdmission({ tokens, membership: sequence({ ok: false, reason: 'no_membership' }), logger: silentLogger(), pendingMembershipWaitMs: 250 });
    expect(await reason(admission.admit(await pending()))).toBe('no_membership');
  });

  it('the native edge binds a pending token the same way, and refuses it without a membership', async () => {
    const view = sequence({ ok: false, reason: 'no_membership' }, { ok: true, membershipId: 'm3' });
    const admission = new MatrixAdmission({ tokens, membership: view, logger: silentLogger(), pendingMembershipWaitMs: 5000 });
    const jwt = await pending();
    const ticket = await admission.admit({ url: new URL(`ws://sfu/ws?jwt=${jwt}`), headers: {}, remoteAddress: undefined });
    ticket.watch?.(() => undefined);
    expect(view.watched).toEqual(['m3']);
    const never = new MatrixAdmission({ tokens, membership: sequence({ ok: false, reason: 'no_membership' }), logger: silentLogger(), pendingMembershipWaitMs: 250 });
    const refused = await never.admit({ url: new URL(`ws://sfu/ws?jwt=${await pending()}`), headers: {}, remoteAddress: undefined }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PermissionError);
    expect(((refused as PermissionError).cause as AdmissionError).reason).toBe('no_membership');
  });
});
