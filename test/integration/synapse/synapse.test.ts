// Smoke test of the real Synapse the integration suite runs on: accounts, rooms, call
// membership state events in both state-key forms, OpenID tokens checked through federation
// userinfo (what the SFU will do), MSC4140 delayed leave events, MSC4143 transports.
import { randomBytes } from 'node:crypto';

import { beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';

import { CALL_MEMBER_EVENT_TYPE, OUR_FOCUS_TYPE, membershipStateKey, parseCallMembershipEvent } from '../../../src/server/matrix/callMembership.ts';
import { CallMembershipParseError } from '../../../src/server/matrix/errors.ts';
import { MatrixHttpError, MatrixTestClient, encodePathSegment } from '../../tools/synapse/MatrixTestClient.ts';
import { readLogTail } from '../../../src/server/dev/synapse/SynapseProcess.ts';
import { registerUser } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { waitFor } from '../../../src/common/lib/waitFor.ts';
import './context.ts';

const synapse = inject('synapse');

/** Element-style call rooms let every member send call memberships (src/server/matrix/README.md §8). */
const CALL_ROOM_POWER_LEVELS = { events: { [CALL_MEMBER_EVENT_TYPE]: 0 } };

async function newClient(name: string): Promise<MatrixTestClient> {
  // Test files share one homeserver, so localparts must be unique per run.
  const localpart = `${name}-${randomBytes(4).toString('hex')}`;
  const user = await registerUser(synapse.baseUrl, synapse.sharedSecret, localpart, `pw-${localpart}`);
  return new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user });
}

function membershipContent(client: MatrixTestClient): Record<string, unknown> {
  return {
    'application': 'm.call',
    'call_id': '',
    'scope': 'm.room',
    'device_id': client.deviceId,
    'expires': 14_400_000,
    'm.call.intent': 'video',
    'focus_active': { type: 'livekit', focus_selection: 'multi_sfu' },
    'foci_preferred': [{ type: OUR_FOCUS_TYPE, sfu_service_url: 'https://sfu.example.org' }],
  };
}

