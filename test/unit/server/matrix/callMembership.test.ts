// Unit tests for src/server/matrix/callMembership.ts: one test per parsing rule and fault, the
// expiry arithmetic, both state-key forms, leaves, and transport selection.
import { describe, expect, it } from 'vitest';

import {
  CALL_MEMBER_EVENT_TYPE,
  DEFAULT_MEMBERSHIP_EXPIRES_MS,
  MAX_EXPIRES_AHEAD_MS,
  OUR_FOCUS_TYPE,
  activeFocus,
  isLive,
  membershipStateKey,
  namesOurSfu,
  oldestMembership,
  parseCallMembershipEvent,
} from '../../../../src/server/matrix/callMembership.ts';
import type { CallMembership, CallMembershipEvent, Transport } from '../../../../src/server/matrix/callMembership.ts';
import { CallMembershipParseError } from '../../../../src/server/matrix/errors.ts';
import type { DeviceId, MatrixUserId } from '../../../../src/server/matrix/types.ts';

const ALICE = '@alice:example.org' as MatrixUserId;
const BOB = '@bob:example.org' as MatrixUserId;
const OTS = 1_760_000_000_000;
const OUR_URL = 'https://sfu.example.org';
const OUR_TRANSPORT = { type: OUR_FOCUS_TYPE, sfu_service_url: OUR_URL };
const LIVEKIT_TRANSPORT = { type: 'livekit', livekit_service_url: 'https://rtc.example.org/livekit/jwt' };

/** Element Call's content shape (src/server/matrix/README.md §2) with our transport preferred. */
function content(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'application': 'm.call',
    'call_id': '',
    'scope': 'm.room',
    'device_id': 'DEV123',
    'membershipID': `${ALICE}:DEV123`,
    'expires': 14_400_000,
    'm.call.intent': 'video',
    'focus_active': { type: 'livekit', focus_selection: 'multi_sfu' },
    'foci_preferred': [OUR_TRANSPORT],
    'created_ts': OTS - 60_000,
    ...overrides,
  };
}

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: CALL_MEMBER_EVENT_TYPE,
    state_key: `_${ALICE}_DEV123_m.call`,
    sender: ALICE,
    content: content(),
    origin_server_ts: OTS,
    event_id: '$event1',
    ...overrides,
  };
}

