// The livekit focus token service on a real Synapse with real matrix-js-sdk MatrixRTC
// sessions: a member whose transport is `{"type": "livekit", "livekit_service_url": <us>}`
// gets a publish token from POST /get_token; a member whose focus is another LiveKit gets
// a subscribe-only token while someone publishes here; a room member without a call
// membership and a stranger are refused with the Matrix envelope.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import './synapse/context.ts';
import { decodeJwt } from 'jose';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { joinCall, joinedRoom, requestLiveKitToken, startSdkClient, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const synapse = inject('synapse');
let node: SfuNode;
let aliceHttp: MatrixTestClient;
let roomId: string;
const { user, sdkUserInRoom, sdkUsers: users } = testRoomUsers({ synapse, room: () => ({ inviter: aliceHttp, roomId }) });

function ourLiveKitFocus() {
  return { type: 'livekit', livekit_service_url: node.publicUrl };
}

/** POST /get_token the way Element Call asks. */
function getToken(sdk: SdkUser, room = roomId): Promise<{ status: number; body: Record<string, unknown> }> {
  return requestLiveKitToken(node.publicUrl, sdk, room);
}

beforeAll(async () => {
  const bot = await user('sfu');
  const aliceUser = await user('alice');
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...aliceUser });
  roomId = await aliceHttp.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const matrixOverrides = loopbackMatrixOverrides(synapse, bot, 5000) as { matrix: Record<string, unknown> };
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `${process.env['TMPDIR'] ?? '/tmp'}/sfu-lk-token-test-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...matrixOverrides,
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'warn', sink: () => undefined }) });
  await waitFor(async () => (await aliceHttp.membershipOf(roomId as never, bot.userId)) === 'join', {
    timeoutMs: 15_000,
    description: 'SFU account joined the room',
  });
  users.push(await startSdkClient(synapse.baseUrl, aliceUser));
  await joinedRoom(users[0]!, roomId);
}, 120_000);

afterAll(async () => {
  for (const sdk of users) sdk.client.stopClient();
  await node?.stop();
});

describe('POST /get_token on a real Synapse', () => {
  it('grants publish to a livekit member naming us, subscribe-only to a member of another LiveKit, and refuses the rest', async () => {
    const alice = users[0]!;
    const bob = await sdkUserInRoom('bob');
    const carol = await sdkUserInRoom('carol');
    const stranger = await startSdkClient(synapse.baseUrl, await user('stranger'));
    users.push(stranger);

    // Bob's own focus is another agency's LiveKit; nobody publishes here yet.
    const bobSession = joinCall(bob, bob.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: 'https://lk-jwt.other-agency.example' });
    await waitFor(() => bobSession.memberships.some((m) => m.sender === bob.user.userId) || undefined, { description: 'bob in the session' });
    await waitFor(() => (node.matrix!.watcher.check(roomId, bob.user.userId, bob.user.deviceId).ok === false &&
      node.matrix!.watcher.index.liveMemberships(roomId, Date.now()).length === 1) || undefined, { timeoutMs: 15_000, description: 'SFU sees bob' });
    expect(await getToken(bob)).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'You are not in a call in this room on this SFU.' } });

    joinCall(alice, alice.client.getRoom(roomId)!, ourLiveKitFocus());
    await waitFor(() => node.matrix!.watcher.check(roomId, alice.user.userId, alice.user.deviceId).ok || undefined, {
      timeoutMs: 15_000,
      description: 'SFU sees alice naming it',
    });

    const aliceToken = await getToken(alice);
    expect(aliceToken.status, JSON.stringify(aliceToken.body)).toBe(200);
    expect(aliceToken.body['url']).toBe(node.publicUrl.replace(/^http/, 'ws'));
    expect(decodeJwt(aliceToken.body['jwt'] as string)).toMatchObject({
      sub: `${alice.user.userId}:${alice.user.deviceId}`,
      video: { room: roomId, roomJoin: true, canPublish: true, canSubscribe: true },
    });

    const bobToken = await getToken(bob);
    expect(bobToken.status, JSON.stringify(bobToken.body)).toBe(200);
    expect(decodeJwt(bobToken.body['jwt'] as string)['video']).toEqual({ room: roomId, roomJoin: true, canPublish: false, canSubscribe: true });

    // In the room without a call membership: a pending token (Element Call asks before it
    // publishes its membership; src/server/auth/pendingMembership.ts). Not in the room at all: refused.
    const carolToken = await getToken(carol);
    expect(carolToken.status).toBe(200);
    expect(decodeJwt(carolToken.body['jwt'] as string)).toMatchObject({ membership: 'pending', video: { canPublish: true } });
    expect((await getToken(stranger)).status).toBe(403);
  }, 60_000);
});
