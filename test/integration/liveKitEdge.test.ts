// The livekit edge's signalling on a real Synapse with real matrix-js-sdk MatrixRTC sessions
// and a protobuf WebSocket client (no media): a /get_token token opens /rtc (JoinResponse,
// refreshToken), validate never spends it, a subscribe-only member joins without publish
// rights, a forged token is refused at the upgrade and by /rtc/validate, hostile frames are
// counted faults, and ending the membership evicts with a LeaveRequest and a close within
// 2 s (latency printed), after which the token is dead. A dropped socket is resumed with the
// same token (ReconnectResponse, missed updates, no leave for the others), a held session
// leaves when the grace ends, and an eviction during the grace kills the resume (401).

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import './synapse/context.ts';
import { ClientConfigSetting, DisconnectReason, LeaveRequest_Action, Ping } from '@livekit/protocol';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { joinCall, joinedRoom, publishDelayedMembership, requestLiveKitToken, startSdkClient, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';

const synapse = inject('synapse');
/** Short, so the expiry test is quick (production default 20 s). */
const RESUME_GRACE_MS = 2000;
const logLines: string[] = [];
let node: SfuNode;
let aliceHttp: MatrixTestClient;
let roomId: string;
const { user, sdkUserInRoom, sdkUsers: users } = testRoomUsers({ synapse, room: () => ({ inviter: aliceHttp, roomId }) });

async function getToken(sdk: SdkUser, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await requestLiveKitToken(node.publicUrl, sdk, roomId, { extra });
  expect(status, JSON.stringify(body)).toBe(200);
  return body['jwt'] as string;
}

async function connect(token: string): Promise<LiveKitWsClient> {
  const result = await LiveKitWsClient.connect(node.publicUrl, token);
  if (!result.ok) throw new Error(`upgrade refused: ${result.status} ${result.body}`);
  return result.client;
}

async function validate(token: string): Promise<number> {
  return (await fetch(`${node.publicUrl}/rtc/validate?access_token=${encodeURIComponent(token)}`)).status;
}

beforeAll(async () => {
  const bot = await user('sfu');
  const aliceUser = await user('alice');
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...aliceUser });
  roomId = await aliceHttp.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const matrixOverrides = loopbackMatrixOverrides(synapse, bot, 5000) as { matrix: Record<string, unknown> };
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `${process.env['TMPDIR'] ?? '/tmp'}/sfu-lk-edge-test-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...matrixOverrides,
      matrix: { ...matrixOverrides.matrix, membershipGraceMs: 0 },
      livekit: { resumeGraceMs: RESUME_GRACE_MS },
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }) });
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

describe('the livekit edge on a real Synapse', () => {
  it('admits /get_token tokens at /rtc, keeps them for validate and resume, refuses forged ones, and evicts on membership end with a LeaveRequest and a close (latency printed)', async () => {
    const alice = users[0]!;
    const bob = await sdkUserInRoom('bob');
    const aliceSession = joinCall(alice, alice.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: node.publicUrl });
    await waitFor(() => node.matrix!.watcher.check(roomId, alice.user.userId, alice.user.deviceId).ok || undefined, { timeoutMs: 15_000, description: 'SFU sees alice' });
    const bobSession = joinCall(bob, bob.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: 'https://lk-jwt.other-agency.example' });
    await waitFor(() => node.matrix!.watcher.checkSubscriber(roomId, bob.user.userId, bob.user.deviceId).ok || undefined, { timeoutMs: 15_000, description: 'SFU sees bob' });

    const aliceToken = await getToken(alice);
    // livekit-client asks validate after a failed upgrade: that must not spend the token.
    expect(await validate(aliceToken)).toBe(200);
    const aliceWs = await connect(aliceToken);
    const joined = await aliceWs.next('join');
    expect(joined.participant).toMatchObject({ identity: `${alice.user.userId}:${alice.user.deviceId}`, permission: { canPublish: true } });
    expect(joined.serverVersion).not.toBe('');
    expect(joined.pingInterval).toBeGreaterThan(0);
    expect(await aliceWs.next('refreshToken')).toMatch(/^ey/);
    // The same token again (resume after a dropped socket) is the same session, not a replay.
    expect(await validate(aliceToken)).toBe(200);
    // Resume is offered; a resume naming another participant sid is told to reconnect fully.
    expect(joined.clientConfiguration?.resumeConnection).toBe(ClientConfigSetting.ENABLED);
    const resume = await LiveKitWsClient.connect(node.publicUrl, aliceToken, { reconnect: '1', sid: 'PA_notthisone' });
    if (!resume.ok) throw new Error(`resume upgrade refused: ${resume.status}`);
    expect(await resume.client.next('leave')).toMatchObject({ action: LeaveRequest_Action.RECONNECT, canReconnect: true });
    await resume.client.closed(5000);
    expect(aliceWs.closeCode).toBeUndefined();

    const bobToken = await getToken(bob);
    const bobWs = await connect(bobToken);
    const bobJoined = await bobWs.next('join');
    expect(bobJoined.participant?.permission?.canPublish).toBe(false);
    expect(bobJoined.otherParticipants.map((p) => p.identity)).toEqual([`${alice.user.userId}:${alice.user.deviceId}`]);
    await waitFor(() => aliceWs.messages.some((m) => m.message.case === 'update' && m.message.value.participants.some((p) => p.identity.startsWith(bob.user.userId))) || undefined, {
      description: 'alice told about bob',
    });

    // Pings are answered; hostile frames are faults, not crashes.
    aliceWs.send({ case: 'pingReq', value: new Ping({ timestamp: 7n }) });
    expect((await aliceWs.next('pongResp')).lastPingTimestamp).toBe(7n);
    aliceWs.sendRaw('{"not":"protobuf"}');
    aliceWs.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    aliceWs.send({ case: 'offer', value: { type: 'offer', sdp: 'garbage', id: 1 } as never });
    await waitFor(() => logLines.filter((l) => l.includes('livekit client fault')).length >= 3 || undefined, { description: 'three faults logged' });
    expect(aliceWs.closeCode).toBeUndefined();

    // A forged token: refused at the upgrade and by validate.
    const forged = aliceToken.slice(0, -6) + 'AAAAAA';
    const refused = await LiveKitWsClient.connect(node.publicUrl, forged);
    expect(refused).toMatchObject({ ok: false, status: 401 });
    expect(await validate(forged)).toBe(401);

    // Bob's membership ends: LeaveRequest, then close, within 2 s; his token is dead.
    const started = performance.now();
    await bobSession.leaveRoomSession(5000);
    await bobWs.closed(10_000);
    const elapsedMs = performance.now() - started;
    console.log(`[integration] livekit eviction after leaveRoomSession: ${elapsedMs.toFixed(0)} ms`);
    const leave = await bobWs.next('leave', 0);
    expect(leave).toMatchObject({ reason: DisconnectReason.PARTICIPANT_REMOVED, action: LeaveRequest_Action.DISCONNECT, canReconnect: false });
    expect(await validate(bobToken)).toBe(401);
    await waitFor(() => aliceWs.messages.some((m) => m.message.case === 'update' && m.message.value.participants.some((p) => p.identity.startsWith(bob.user.userId) && p.state === 3)) || undefined, {
      description: 'alice told bob left',
    });

    aliceWs.send({ case: 'leave', value: { canReconnect: false, reason: DisconnectReason.CLIENT_INITIATED } as never });
    await aliceWs.closed(5000);
    await aliceSession.leaveRoomSession(5000);
  }, 90_000);

  it('keeps a delegated delayed leave alive while the member is connected, and lets it fire once the connection is gone', async () => {
    // Element Call's order: the delayed leave first, then the membership, then /get_token with the delay id.
    const erin = await sdkUserInRoom('erin');
    const delayMs = 3000;
    const membership = await publishDelayedMembership(synapse.baseUrl, erin, roomId, { focus: { type: 'livekit', livekit_service_url: node.publicUrl }, delayMs });
    await waitFor(() => node.matrix!.watcher.check(roomId, erin.user.userId, erin.user.deviceId).ok || undefined, { timeoutMs: 15_000, description: 'SFU sees erin' });
    const token = await getToken(erin, { delay_id: membership.delayId, delay_timeout: delayMs, delay_cs_api_url: synapse.baseUrl });
    const ws = await connect(token);
    await ws.next('join');
    // Three delays pass while connected: the SFU restarted the delayed leave all along.
    await new Promise((resolve) => setTimeout(resolve, 3 * delayMs));
    expect(await membership.live()).toBe(true);
    expect(ws.closeCode).toBeUndefined();

    // The client vanishes: no more restarts, the homeserver sends the leave, the SFU evicts nobody (already gone).
    const droppedAt = performance.now();
    ws.close();
    await waitFor(async () => !(await membership.live()) || undefined, { timeoutMs: 20_000, intervalMs: 200, description: 'the delayed leave fired' });
    console.log(`[integration] delayed leave fired ${(performance.now() - droppedAt).toFixed(0)} ms after the LiveKit socket closed (delay ${delayMs} ms)`);
  }, 60_000);

  it('a request storm is dropped (queue bound, rate limit) and ends only the storming session', async () => {
    const frank = await sdkUserInRoom('frank');
    const gwen = await sdkUserInRoom('gwen');
    for (const sdk of [frank, gwen]) {
      joinCall(sdk, sdk.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: node.publicUrl });
      await waitFor(() => node.matrix!.watcher.check(roomId, sdk.user.userId, sdk.user.deviceId).ok || undefined, { timeoutMs: 15_000, description: `SFU sees ${sdk.user.userId}` });
    }
    const calm = await connect(await getToken(gwen));
    await calm.next('join');
    const storm = await connect(await getToken(frank));
    await storm.next('join');
    for (let i = 0; i < 400; i++) storm.send({ case: 'mute', value: { sid: `TR_unknown${i}`, muted: true } as never });
    await storm.closed(10_000);
    expect(await storm.next('leave', 0)).toMatchObject({ reason: DisconnectReason.STATE_MISMATCH, action: LeaveRequest_Action.DISCONNECT });
    expect(logLines.some((l) => l.includes('livekit client fault') && l.includes('dropped'))).toBe(true);
    calm.send({ case: 'pingReq', value: new Ping({ timestamp: 9n }) });
    await waitFor(() => calm.messages.some((m) => m.message.case === 'pongResp' && m.message.value.lastPingTimestamp === 9n) || undefined, { description: 'the calm session still answered' });
    expect(calm.closeCode).toBeUndefined();
    calm.close();
  }, 60_000);

  it('resumes a dropped socket with the same token (no leave for the others, missed updates replayed), leaves when the grace ends, and refuses a resume after an eviction', async () => {
    const hana = await sdkUserInRoom('hana');
    const ivo = await sdkUserInRoom('ivo');
    const sessions = [hana, ivo].map((sdk) => joinCall(sdk, sdk.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: node.publicUrl }));
    for (const sdk of [hana, ivo]) {
      await waitFor(() => node.matrix!.watcher.check(roomId, sdk.user.userId, sdk.user.deviceId).ok || undefined, { timeoutMs: 15_000, description: `SFU sees ${sdk.user.userId}` });
    }
    const identity = (sdk: SdkUser) => `${sdk.user.userId}:${sdk.user.deviceId}`;
    const leftIn = (ws: LiveKitWsClient, sdk: SdkUser) =>
      ws.messages.some((m) => m.message.case === 'update' && m.message.value.participants.some((p) => p.identity === identity(sdk) && p.state === 3));
    const hanaToken = await getToken(hana);
    const first = await connect(hanaToken);
    const joined = await first.next('join');

    // The socket drops without a leave; ivo joins meanwhile and sees hana as a member.
    first.close();
    await first.closed(5000);
    const ivoToken = await getToken(ivo);
    const ivoWs = await connect(ivoToken);
    const ivoJoined = await ivoWs.next('join');
    expect(ivoJoined.otherParticipants.map((p) => p.identity)).toEqual(expect.arrayContaining([identity(hana)]));

    // The same token resumes: ReconnectResponse first, then what hana missed (ivo joined).
    const resumeStarted = performance.now();
    const resumed = await LiveKitWsClient.connect(node.publicUrl, hanaToken, { reconnect: '1', sid: joined.participant!.sid });
    if (!resumed.ok) throw new Error(`resume refused: ${resumed.status} ${resumed.body}`);
    const again = resumed.client;
    const reconnect = await again.next('reconnect');
    console.log(`[integration] livekit resume: reconnect=1 upgrade → ReconnectResponse ${(performance.now() - resumeStarted).toFixed(0)} ms`);
    expect(again.messages[0]!.message.case).toBe('reconnect');
    expect(reconnect.clientConfiguration?.resumeConnection).toBe(ClientConfigSetting.ENABLED);
    await waitFor(() => again.messages.some((m) => m.message.case === 'update' && m.message.value.participants.some((p) => p.identity === identity(ivo))) || undefined, {
      description: 'hana told about ivo after the resume',
    });
    again.send({ case: 'pingReq', value: new Ping({ timestamp: 11n }) });
    expect((await again.next('pongResp')).lastPingTimestamp).toBe(11n);
    // Held longer than the grace in total, but resumed in between: still in the call.
    await new Promise((resolve) => setTimeout(resolve, RESUME_GRACE_MS + 500));
    expect(again.closeCode).toBeUndefined();
    expect(leftIn(ivoWs, hana)).toBe(false);

    // Dropped again and not resumed: the grace ends and the others see hana leave.
    again.close();
    const graceFrom = performance.now();
    await waitFor(() => leftIn(ivoWs, hana) || undefined, { timeoutMs: RESUME_GRACE_MS + 5000, description: 'ivo told hana left after the grace' });
    console.log(`[integration] livekit resume grace ${RESUME_GRACE_MS} ms: leave seen ${(performance.now() - graceFrom).toFixed(0)} ms after the drop`);
    const late = await LiveKitWsClient.connect(node.publicUrl, hanaToken, { reconnect: '1', sid: joined.participant!.sid });
    if (!late.ok) throw new Error(`late resume refused: ${late.status}`);
    expect(await late.client.next('leave')).toMatchObject({ action: LeaveRequest_Action.RECONNECT });

    // Ivo drops; his membership ends during the grace: evicted, and his resume is refused.
    ivoWs.close();
    await ivoWs.closed(5000);
    await sessions[1]!.leaveRoomSession(5000);
    await waitFor(() => logLines.some((l) => l.includes('livekit session evicted') && l.includes(ivo.user.userId)) || undefined, { timeoutMs: 10_000, description: 'ivo evicted while held' });
    const ivoResume = await LiveKitWsClient.connect(node.publicUrl, ivoToken, { reconnect: '1', sid: ivoJoined.participant!.sid });
    expect(ivoResume).toMatchObject({ ok: false, status: 401 });
    await sessions[0]!.leaveRoomSession(5000);

    // /get_token and /rtc count as the livekit edge's admissions, and its sessions have their own gauge.
    const metrics = await (await fetch(`${node.publicUrl}/metrics`)).text();
    expect(metrics).toMatch(/sfu_admissions_total\{outcome="granted",reason="ok",edge="livekit"\} [1-9]/);
    expect(metrics).toMatch(/sfu_admissions_total\{outcome="refused",reason="jwt_replayed",edge="livekit"\} [1-9]/);
    expect(metrics).toMatch(/sfu_admissions_total\{outcome="granted",reason="ok",edge="native"\} 0/);
    expect(metrics).toMatch(/sfu_websocket_sessions\{edge="livekit"\} \d/);
    expect(metrics).toMatch(/sfu_livekit_resumes_total\{outcome="resumed"\} [1-9]/);
    expect(metrics).toMatch(/sfu_livekit_resumes_total\{outcome="expired"\} [1-9]/);
  }, 60_000);
});