function faultsOf(raw: unknown): readonly string[] {
  try {
    parseCallMembershipEvent(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(CallMembershipParseError);
    const parseError = error as CallMembershipParseError;
    expect(parseError.code).toBe('MATRIX_CALL_MEMBERSHIP_INVALID');
    return parseError.faults;
  }
  throw new Error('expected parseCallMembershipEvent() to throw');
}

function joined(raw: unknown): CallMembership {
  const parsed = parseCallMembershipEvent(raw);
  if (parsed.kind !== 'joined') throw new Error(`expected a joined membership, got ${parsed.kind}`);
  return parsed;
}

/** A joined membership for `user`/`device`, created at `createdTs`, with the given focus fields. */
function member(
  user: MatrixUserId,
  device: string,
  createdTs: number,
  extra: Record<string, unknown> = {},
): CallMembership {
  return joined(
    event({
      sender: user,
      state_key: membershipStateKey(user, device as DeviceId),
      event_id: `$${user}-${device}`,
      content: content({ device_id: device, membershipID: undefined, created_ts: createdTs, ...extra }),
    }),
  );
}

describe('parseCallMembershipEvent()', () => {
  it('parses an Element Call membership in the underscore state-key form', () => {
    const m = joined(event());
    expect(m).toMatchObject({
      kind: 'joined',
      eventId: '$event1',
      stateKey: `_${ALICE}_DEV123_m.call`,
      stateKeyForm: 'underscore',
      userId: ALICE,
      deviceId: 'DEV123',
      application: 'm.call',
      callId: '',
      scope: 'm.room',
      focusActive: { type: 'livekit', focusSelection: 'multi_sfu' },
      fociPreferred: [OUR_TRANSPORT],
      membershipId: `${ALICE}:DEV123`,
      callIntent: 'video',
      capabilities: undefined,
      originServerTs: OTS,
      createdTs: OTS - 60_000,
      expiresMs: 14_400_000,
      rtcBackendIdentity: `${ALICE}:DEV123`,
      applicationData: {},
    });
  });

  it('parses the owned state-key form of MSC3757 rooms', () => {
    const m = joined(event({ state_key: `${ALICE}_DEV123_m.call` }));
    expect(m.stateKeyForm).toBe('owned');
    expect(m.userId).toBe(ALICE);
  });

  it('splits device ids that contain underscores using content.device_id', () => {
    const m = joined(event({ state_key: `_${ALICE}_MY_DEV_1_m.call`, content: content({ device_id: 'MY_DEV_1' }) }));
    expect(m.deviceId).toBe('MY_DEV_1');
  });

  it('accepts a non-empty call_id appended to the application in the state key', () => {
    const m = joined(event({ state_key: `_${ALICE}_DEV123_m.callbreakout1`, content: content({ call_id: 'breakout1' }) }));
    expect(m.callId).toBe('breakout1');
  });

  it('fills defaults for the optional fields', () => {
    const m = joined(
      event({
        content: {
          application: 'm.call',
          call_id: '',
          device_id: 'DEV123',
          focus_active: { type: 'livekit' },
        },
      }),
    );
    expect(m.scope).toBeUndefined();
    expect(m.focusActive.focusSelection).toBeUndefined();
    expect(m.fociPreferred).toEqual([]);
    expect(m.membershipId).toBe(`${ALICE}:DEV123`);
    expect(m.callIntent).toBeUndefined();
    expect(m.createdTs).toBe(OTS);
    expect(m.expiresMs).toBe(DEFAULT_MEMBERSHIP_EXPIRES_MS);
  });

  it('keeps unknown top-level keys as application data', () => {
    const m = joined(event({ content: content({ 'io.example.hand_raised': true, 'capabilities': ['audio', 'video'] }) }));
    expect(m.applicationData).toEqual({ 'io.example.hand_raised': true });
    expect(m.capabilities).toEqual(['audio', 'video']);
  });

  it('returns a frozen deep copy that later changes to the input do not reach', () => {
    const raw = event();
    const m = joined(raw);
    ((raw['content'] as Record<string, unknown>)['foci_preferred'] as Record<string, unknown>[])[0]!['type'] = 'mutated';
    expect(m.fociPreferred[0]?.type).toBe(OUR_FOCUS_TYPE);
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.isFrozen(m.fociPreferred)).toBe(true);
    expect(Object.isFrozen(m.fociPreferred[0])).toBe(true);
  });

  describe('leaves', () => {
    it('reads empty content as a leave', () => {
      const parsed = parseCallMembershipEvent(event({ content: {} }));
      expect(parsed).toEqual({
        kind: 'left',
        eventId: '$event1',
        stateKey: `_${ALICE}_DEV123_m.call`,
        stateKeyForm: 'underscore',
        userId: ALICE,
        originServerTs: OTS,
        leaveReason: undefined,
      });
    });

    it('reads content with only leave_reason as a leave and keeps the reason', () => {
      const parsed = parseCallMembershipEvent(event({ content: { leave_reason: 'm.delayed' } }));
      expect(parsed.kind).toBe('left');
      expect(parsed.kind === 'left' && parsed.leaveReason).toBe('m.delayed');
    });

    it('reads the old {memberships: []} content as a leave', () => {
      expect(parseCallMembershipEvent(event({ content: { memberships: [] } })).kind).toBe('left');
    });

    it('refuses a leave whose state key names another user than the sender', () => {
      expect(faultsOf(event({ sender: BOB, content: {} }))).toEqual(['state_key names a different user than sender']);
    });
  });

  describe('faults', () => {
    it('refuses a value that is not an object', () => {
      expect(faultsOf('nope')).toEqual(['event must be a JSON object']);
      expect(faultsOf(null)).toEqual(['event must be a JSON object']);
      expect(faultsOf([event()])).toEqual(['event must be a JSON object']);
    });

    it('refuses another event type', () => {
      expect(faultsOf(event({ type: 'm.room.member' }))).toEqual([`type must be ${CALL_MEMBER_EVENT_TYPE}`]);
    });

    it('refuses a missing event_id', () => {
      expect(faultsOf(event({ event_id: undefined }))).toEqual(['event_id must be a non-empty string']);
    });

    it('refuses a missing or fractional origin_server_ts', () => {
      expect(faultsOf(event({ origin_server_ts: undefined }))).toEqual(['origin_server_ts must be a non-negative integer']);
      expect(faultsOf(event({ origin_server_ts: 1.5 }))).toEqual(['origin_server_ts must be a non-negative integer']);
    });

    it('refuses a sender that is not a user id', () => {
      expect(faultsOf(event({ sender: 'alice' }))).toEqual(['sender must be a Matrix user id']);
    });

    it('refuses content that is not an object', () => {
      expect(faultsOf(event({ content: 'x' }))).toEqual(['content must be a JSON object']);
    });

    it('refuses a state_key that is not a string', () => {
      expect(faultsOf(event({ state_key: undefined }))).toEqual(['state_key must be a string']);
    });

    it('refuses a state_key that does not start with _@ or @', () => {
      expect(faultsOf(event({ state_key: 'DEV123_m.call' }))).toEqual(['state_key must start with _@ or @']);
    });

    it('refuses the legacy per-user state key', () => {
      expect(faultsOf(event({ state_key: ALICE, content: { memberships: [] } }))).toEqual([
        'state_key is the legacy per-user form {userId}, which is not supported',
      ]);
    });

    it('refuses a state_key whose user part is not a user id', () => {
      expect(faultsOf(event({ state_key: '_@:example.org_DEV123_m.call' }))).toEqual([
        'state_key does not start with a valid user id',
      ]);
    });

    it('refuses a state_key naming another user than the sender', () => {
      expect(faultsOf(event({ sender: BOB }))).toEqual(['state_key names a different user than sender']);
    });

    it('refuses a state_key naming another device than content.device_id', () => {
      expect(faultsOf(event({ content: content({ device_id: 'OTHER' }) }))).toEqual([
        'state_key names a different device than content.device_id',
      ]);
    });

    it('refuses the old state_key without the application suffix', () => {
      expect(faultsOf(event({ state_key: `_${ALICE}_DEV123` }))).toEqual([
        'state_key lacks the _{content.application}{content.call_id} suffix',
      ]);
    });

    it('refuses a state_key suffix that does not match application and call_id', () => {
      expect(faultsOf(event({ content: content({ call_id: 'breakout1' }) }))).toEqual([
        'state_key must end in _{content.application}{content.call_id}',
      ]);
    });

    it('refuses a missing device_id', () => {
      expect(faultsOf(event({ content: content({ device_id: undefined }) }))).toEqual([
        'content.device_id must be a non-empty string of at most 255 characters',
      ]);
    });

    it('refuses an empty or non-string application', () => {
      expect(faultsOf(event({ content: content({ application: '' }) }))).toEqual([
        'content.application must be a non-empty string',
      ]);
      expect(faultsOf(event({ content: content({ application: 1 }) }))).toEqual([
        'content.application must be a non-empty string',
      ]);
    });

    it('refuses a missing call_id', () => {
      expect(faultsOf(event({ content: content({ call_id: undefined }) }))).toEqual(['content.call_id must be a string']);
    });

    it('refuses a missing focus_active', () => {
      expect(faultsOf(event({ content: content({ focus_active: undefined }) }))).toEqual([
        'content.focus_active must be an object',
      ]);
    });

    it('refuses focus_active without a string type or with a non-string selection', () => {
      expect(faultsOf(event({ content: content({ focus_active: { focus_selection: 'multi_sfu' } }) }))).toEqual([
        'content.focus_active.type must be a string',
      ]);
      expect(faultsOf(event({ content: content({ focus_active: { type: 'livekit', focus_selection: 3 } }) }))).toEqual([
        'content.focus_active.focus_selection must be a string',
      ]);
    });

    it('refuses foci_preferred that is not an array', () => {
      expect(faultsOf(event({ content: content({ foci_preferred: OUR_TRANSPORT }) }))).toEqual([
        'content.foci_preferred must be an array',
      ]);
    });

    it('refuses foci_preferred entries without a string type, naming their indexes', () => {
      expect(faultsOf(event({ content: content({ foci_preferred: [OUR_TRANSPORT, {}, 'x'] }) }))).toEqual([
        'content.foci_preferred[1, 2] must be an object with a string type',
      ]);
    });

    it('refuses a created_ts that is not a non-negative integer', () => {
      expect(faultsOf(event({ content: content({ created_ts: '1' }) }))).toEqual([
        'content.created_ts must be a non-negative integer',
      ]);
      expect(faultsOf(event({ content: content({ created_ts: -1 }) }))).toEqual([
        'content.created_ts must be a non-negative integer',
      ]);
    });

    it('refuses an expires that is not a positive integer', () => {
      for (const expires of [0, -5, 1.5, '14400000']) {
        expect(faultsOf(event({ content: content({ expires }) }))).toEqual(['content.expires must be a positive integer']);
      }
    });

    it('refuses non-string scope, m.call.intent and membershipID', () => {
      expect(faultsOf(event({ content: content({ 'scope': 1, 'm.call.intent': {}, 'membershipID': 2 }) }))).toEqual([
        'content.scope must be a string',
        'content.m.call.intent must be a string',
        'content.membershipID must be a string',
      ]);
    });

    it('refuses capabilities that are not an array of strings', () => {
      expect(faultsOf(event({ content: content({ capabilities: ['audio', 1] }) }))).toEqual([
        'content.capabilities must be an array of strings',
      ]);
    });

    it('reports every fault at once', () => {
      const faults = faultsOf(
        event({
          sender: BOB,
          event_id: '',
          content: content({ device_id: undefined, call_id: 7, focus_active: 'livekit', expires: 0 }),
        }),
      );
      expect(faults).toEqual([
        'event_id must be a non-empty string',
        'state_key names a different user than sender',
        'content.call_id must be a string',
        'content.device_id must be a non-empty string of at most 255 characters',
        'content.focus_active must be an object',
        'content.expires must be a positive integer',
      ]);
    });
  });
});

