// Calls in rooms the SFU account never joined, on a real Synapse: the SFU reads their state
// through the Synapse admin API (matrix.adminTokenFile, an admin created by shared-secret
// registration). Two matrix-js-sdk users hold a call there (tokens, WebSocket admission, a
// producer reaching the peer), leaving and kicking evict (latency printed, not asserted), and
// a room the homeserver is not in is refused with room_not_visible, logged once per attempt.

import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, onTestFailed } from 'vitest';
import './synapse/context.ts';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { CLOSE_CODES } from '../../src/common/protocol/closeCodes.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { AUDIO_RTP_PARAMETERS, RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { joinCall, joinedRoom, requestLiveKitToken, requestSfuToken, startSdkClient, type SdkUser } from '../tools/matrixCall.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const synapse = inject('synapse');
const logLines: string[] = [];
let node: SfuNode;
let bot: RegisteredUser;
let aliceHttp: MatrixTestClient;
let roomId: string;
const users: SdkUser[] = [];
let counter = 0;

async function user(localpart: string, admin = false): Promise<RegisteredUser> {
  return registerUser(synapse.baseUrl, synapse.sharedSecret, `${localpart}${Date.now()}${counter++}`, 'pw-' + localpart, { admin });
}

async function sdkUserInRoom(localpart: string): Promise<SdkUser> {
  const registered = await user(localpart);
  await aliceHttp.invite(roomId as never, registered.userId);
  const sdk = await startSdkClient(synapse.baseUrl, registered);
  users.push(sdk);
  await sdk.client.joinRoom(roomId);
  await joinedRoom(sdk, roomId);
  return sdk;
}

/** POST /sfu/get until it answers 200: the membership was published a moment ago (bounded). */
async function token(sdk: SdkUser): Promise<{ url: string; jwt: string }> {
  let last: { status: number; body: Record<string, unknown> } | undefined;
  for (let attempt = 0; attempt < 30; attempt++) {
    last = await requestSfuToken(node.publicUrl, sdk, roomId);
    if (last.status === 200) return { url: String(last.body['url']), jwt: String(last.body['jwt']) };
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`no token for ${sdk.user.userId}: ${JSON.stringify(last)}`);
}

async function connect(sdk: SdkUser): Promise<TestClient> {
  const { url, jwt } = await token(sdk);
  const client = await TestClient.open(`${url}?jwt=${jwt}`);
  const joined = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES });
  expect(joined.ok, JSON.stringify(joined)).toBe(true);
  return client;
}

function logged(): Array<{ msg: string; reason?: string; roomId?: string }> {
  return logLines.map((line) => JSON.parse(line) as { msg: string; reason?: string; roomId?: string });
}

beforeAll(async () => {
  bot = await user('sfu');
  const admin = await user('admin', true);
  const aliceUser = await user('alice');
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...aliceUser });
  // Nobody invites the SFU account.
  roomId = await aliceHttp.createRoom({ powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const dir = await mkdtemp(join(tmpdir(), 'sfu-admin-api-'));
  const adminTokenFile = join(dir, 'admin-token');
  await writeFile(adminTokenFile, `${admin.accessToken}\n`, { mode: 0o600 });
  const matrixOverrides = loopbackMatrixOverrides(synapse, bot, 5000) as { matrix: Record<string, unknown> };
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: join(dir, 'data') },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...matrixOverrides,
      matrix: { ...matrixOverrides.matrix, membershipGraceMs: 0, adminTokenFile, adminPollIntervalMs: 1000 },
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }) });
  const alice = await startSdkClient(synapse.baseUrl, aliceUser);
  users.push(alice);
  await joinedRoom(alice, roomId);
}, 120_000);

beforeEach(() => {
  const from = logLines.length;
  onTestFailed(() => {
    console.error(`--- SFU log of the failed test ---\n${logLines.slice(from).slice(-60).join('\n')}`);
  });
});

afterAll(async () => {
  for (const sdk of users) sdk.client.stopClient();
  await node?.stop();
});

