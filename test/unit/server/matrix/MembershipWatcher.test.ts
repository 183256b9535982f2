// CallStateIndex + MembershipWatcher with fake events and fake timers: who may
// be admitted, and the eviction reason for each way a membership ends.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MembershipWatcher } from '../../../../src/server/matrix/MembershipWatcher.ts';
import { OUR_FOCUS_TYPE } from '../../../../src/server/matrix/callMembership.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const ROOM = '!room:example.org';
const SFU = 'https://sfu.example.org';
const OURS = { type: OUR_FOCUS_TYPE, sfu_service_url: SFU };
const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
let now = 1_000_000;
let counter = 0;

function member(userId: string, membership: string, sender = userId) {
  return { type: 'm.room.member', state_key: userId, sender, content: { membership }, event_id: `$m${counter++}`, origin_server_ts: now };
}

function call(userId: string, deviceId: string, content: Record<string, unknown> = {}) {
  return {
    type: 'org.matrix.msc3401.call.member',
    state_key: `_${userId}_${deviceId}_m.call`,
    sender: userId,
    event_id: `$c${counter++}`,
    origin_server_ts: now,
    content: {
      application: 'm.call',
      call_id: '',
      scope: 'm.room',
      device_id: deviceId,
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: [OURS],
      ...content,
    },
  };
}

function left(userId: string, deviceId: string) {
  return { ...call(userId, deviceId), content: {} };
}

let watcher: MembershipWatcher;

beforeEach(() => {
  vi.useFakeTimers();
  now = 1_000_000;
  vi.setSystemTime(now);
  watcher = new MembershipWatcher({ focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU }, logger: silentLogger(), now: () => now });
});

afterEach(() => {
  watcher.close();
  vi.useRealTimers();
});

function admitted(deviceId = 'DEV', userId = ALICE) {
  const check = watcher.check(ROOM, userId, deviceId);
  if (!check.ok) throw new Error(check.reason);
  const ended: string[] = [];
  watcher.watch(ROOM, userId, deviceId, check.membershipId, (reason) => ended.push(reason));
  return ended;
}

describe('MembershipWatcher.check()', () => {
  it('admits a joined user with a live membership naming this SFU', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toEqual({ ok: true, membershipId: `${ALICE}:DEV` });
  });

  it('refuses with the precise reason: not_joined, no_membership, membership_other_sfu, membership_expired', () => {
    watcher.ingest(ROOM, [call(ALICE, 'DEV')]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toEqual({ ok: false, reason: 'not_joined' });
    watcher.ingest(ROOM, [member(ALICE, 'join')]);
    expect(watcher.check(ROOM, ALICE, 'OTHER')).toEqual({ ok: false, reason: 'no_membership' });
    watcher.ingest(ROOM, [call(ALICE, 'DEV2', { foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://lk.example' }] })]);
    expect(watcher.check(ROOM, ALICE, 'DEV2')).toEqual({ ok: false, reason: 'membership_other_sfu' });
    watcher.ingest(ROOM, [call(ALICE, 'DEV3', { expires: 1000, created_ts: now - 5000 })]);
    expect(watcher.check(ROOM, ALICE, 'DEV3')).toEqual({ ok: false, reason: 'membership_expired' });
  });

  it('follows oldest_membership: a device naming us is refused when the oldest member names another SFU', () => {
    now -= 10_000;
    watcher.ingest(ROOM, [member(BOB, 'join'), call(BOB, 'B', { focus_active: { type: 'livekit', focus_selection: 'oldest_membership' }, foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://lk.example' }] })]);
    now += 10_000;
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV', { focus_active: { type: 'livekit', focus_selection: 'oldest_membership' } })]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toEqual({ ok: false, reason: 'membership_other_sfu' });
  });

  it('ignores a forged membership for another user (state key user ≠ sender) and drops the slot', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), member(BOB, 'join'), call(ALICE, 'DEV')]);
    watcher.ingest(ROOM, [{ ...call(ALICE, 'DEV'), sender: BOB }]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toEqual({ ok: false, reason: 'no_membership' });
  });
});

describe('MembershipWatcher eviction', () => {
  beforeEach(() => watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]));

  it('membership emptied (leave or fired delayed leave) → membership-ended', () => {
    const ended = admitted();
    watcher.ingest(ROOM, [left(ALICE, 'DEV')]);
    expect(ended).toEqual(['membership-ended']);
  });

  it('membership moved to another SFU → moved-sfu', () => {
    const ended = admitted();
    watcher.ingest(ROOM, [call(ALICE, 'DEV', { foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://lk.example' }] })]);
    expect(ended).toEqual(['moved-sfu']);
  });

  it('user left the room → left-room; kicked → kicked; banned → banned', () => {
    const leftRoom = admitted();
    watcher.ingest(ROOM, [member(ALICE, 'leave')]);
    expect(leftRoom).toEqual(['left-room']);
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const kicked = admitted();
    watcher.ingest(ROOM, [member(ALICE, 'leave', BOB)]);
    expect(kicked).toEqual(['kicked']);
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const banned = admitted();
    watcher.ingest(ROOM, [member(ALICE, 'ban', BOB)]);
    expect(banned).toEqual(['banned']);
  });

  it('membership expiry fires a timer → membership-expired, without any new event', () => {
    watcher.ingest(ROOM, [call(ALICE, 'EXP', { expires: 60_000 })]);
    const ended = admitted('EXP');
    now += 59_000;
    vi.advanceTimersByTime(59_000);
    expect(ended).toEqual([]);
    now += 2_000;
    vi.advanceTimersByTime(2_000);
    expect(ended).toEqual(['membership-expired']);
  });

  it('the SFU account leaving the room evicts everyone there; unwatch stops callbacks; each callback fires once', () => {
    const ended = admitted();
    watcher.ingest(ROOM, [member(BOB, 'join'), call(BOB, 'B')]);
    const check = watcher.check(ROOM, BOB, 'B');
    const bobEnded: string[] = [];
    const unwatch = watcher.watch(ROOM, BOB, 'B', check.ok ? check.membershipId : '', (reason) => bobEnded.push(reason));
    unwatch();
    watcher.dropRoom(ROOM);
    watcher.ingest(ROOM, [left(ALICE, 'DEV')]);
    expect(ended).toEqual(['left-room']);
    expect(bobEnded).toEqual([]);
  });

  it('watch() on a membership that already ended evicts at once', () => {
    const ended: string[] = [];
    watcher.watch(ROOM, ALICE, 'DEV', 'some-older-membership', (reason) => ended.push(reason));
    expect(ended).toEqual(['membership-ended']);
  });
});