describe('expiry', () => {
  it('counts expires from created_ts', () => {
    const m = joined(event({ content: content({ created_ts: OTS - 1_000, expires: 10_000 }) }));
    expect(m.expiresAtMs).toBe(OTS - 1_000 + 10_000);
  });

  it('counts expires from origin_server_ts when created_ts is absent', () => {
    const m = joined(event({ content: content({ created_ts: undefined, expires: 10_000 }) }));
    expect(m.createdTs).toBe(OTS);
    expect(m.expiresAtMs).toBe(OTS + 10_000);
  });

  it('uses the 4 h default when expires is absent', () => {
    const m = joined(event({ content: content({ created_ts: undefined, expires: undefined }) }));
    expect(m.expiresAtMs).toBe(OTS + 14_400_000);
  });

  it('never lets created_ts move the start past origin_server_ts', () => {
    const m = joined(event({ content: content({ created_ts: OTS + 3_600_000, expires: 10_000 }) }));
    expect(m.createdTs).toBe(OTS);
    expect(m.expiresAtMs).toBe(OTS + 10_000);
  });

  it('isLive() holds until the instant of expiry and not at it', () => {
    const m = joined(event({ content: content({ created_ts: undefined, expires: 10_000 }) }));
    expect(isLive(m, OTS)).toBe(true);
    expect(isLive(m, OTS + 9_999)).toBe(true);
    expect(isLive(m, OTS + 10_000)).toBe(false);
  });

  it('isLive() is false for a leave', () => {
    const left: CallMembershipEvent = parseCallMembershipEvent(event({ content: {} }));
    expect(isLive(left, OTS)).toBe(false);
  });
});