describe('Synapse for integration tests', () => {
  let alice: MatrixTestClient;
  let bob: MatrixTestClient;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([newClient('alice'), newClient('bob')]);
  });

  function dumpLogOnFailure(): void {
    onTestFailed(() => {
      console.error(`--- tail of ${synapse.logPath} ---\n${readLogTail(synapse.logPath)}`);
    });
  }

  it('registerUser() returns ids on the configured server name and a working token', async () => {
    dumpLogOnFailure();
    expect(alice.userId).toMatch(new RegExp(`^@alice-[0-9a-f]{8}:${synapse.serverName.replace(/\./g, '\\.')}$`));
    expect(alice.deviceId.length).toBeGreaterThan(0);
    const whoami = await alice.request<{ user_id: string; device_id: string }>('GET', '/_matrix/client/v3/account/whoami');
    expect(whoami).toMatchObject({ user_id: alice.userId, device_id: alice.deviceId });
  });

  it('serves server well-known and the MSC4143 transports endpoint', async () => {
    dumpLogOnFailure();
    const wellKnown = await (await fetch(new URL('/.well-known/matrix/server', synapse.baseUrl))).json();
    expect(wellKnown).toEqual({ 'm.server': `${synapse.serverName}:443` });
    // No transports are configured for the shared test server, so the body is {}.
    const transports = await alice.request('GET', '/_matrix/client/unstable/org.matrix.msc4143/rtc/transports');
    expect(transports).toEqual({});
  });

  it('stores a member’s call membership, which reads back and parses as joined', async () => {
    dumpLogOnFailure();
    const roomId = await alice.createRoom({ powerLevelContentOverride: CALL_ROOM_POWER_LEVELS });
    await alice.invite(roomId, bob.userId);
    await bob.join(roomId);

    const stateKey = membershipStateKey(bob.userId, bob.deviceId);
    expect(stateKey).toBe(`_${bob.userId}_${bob.deviceId}_m.call`);
    const eventId = await bob.sendState(roomId, CALL_MEMBER_EVENT_TYPE, stateKey, membershipContent(bob));

    const stored = await alice.stateEvent(roomId, CALL_MEMBER_EVENT_TYPE, stateKey);
    expect(stored).toMatchObject({ event_id: eventId, sender: bob.userId, content: membershipContent(bob) });
    const parsed = parseCallMembershipEvent(stored);
    expect(parsed).toMatchObject({
      kind: 'joined',
      userId: bob.userId,
      deviceId: bob.deviceId,
      stateKeyForm: 'underscore',
      createdTs: stored?.origin_server_ts,
      fociPreferred: [{ type: OUR_FOCUS_TYPE, sfu_service_url: 'https://sfu.example.org' }],
    });
  });

  it('lets a member write another user’s underscore key, which the parser refuses', async () => {
    dumpLogOnFailure();
    const roomId = await alice.createRoom({ invite: [bob.userId], powerLevelContentOverride: CALL_ROOM_POWER_LEVELS });
    await bob.join(roomId);
    // The auth rules only tie @-prefixed keys to their sender: this impersonation is accepted.
    const forged = membershipStateKey(bob.userId, bob.deviceId);
    await alice.sendState(roomId, CALL_MEMBER_EVENT_TYPE, forged, membershipContent(bob));

    const stored = await bob.stateEvent(roomId, CALL_MEMBER_EVENT_TYPE, forged);
    expect(stored?.sender).toBe(alice.userId);
    expect(() => parseCallMembershipEvent(stored)).toThrow(CallMembershipParseError);
    try {
      parseCallMembershipEvent(stored);
    } catch (error) {
      expect((error as CallMembershipParseError).faults).toEqual(['state_key names a different user than sender']);
    }
  });

  it('refuses the owned @-key in a normal room and accepts it in an MSC3757 room', async () => {
    dumpLogOnFailure();
    const owned = membershipStateKey(alice.userId, alice.deviceId, { form: 'owned' });

    const normalRoom = await alice.createRoom();
    const refused = await alice
      .sendState(normalRoom, CALL_MEMBER_EVENT_TYPE, owned, membershipContent(alice))
      .then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(MatrixHttpError);
    expect((refused as MatrixHttpError).status).toBe(403);

    const msc3757Room = await alice.createRoom({ roomVersion: 'org.matrix.msc3757.11' });
    await alice.sendState(msc3757Room, CALL_MEMBER_EVENT_TYPE, owned, membershipContent(alice));
    const parsed = parseCallMembershipEvent(await alice.stateEvent(msc3757Room, CALL_MEMBER_EVENT_TYPE, owned));
    expect(parsed).toMatchObject({ kind: 'joined', stateKeyForm: 'owned', userId: alice.userId });
  });

  it('issues OpenID tokens that federation userinfo resolves to the user', async () => {
    dumpLogOnFailure();
    const token = await bob.requestOpenIdToken();
    expect(token).toMatchObject({ token_type: 'Bearer', matrix_server_name: synapse.serverName });
    expect(token.expires_in).toBeGreaterThan(0);

    const userinfoUrl = (accessToken: string): URL =>
      new URL(`/_matrix/federation/v1/openid/userinfo?access_token=${encodePathSegment(accessToken)}`, synapse.baseUrl);
    const ok = await fetch(userinfoUrl(token.access_token));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: bob.userId });

    const bad = await fetch(userinfoUrl('not-a-token'));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ errcode: 'M_UNKNOWN_TOKEN' });
  });

  it('fires an MSC4140 delayed leave that empties the membership', async () => {
    dumpLogOnFailure();
    const versions = await alice.request<{ unstable_features: Record<string, boolean> }>('GET', '/_matrix/client/versions');
    expect(versions.unstable_features['org.matrix.msc4140']).toBe(true);

    const roomId = await alice.createRoom({ powerLevelContentOverride: CALL_ROOM_POWER_LEVELS });
    const stateKey = membershipStateKey(alice.userId, alice.deviceId);
    await alice.sendState(roomId, CALL_MEMBER_EVENT_TYPE, stateKey, membershipContent(alice));
    const delayId = await alice.sendDelayedState(roomId, CALL_MEMBER_EVENT_TYPE, stateKey, {}, 2_000);
    expect(delayId).toEqual(expect.any(String));

    const scheduled = await alice.request<{ delayed_events: Array<{ delay_id: string }> }>(
      'GET',
      '/_matrix/client/unstable/org.matrix.msc4140/delayed_events',
    );
    expect(scheduled.delayed_events.map((e) => e.delay_id)).toContain(delayId);
    const before = parseCallMembershipEvent(await alice.stateEvent(roomId, CALL_MEMBER_EVENT_TYPE, stateKey));
    expect(before.kind).toBe('joined');

    const after = await waitFor(
      async () => {
        const event = await alice.stateEvent(roomId, CALL_MEMBER_EVENT_TYPE, stateKey);
        return event !== undefined && Object.keys(event.content).length === 0 ? event : undefined;
      },
      { timeoutMs: 15_000, description: 'the delayed leave to replace the membership' },
    );
    expect(parseCallMembershipEvent(after)).toMatchObject({ kind: 'left', userId: alice.userId, stateKey });
  });
});
