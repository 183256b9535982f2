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

function redaction(target: string, sender = ALICE) {
  return { type: 'm.room.redaction', redacts: target, sender, content: {}, event_id: `$r${counter++}`, origin_server_ts: now };
}

describe('redaction of a call membership', () => {
  it('a redaction of the watched membership event evicts with membership-redacted, whoever sent it, without grace', () => {
    const graceful = new MembershipWatcher({ focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU }, logger: silentLogger(), now: () => now, graceMs: 15_000 });
    try {
      for (const redactor of [ALICE, BOB]) {
        const membership = call(ALICE, `D${redactor.length}`);
        graceful.ingest(ROOM, [member(ALICE, 'join'), member(BOB, 'join'), membership]);
        const check = graceful.check(ROOM, ALICE, membership.content.device_id);
        const ended: string[] = [];
        graceful.watch(ROOM, ALICE, membership.content.device_id, check.ok ? check.membershipId : '', (reason) => ended.push(reason));
        // Room version 11 puts `redacts` in the content; older versions at the top level.
        const { redacts, ...v11 } = redaction(membership.event_id, redactor);
        graceful.ingest(ROOM, [redactor === ALICE ? redaction(membership.event_id, redactor) : { ...v11, content: { redacts } }]);
        expect(ended).toEqual(['membership-redacted']);
        expect(graceful.check(ROOM, ALICE, membership.content.device_id)).toEqual({ ok: false, reason: 'no_membership' });
      }
    } finally {
      graceful.close();
    }
  });

  it('a redacted call.member event (unsigned.redacted_because) is a leave, from sync or snapshot', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const ended = admitted();
    watcher.ingest(ROOM, [{ ...call(ALICE, 'DEV'), content: {}, unsigned: { redacted_because: { sender: BOB } } }]);
    expect(ended).toEqual(['membership-redacted']);
  });

  it('a redaction of anything else changes nothing; of an m.room.member event it drops only the display name', () => {
    const joinEvent = { ...member(ALICE, 'join'), content: { membership: 'join', displayname: 'Alice' } };
    watcher.ingest(ROOM, [joinEvent, call(ALICE, 'DEV')]);
    const ended = admitted();
    watcher.ingest(ROOM, [redaction('$some-message'), redaction(joinEvent.event_id, BOB)]);
    expect(ended).toEqual([]);
    expect(watcher.check(ROOM, ALICE, 'DEV')).toEqual({ ok: true, membershipId: `${ALICE}:DEV` });
  });
});

describe('state snapshot (reconciliation backstop)', () => {
  it('applies what /state says for entries the sync did not change since the fetch began', () => {
    const membership = call(ALICE, 'DEV');
    watcher.ingest(ROOM, [member(ALICE, 'join'), membership]);
    const ended = admitted();
    const generation = watcher.index.generation(ROOM);
    // /state after a redaction the sync never delivered: same event id, content {}.
    watcher.applySnapshot(ROOM, [member(ALICE, 'join'), { ...membership, content: {}, unsigned: { redacted_because: {} } }], generation);
    expect(ended).toEqual(['membership-redacted']);
  });

  it('leaves alone entries the sync changed after the fetch began (the sync is newer)', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const generation = watcher.index.generation(ROOM);
    const fresh = call(ALICE, 'DEV');
    watcher.ingest(ROOM, [fresh]);
    const ended = admitted();
    watcher.applySnapshot(ROOM, [member(ALICE, 'join'), left(ALICE, 'DEV')], generation);
    expect(ended).toEqual([]);
    expect(watcher.check(ROOM, ALICE, 'DEV').ok).toBe(true);
  });

  it('a slot missing from the snapshot is dropped', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const ended = admitted();
    watcher.applySnapshot(ROOM, [member(ALICE, 'join')], watcher.index.generation(ROOM));
    expect(ended).toEqual(['membership-ended']);
  });

  it('watchedRoomIds() lists rooms with sessions only', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    expect(watcher.watchedRoomIds()).toEqual([]);
    admitted();
    expect(watcher.watchedRoomIds()).toEqual([ROOM]);
  });
});