describe('bounds against oldest-membership capture (README "created_ts and expires")', () => {
  it('clamps the expiry to origin_server_ts + 4 h 5 min, however large expires is', () => {
    const m = joined(event({ content: content({ created_ts: 0, expires: Number.MAX_SAFE_INTEGER }) }));
    expect(MAX_EXPIRES_AHEAD_MS).toBe(4 * 3_600_000 + 300_000);
    expect(m.expiresAtMs).toBe(OTS + MAX_EXPIRES_AHEAD_MS);
    expect(isLive(m, OTS + MAX_EXPIRES_AHEAD_MS)).toBe(false);
  });

  it('keeps the expiry of a js-sdk refresh (created_ts kept, expires grown by 4 h) that stays within the bound', () => {
    // js-sdk 43 refreshes hourly: at start + 1 h it sends expires 8 h with the original created_ts.
    const start = OTS - 3_600_000;
    const m = joined(event({ content: content({ created_ts: start, expires: 2 * 14_400_000 }) }));
    expect(m.expiresAtMs).toBe(OTS + MAX_EXPIRES_AHEAD_MS);
    const older = joined(event({ content: content({ created_ts: OTS - 14_395_000, expires: 2 * 14_400_000 }) }));
    // Older js-sdk refreshes 5 s before the 4 h run out: start + 8 h is within ots + 4 h 5 min.
    expect(older.expiresAtMs).toBe(OTS - 14_395_000 + 2 * 14_400_000);
  });

  it('clamps created_ts from below to origin_server_ts - 4 h 5 min and keeps the claim apart', () => {
    const m = joined(event({ content: content({ created_ts: 0 }) }));
    expect(m.claimedCreatedTs).toBe(0);
    expect(m.createdTs).toBe(OTS - MAX_EXPIRES_AHEAD_MS);
    const recent = joined(event({ content: content({ created_ts: OTS - 60_000 }) }));
    expect(recent.createdTs).toBe(OTS - 60_000);
  });
});

