// The livekit focus rules of the membership view: a `livekit` transport with our service
// URL names this SFU (publish), a live member whose focus is elsewhere may subscribe only
// while someone publishes here, and a subscriber's session ends when the last publisher's
// membership goes.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MembershipWatcher } from '../../../../src/server/matrix/MembershipWatcher.ts';
import { OUR_FOCUS_TYPE } from '../../../../src/server/matrix/callMembership.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import type { EvictionReason } from '../../../../src/server/auth/Admission.ts';

const ROOM = '!room:example.org';
const SFU = 'https://sfu.example.org';
const OUR_LIVEKIT = { type: 'livekit', livekit_service_url: `${SFU}/` };
const OTHER_LIVEKIT = { type: 'livekit', livekit_service_url: 'https://lk-jwt.other-agency.example' };
const ALICE = '@alice:example.org';
const BOB = '@bob:other.example';
let now = 1_000_000;
let counter = 0;

function member(userId: string, membership: string) {
  return { type: 'm.room.member', state_key: userId, sender: userId, content: { membership }, event_id: `$m${counter++}`, origin_server_ts: now };
}

function call(userId: string, deviceId: string, focus: Record<string, unknown>) {
  return {
    type: 'org.matrix.msc3401.call.member',
    state_key: `_${userId}_${deviceId}_m.call`,
    sender: userId,
    event_id: `$c${counter++}`,
    origin_server_ts: now,
    content: {
      application: 'm.call',
      call_id: '',
      device_id: deviceId,
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: [focus],
    },
  };
}

function left(userId: string, deviceId: string) {
  return { ...call(userId, deviceId, OUR_LIVEKIT), content: {} };
}

function watcherWith(liveKitServiceUrl: string | undefined): MembershipWatcher {
  return new MembershipWatcher({
    focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU, ...(liveKitServiceUrl ? { liveKitServiceUrl } : {}) },
    logger: silentLogger(),
    now: () => now,
  });
}

let watcher: MembershipWatcher;

beforeEach(() => {
  vi.useFakeTimers();
  now = 1_000_000;
  watcher = watcherWith(SFU);
  watcher.ingest(ROOM, [member(ALICE, 'join'), member(BOB, 'join')]);
});

afterEach(() => {
  watcher.close();
  vi.useRealTimers();
});

describe('a livekit focus naming this SFU', () => {
  it('admits its member as a publisher (service URLs compared after normalisation)', () => {
    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT)]);
    expect(watcher.check(ROOM, ALICE, 'A1')).toMatchObject({ ok: true });
  });

  it('does not name this SFU when the livekit edge is off', () => {
    const off = watcherWith(undefined);
    off.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'A1', OUR_LIVEKIT)]);
    expect(off.check(ROOM, ALICE, 'A1')).toEqual({ ok: false, reason: 'membership_other_sfu' });
    off.close();
  });

  it('admits a member whose focus is another LiveKit as a subscriber only while someone publishes here', () => {
    watcher.ingest(ROOM, [call(BOB, 'B1', OTHER_LIVEKIT)]);
    expect(watcher.check(ROOM, BOB, 'B1')).toEqual({ ok: false, reason: 'membership_other_sfu' });
    expect(watcher.checkSubscriber(ROOM, BOB, 'B1')).toEqual({ ok: false, reason: 'membership_other_sfu' });
    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT)]);
    expect(watcher.checkSubscriber(ROOM, BOB, 'B1')).toMatchObject({ ok: true, membershipId: `${BOB}:B1` });
  });

  it('refuses a subscriber without a live membership or not joined', () => {
    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT)]);
    expect(watcher.checkSubscriber(ROOM, BOB, 'B1')).toEqual({ ok: false, reason: 'no_membership' });
    expect(watcher.checkSubscriber(ROOM, '@eve:example.org', 'E1')).toEqual({ ok: false, reason: 'not_joined' });
  });

  it('evicts a subscriber (moved-sfu) when the last publisher here leaves, and on its own leave', () => {
    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT), call(BOB, 'B1', OTHER_LIVEKIT)]);
    const reasons: EvictionReason[] = [];
    watcher.watch(ROOM, BOB, 'B1', `${BOB}:B1`, (reason) => reasons.push(reason), 'subscriber');
    expect(reasons).toEqual([]);
    watcher.ingest(ROOM, [left(ALICE, 'A1')]);
    expect(reasons).toEqual(['moved-sfu']);

    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT)]);
    watcher.watch(ROOM, BOB, 'B1', `${BOB}:B1`, (reason) => reasons.push(reason), 'subscriber');
    watcher.ingest(ROOM, [left(BOB, 'B1')]);
    expect(reasons).toEqual(['moved-sfu', 'membership-ended']);
  });

  it('keeps watching a publisher by the publisher rule (moved-sfu when it moves elsewhere)', () => {
    watcher.ingest(ROOM, [call(ALICE, 'A1', OUR_LIVEKIT)]);
    const reasons: EvictionReason[] = [];
    watcher.watch(ROOM, ALICE, 'A1', `${ALICE}:A1`, (reason) => reasons.push(reason));
    watcher.ingest(ROOM, [call(ALICE, 'A1', OTHER_LIVEKIT)]);
    expect(reasons).toEqual(['moved-sfu']);
  });
});