describe('oldest_membership capture', () => {
  const oldest = { focus_active: { type: 'livekit', focus_selection: 'oldest_membership' } };
  const elsewhere = { ...oldest, foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://evil.example' }] };
  beforeEach(() => {
    now = 1_760_000_000_000;
  });

  it('a new member claiming created_ts 0 and a huge expires does not become oldest, so nobody is evicted', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), member(BOB, 'join'), call(ALICE, 'DEV', oldest)]);
    const ended = admitted();
    now += 60_000;
    watcher.ingest(ROOM, [call(BOB, 'B', { ...elsewhere, created_ts: 0, expires: Number.MAX_SAFE_INTEGER })]);
    expect(ended).toEqual([]);
    const live = watcher.index.liveMemberships(ROOM, now);
    expect(live.map((m) => m.userId)).toEqual([ALICE, BOB]);
    expect(live[1]!.createdTs).toBe(now);
    expect(live[1]!.expiresAtMs).toBe(now + 14_700_000);
  });

  it('a refresh keeps the age the SFU saw, never an older claimed one', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV', oldest)]);
    const start = now;
    now += 3_600_000;
    watcher.ingest(ROOM, [call(ALICE, 'DEV', { ...oldest, created_ts: start, expires: 28_800_000 })]);
    expect(watcher.index.liveMemberships(ROOM, now)[0]!.createdTs).toBe(start);
    now += 3_600_000;
    watcher.ingest(ROOM, [call(ALICE, 'DEV', { ...oldest, created_ts: 0, expires: Number.MAX_SAFE_INTEGER })]);
    expect(watcher.index.liveMemberships(ROOM, now)[0]!.createdTs).toBe(start);
  });

  it('from a snapshot (SFU restart), a claim may reach back one refresh period', () => {
    watcher.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV', { ...oldest, created_ts: 0, expires: Number.MAX_SAFE_INTEGER })], 'snapshot');
    expect(watcher.index.liveMemberships(ROOM, now)[0]!.createdTs).toBe(now - 14_700_000);
  });
});

describe('display name from room state', () => {
  it('check() returns the m.room.member displayname, cleaned of control characters and bounded', () => {
    watcher.ingest(ROOM, [{ ...member(ALICE, 'join'), content: { membership: 'join', displayname: ' Al\u202Eice\u0007 ' + 'x'.repeat(200) } }, call(ALICE, 'DEV')]);
    const check = watcher.check(ROOM, ALICE, 'DEV');
    expect(check.ok && check.displayName).toBe(('Alice ' + 'x'.repeat(200)).slice(0, 128));
    watcher.ingest(ROOM, [{ ...member(ALICE, 'join'), content: { membership: 'join', displayname: '\u200B' } }]);
    const blank = watcher.check(ROOM, ALICE, 'DEV');
    expect(blank.ok && blank.displayName).toBeUndefined();
  });
});