describe('membershipStateKey()', () => {
  it('builds the underscore form by default and the owned form on request', () => {
    expect(membershipStateKey(ALICE, 'DEV123' as DeviceId)).toBe(`_${ALICE}_DEV123_m.call`);
    expect(membershipStateKey(ALICE, 'DEV123' as DeviceId, { form: 'owned' })).toBe(`${ALICE}_DEV123_m.call`);
    expect(membershipStateKey(ALICE, 'D' as DeviceId, { application: 'm.call', callId: 'x' })).toBe(`_${ALICE}_D_m.callx`);
  });
});

describe('oldestMembership()', () => {
  it('picks the smallest createdTs', () => {
    const a = member(ALICE, 'A', OTS - 5_000);
    const b = member(BOB, 'B', OTS - 9_000);
    expect(oldestMembership([a, b])).toBe(b);
  });

  it('breaks ties by rtcBackendIdentity whatever the input order', () => {
    const a = member(ALICE, 'A', OTS - 5_000);
    const b = member(BOB, 'B', OTS - 5_000);
    expect(oldestMembership([a, b])).toBe(a);
    expect(oldestMembership([b, a])).toBe(a);
  });

  it('returns undefined for no memberships', () => {
    expect(oldestMembership([])).toBeUndefined();
  });
});