describe('rooms the SFU account never joined (Synapse admin API)', () => {
  it('hold a call: tokens, admission, a producer reaches the peer, and leaving evicts (latency printed)', async () => {
    const alice = users[0]!;
    const bob = await sdkUserInRoom('bob');
    const state = await aliceHttp.roomState(roomId as never);
    expect(state.some((event) => event.type === 'm.room.member' && event.state_key === bot.userId)).toBe(false);

    const aliceSession = joinCall(alice, alice.client.getRoom(roomId)!, node.matrix!.focus);
    const bobSession = joinCall(bob, bob.client.getRoom(roomId)!, node.matrix!.focus);
    const aliceWs = await connect(alice);
    const bobWs = await connect(bob);
    await waitFor(() => aliceWs.notifications.find((n) => n.method === 'peerJoined'), { description: 'alice sees bob' });

    const transport = await aliceWs.request('createTransport', { direction: 'send' });
    expect(transport.ok, JSON.stringify(transport)).toBe(true);
    const transportId = (transport.data as { transportId: string }).transportId;
    const produced = await aliceWs.request('produce', { transportId, kind: 'audio', source: 'microphone', rtpParameters: AUDIO_RTP_PARAMETERS });
    expect(produced.ok, JSON.stringify(produced)).toBe(true);
    const recv = await bobWs.request('createTransport', { direction: 'recv' });
    expect(recv.ok, JSON.stringify(recv)).toBe(true);
    const consumer = await waitFor(() => bobWs.notifications.find((n) => n.method === 'consumerCreated'), { description: 'bob gets a consumer of alice' });
    expect((consumer.data as { producerId: string }).producerId).toBe((produced.data as { producerId: string }).producerId);

    const started = performance.now();
    await bobSession.leaveRoomSession(5000);
    expect(await bobWs.closed(10_000)).toBe(CLOSE_CODES.EVICTED);
    console.log(`admin API room: eviction after leaveRoomSession: ${(performance.now() - started).toFixed(0)} ms (poll interval 1000 ms)`);
    expect(bobWs.closeReason).toBe('evicted: membership-ended');
    await waitFor(() => aliceWs.notifications.find((n) => n.method === 'peerLeft'), { description: 'alice sees bob leave' });

    const carol = await sdkUserInRoom('carol');
    joinCall(carol, carol.client.getRoom(roomId)!, node.matrix!.focus);
    const carolWs = await connect(carol);
    const kickedAt = performance.now();
    carol.client.stopClient();
    await aliceHttp.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: carol.user.userId, reason: 'test' });
    expect(await carolWs.closed(10_000)).toBe(CLOSE_CODES.EVICTED);
    console.log(`admin API room: eviction after kick: ${(performance.now() - kickedAt).toFixed(0)} ms`);
    expect(carolWs.closeReason).toBe('evicted: kicked');

    aliceWs.close();
    await aliceSession.leaveRoomSession(5000);
    expect(node.matrix!.adminSource!.trackedRoomIds()).toContain(roomId);
  });

  it('a room the homeserver is not in is refused with 404 room_not_visible naming the cause, logged once per attempt', async () => {
    const alice = users[0]!;
    const missing = `!nosuchroom${Date.now()}:${synapse.serverName}`;
    const before = logLines.length;
    const answer = await requestSfuToken(node.publicUrl, alice, missing);
    expect(answer.status).toBe(404);
    expect(answer.body['errcode']).toBe('ORG.MATRIX_SFU.ROOM_NOT_VISIBLE');
    expect(String(answer.body['error'])).toContain('cannot see this room');
    expect(String(answer.body['error'])).not.toContain('You are not in a call');
    const lines = logged().slice(before);
    expect(lines.filter((line) => line.msg === 'token refused')).toEqual([expect.objectContaining({ reason: 'room_not_visible' })]);
    expect(lines.filter((line) => line.roomId === missing && line.msg.startsWith('a call was refused'))).toHaveLength(1);
    // The operator hint is not repeated for the next attempt; the refusal is logged again, once.
    const again = logLines.length;
    expect((await requestSfuToken(node.publicUrl, alice, missing)).status).toBe(404);
    expect(logged().slice(again).filter((line) => line.msg === 'token refused' || line.msg.startsWith('a call was refused'))).toHaveLength(1);
    expect(node.matrix!.adminSource!.trackedRoomIds()).not.toContain(missing);
  });

  it('/get_token (the LiveKit edge) answers the same 404 room_not_visible for a room the homeserver is not in', async () => {
    const alice = users[0]!;
    const missing = `!nosuchroom${Date.now()}:${synapse.serverName}`;
    const { status, body } = await requestLiveKitToken(node.publicUrl, alice, missing, { extra: { member: { id: 'member-1', claimed_user_id: alice.user.userId, claimed_device_id: alice.user.deviceId } } });
    expect(status).toBe(404);
    expect(body['errcode']).toBe('ORG.MATRIX_SFU.ROOM_NOT_VISIBLE');
    expect(body['error']).toContain('cannot see this room');
  });
});