describe('grace after membership-ended / membership-expired (homeserver outage)', () => {
  let graceful: MembershipWatcher;
  const graces: string[] = [];
  const GRACE_MS = 15_000;

  beforeEach(() => {
    graces.length = 0;
    graceful = new MembershipWatcher({ focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU }, logger: silentLogger(), now: () => Date.now(), graceMs: GRACE_MS, onGrace: (outcome) => graces.push(outcome) });
    graceful.ingest(ROOM, [member(ALICE, 'join'), member(BOB, 'join'), call(ALICE, 'DEV')]);
  });
  afterEach(() => graceful.close());

  function watched(): string[] {
    const check = graceful.check(ROOM, ALICE, 'DEV');
    const ended: string[] = [];
    graceful.watch(ROOM, ALICE, 'DEV', check.ok ? check.membershipId : '', (reason) => ended.push(reason));
    return ended;
  }

  it('keeps the session when the same user and device restore a live membership within the grace', () => {
    const ended = watched();
    graceful.ingest(ROOM, [left(ALICE, 'DEV')]);
    vi.advanceTimersByTime(10_000);
    graceful.ingest(ROOM, [call(ALICE, 'DEV', { membershipID: 'new-session-id' })]);
    vi.advanceTimersByTime(60_000);
    expect(ended).toEqual([]);
    expect(graces).toEqual(['restored']);
    // The watch now stands on the new membership: ending that one starts a new grace.
    graceful.ingest(ROOM, [left(ALICE, 'DEV')]);
    vi.advanceTimersByTime(GRACE_MS + 1);
    expect(ended).toEqual(['membership-ended']);
  });

  it('evicts with the original reason when the grace runs out', () => {
    const ended = watched();
    graceful.ingest(ROOM, [left(ALICE, 'DEV')]);
    vi.advanceTimersByTime(GRACE_MS - 1);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(2);
    expect(ended).toEqual(['membership-ended']);
    expect(graces).toEqual(['expired']);
  });

  it('gives grace to an expired membership too', () => {
    graceful.ingest(ROOM, [call(ALICE, 'EXP', { expires: 1000 })]);
    const check = graceful.check(ROOM, ALICE, 'EXP');
    const ended: string[] = [];
    graceful.watch(ROOM, ALICE, 'EXP', check.ok ? check.membershipId : '', (reason) => ended.push(reason));
    vi.advanceTimersByTime(1001);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(GRACE_MS + 1);
    expect(ended).toEqual(['membership-expired']);
  });

  it('never gives grace to a kick, a ban, leaving the room or moving to another SFU, and a kick during grace evicts at once', () => {
    const moved = watched();
    graceful.ingest(ROOM, [call(ALICE, 'DEV', { foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://lk.example' }] })]);
    expect(moved).toEqual(['moved-sfu']);
    graceful.ingest(ROOM, [call(ALICE, 'DEV')]);
    const kicked = watched();
    graceful.ingest(ROOM, [left(ALICE, 'DEV')]);
    expect(kicked).toEqual([]);
    graceful.ingest(ROOM, [member(ALICE, 'leave', BOB)]);
    expect(kicked).toEqual(['kicked']);
    graceful.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const banned = watched();
    graceful.ingest(ROOM, [member(ALICE, 'ban', BOB)]);
    expect(banned).toEqual(['banned']);
  });

  it('ignores a superseded state event the sync delivers again after the restore (seen after a real outage)', () => {
    const ended = watched();
    const emptied = left(ALICE, 'DEV');
    graceful.ingest(ROOM, [emptied]);
    graceful.ingest(ROOM, [call(ALICE, 'DEV', { membershipID: 'restored' })]);
    expect(graces).toEqual(['restored']);
    // The old "emptied" event again, e.g. in the state block of a later incremental sync.
    graceful.ingest(ROOM, [emptied]);
    vi.advanceTimersByTime(GRACE_MS * 2);
    expect(ended).toEqual([]);
    expect(graceful.check(ROOM, ALICE, 'DEV').ok).toBe(true);
  });

  it('ignores a superseded m.room.member event delivered again, but a /state snapshot still applies it', () => {
    const ended = watched();
    const leaveEvent = member(ALICE, 'leave');
    graceful.ingest(ROOM, [leaveEvent]);
    expect(ended).toEqual(['left-room']);
    graceful.ingest(ROOM, [member(ALICE, 'join'), call(ALICE, 'DEV')]);
    const again = watched();
    graceful.ingest(ROOM, [leaveEvent]);
    expect(again).toEqual([]);
    // The homeserver's own answer is authoritative (state resolution may go back to an old event).
    graceful.applySnapshot(ROOM, [leaveEvent], graceful.index.generation(ROOM));
    expect(again).toEqual(['left-room']);
  });

  it('a restored membership naming another SFU does not end the grace', () => {
    const ended = watched();
    graceful.ingest(ROOM, [left(ALICE, 'DEV')]);
    graceful.ingest(ROOM, [call(ALICE, 'DEV', { foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://lk.example' }] })]);
    expect(ended).toEqual(['moved-sfu']);
  });
});