describe('activeFocus()', () => {
  const oldestMode = { focus_active: { type: 'livekit', focus_selection: 'oldest_membership' } };

  it('gives a multi_sfu member its own first preferred transport', () => {
    const old = member(BOB, 'B', OTS - 9_000, { foci_preferred: [LIVEKIT_TRANSPORT] });
    const own = member(ALICE, 'A', OTS - 1_000, { foci_preferred: [OUR_TRANSPORT, LIVEKIT_TRANSPORT] });
    expect(activeFocus(own, [old, own])).toEqual(OUR_TRANSPORT);
  });

  it('gives an oldest_membership member the oldest membership’s first preferred transport', () => {
    const old = member(BOB, 'B', OTS - 9_000, { foci_preferred: [LIVEKIT_TRANSPORT] });
    const own = member(ALICE, 'A', OTS - 1_000, { ...oldestMode, foci_preferred: [OUR_TRANSPORT] });
    expect(activeFocus(own, [old, own])).toEqual(LIVEKIT_TRANSPORT);
  });

  it('uses the member’s own transport when it is the oldest, even if the list omits it', () => {
    const younger = member(BOB, 'B', OTS - 1_000, { foci_preferred: [LIVEKIT_TRANSPORT] });
    const own = member(ALICE, 'A', OTS - 9_000, { ...oldestMode, foci_preferred: [OUR_TRANSPORT] });
    expect(activeFocus(own, [younger])).toEqual(OUR_TRANSPORT);
  });

  it('ignores memberships of other calls when finding the oldest', () => {
    const otherCall = joined(
      event({
        sender: BOB,
        state_key: `_${BOB}_B_m.callbreakout`,
        content: content({ device_id: 'B', call_id: 'breakout', created_ts: OTS - 99_000, foci_preferred: [LIVEKIT_TRANSPORT] }),
      }),
    );
    const own = member(ALICE, 'A', OTS - 1_000, { ...oldestMode, foci_preferred: [OUR_TRANSPORT] });
    expect(activeFocus(own, [otherCall])).toEqual(OUR_TRANSPORT);
  });

  it('is undefined for an unknown or absent focus_selection', () => {
    const unknown = member(ALICE, 'A', OTS, { focus_active: { type: 'livekit', focus_selection: 'round_robin' } });
    const absent = member(ALICE, 'A', OTS, { focus_active: { type: 'livekit' } });
    expect(activeFocus(unknown, [])).toBeUndefined();
    expect(activeFocus(absent, [])).toBeUndefined();
  });

  it('is undefined when the chosen membership prefers no transport', () => {
    const own = member(ALICE, 'A', OTS, { foci_preferred: [] });
    expect(activeFocus(own, [])).toBeUndefined();
  });
});

describe('namesOurSfu()', () => {
  const ours = (url: unknown): Transport => ({ type: OUR_FOCUS_TYPE, sfu_service_url: url });

  it('matches our type and service URL', () => {
    expect(namesOurSfu(ours(OUR_URL), OUR_FOCUS_TYPE, OUR_URL)).toBe(true);
  });

  it('ignores a trailing slash, host case and the default port', () => {
    expect(namesOurSfu(ours('https://SFU.example.org:443/'), OUR_FOCUS_TYPE, OUR_URL)).toBe(true);
    expect(namesOurSfu(ours('https://sfu.example.org/base/'), OUR_FOCUS_TYPE, 'https://sfu.example.org/base')).toBe(true);
  });

  it('does not match another type, URL, path or port', () => {
    expect(namesOurSfu({ ...LIVEKIT_TRANSPORT, sfu_service_url: OUR_URL }, OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
    expect(namesOurSfu(ours('https://other.example.org'), OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
    expect(namesOurSfu(ours('https://sfu.example.org/other'), OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
    expect(namesOurSfu(ours('https://sfu.example.org:8443'), OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
  });

  it('does not match a missing, non-http or credential-bearing URL, or no focus at all', () => {
    expect(namesOurSfu(ours(undefined), OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
    expect(namesOurSfu(ours('ftp://sfu.example.org'), OUR_FOCUS_TYPE, 'ftp://sfu.example.org')).toBe(false);
    expect(namesOurSfu(ours('https://u:p@sfu.example.org'), OUR_FOCUS_TYPE, 'https://u:p@sfu.example.org')).toBe(false);
    expect(namesOurSfu(undefined, OUR_FOCUS_TYPE, OUR_URL)).toBe(false);
  });
});
