// Matrix admission end to end on a real Synapse with real matrix-js-sdk
// clients: MatrixRTC membership (js-sdk's own session API) → OpenID → /sfu/get
// → JWT → WebSocket admitted; eviction on leave, kick, ban and a fired delayed
// leave; and the refusal battery through the real flow. Eviction latencies are
// printed (reported precisely), asserted only loosely.

import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, onTestFailed } from 'vitest';
import './synapse/context.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { CLOSE_CODES } from '../../src/common/protocol/closeCodes.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { RECEIVER_RTP_CAPABILITIES } from '../fixtures/rtp.ts';
import { TestClient } from '../tools/wsClient.ts';
import { joinCall, joinedRoom, requestSfuToken, startSdkClient, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { membershipStateKey } from '../../src/server/matrix/callMembership.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { loadSigningKey } from '../../src/server/auth/JwtKeys.ts';
import { SfuTokenService } from '../../src/server/auth/SfuToken.ts';
import { createHmac } from 'node:crypto';
import { freeMediaBasePort } from '../tools/ports.ts';

const synapse = inject('synapse');
const logLines: string[] = [];
let node: SfuNode;
let sfuBase: string;
let alice: SdkUser;
let aliceHttp: MatrixTestClient;
let roomId: string;
const { user, sdkUserInRoom, sdkUsers: users } = testRoomUsers({ synapse, room: () => ({ inviter: aliceHttp, roomId }) });

function focus() {
  return node.matrix!.focus;
}

/** Waits until the SFU would admit this device (its sync has seen the membership). */
async function admissible(sdk: SdkUser): Promise<void> {
  await waitFor(() => {
    const check = node.matrix!.watcher.check(roomId, sdk.user.userId, sdk.user.deviceId);
    return check.ok ? true : (undefined as never);
  }, { timeoutMs: 15_000, description: `SFU sees the membership of ${sdk.user.userId}` });
}

async function connect(sdk: SdkUser): Promise<TestClient> {
  const token = await requestSfuToken(sfuBase, sdk, roomId);
  expect(token.status, JSON.stringify(token.body)).toBe(200);
  const client = await TestClient.open(`${String(token.body['url'])}?jwt=${String(token.body['jwt'])}`);
  const joined = await client.request('join', { rtpCapabilities: RECEIVER_RTP_CAPABILITIES });
  expect(joined.ok, JSON.stringify(joined)).toBe(true);
  return client;
}

function reasonsLogged(): string[] {
  return logLines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).filter((r) => r.reason).map((r) => r.reason!);
}

beforeAll(async () => {
  const bot = await user('sfu');
  const aliceUser = await user('alice');
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...aliceUser });
  roomId = await aliceHttp.createRoom({
    invite: [bot.userId],
    powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } },
  });
  const matrixOverrides = loopbackMatrixOverrides(synapse, bot, 5000) as { matrix: Record<string, unknown> };
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `${process.env['TMPDIR'] ?? '/tmp'}/sfu-matrix-test-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...matrixOverrides,
      // These tests time evictions as they happen; the grace for restoring a membership has its own test.
      matrix: { ...matrixOverrides.matrix, membershipGraceMs: 0 },
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => logLines.push(line) }) });
  sfuBase = node.publicUrl;
  // The SFU account accepts the invite (its server is allowed).
  await waitFor(async () => (await aliceHttp.membershipOf(roomId as never, bot.userId)) === 'join', {
    timeoutMs: 15_000,
    description: 'SFU account joined the room',
  });
  alice = await startSdkClient(synapse.baseUrl, aliceUser);
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

describe('Matrix admission', () => {
  it('two users who join with js-sdk MatrixRTC sessions get JWTs and are admitted; leaving evicts within 2 s', async () => {
    const bob = await sdkUserInRoom('bob');
    const aliceSession = joinCall(alice, alice.client.getRoom(roomId)!, focus());
    const bobSession = joinCall(bob, bob.client.getRoom(roomId)!, focus());
    await admissible(alice);
    await admissible(bob);
    const aliceWs = await connect(alice);
    const bobWs = await connect(bob);
    await waitFor(() => aliceWs.notifications.find((n) => n.method === 'peerJoined'), { description: 'alice sees bob' });

    const started = performance.now();
    await bobSession.leaveRoomSession(5000);
    const code = await bobWs.closed(10_000);
    const elapsedMs = performance.now() - started;
    console.log(`eviction after leaveRoomSession: ${elapsedMs.toFixed(0)} ms`);
    expect(code).toBe(CLOSE_CODES.EVICTED);
    expect(bobWs.closeReason).toBe('evicted: membership-ended');
    await waitFor(() => aliceWs.notifications.find((n) => n.method === 'peerLeft'), { description: 'alice sees bob leave' });
    aliceWs.close();
    await aliceSession.leaveRoomSession(5000);
  });

  it('a kicked user and a banned user are evicted', async () => {
    for (const action of ['kick', 'ban'] as const) {
      const carol = await sdkUserInRoom(`carol${action}`);
      joinCall(carol, carol.client.getRoom(roomId)!, focus());
      await admissible(carol);
      const ws = await connect(carol);
      const started = performance.now();
      await aliceHttp.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/${action}`, { user_id: carol.user.userId, reason: 'test' });
      expect(await ws.closed(10_000)).toBe(CLOSE_CODES.EVICTED);
      console.log(`eviction after ${action}: ${(performance.now() - started).toFixed(0)} ms`);
      expect(ws.closeReason).toBe(action === 'kick' ? 'evicted: kicked' : 'evicted: banned');
      carol.client.stopClient();
    }
  });

  it('a client that vanishes is evicted when its delayed leave fires', async () => {
    // Dave writes his membership the way js-sdk does (delayed leave first, then the
    // membership), then vanishes: nobody restarts the delayed leave, so Synapse fires it.
    const dave = await sdkUserInRoom('dave');
    const http = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...dave.user });
    const stateKey = membershipStateKey(dave.user.userId, dave.user.deviceId);
    const delayMs = 3000;
    const scheduledAt = performance.now();
    await http.sendDelayedState(roomId as never, 'org.matrix.msc3401.call.member', stateKey, {}, delayMs);
    await http.sendState(roomId as never, 'org.matrix.msc3401.call.member', stateKey, {
      application: 'm.call',
      call_id: '',
      scope: 'm.room',
      device_id: dave.user.deviceId,
      expires: 14_400_000,
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: [focus()],
    });
    await admissible(dave);
    const ws = await connect(dave);
    expect(await ws.closed(20_000)).toBe(CLOSE_CODES.EVICTED);
    const elapsed = performance.now() - scheduledAt;
    console.log(`eviction after a vanished client's delayed leave (${delayMs} ms): ${(elapsed - delayMs).toFixed(0)} ms after the delay ran out`);
    expect(elapsed).toBeGreaterThanOrEqual(delayMs - 100);
    expect(ws.closeReason).toBe('evicted: membership-ended');
  });

  it('a membership whose transport names another SFU is refused (403) at /sfu/get', async () => {
    const erin = await sdkUserInRoom('erin');
    joinCall(erin, erin.client.getRoom(roomId)!, { type: 'livekit', livekit_service_url: 'https://other.example/jwt' });
    await waitFor(() => {
      const check = node.matrix!.watcher.check(roomId, erin.user.userId, erin.user.deviceId);
      return !check.ok && check.reason === 'membership_other_sfu';
    }, { timeoutMs: 15_000, description: 'membership seen naming another SFU' });
    const token = await requestSfuToken(sfuBase, erin, roomId);
    expect(token).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'You are not in a call in this room on this SFU.' } });
    expect(reasonsLogged()).toContain('membership_other_sfu');
  });

  it('refuses each forged or stale request with its own logged reason', async () => {
    const frank = await sdkUserInRoom('frank');
    const session = joinCall(frank, frank.client.getRoom(roomId)!, focus());
    await admissible(frank);
    const refusals: Array<[string, Promise<{ status: number; body: Record<string, unknown> }>, number]> = [
      // A room the SFU cannot see (its account is not in it, no admin API source): 404 room_not_visible, not 403.
      ['token_for_other_room', requestSfuToken(sfuBase, frank, '!other:synapse.test'), 404],
      ['unknown_field', requestSfuToken(sfuBase, frank, roomId, { body: { room: roomId, device_id: 'X', openid_token: {}, evil: 1 } }), 400],
      ['server_not_allowed', requestSfuToken(sfuBase, frank, roomId, { body: { room: roomId, device_id: 'X', openid_token: { access_token: 'x', matrix_server_name: 'evil.example' } } }), 403],
      ['bogus_openid', requestSfuToken(sfuBase, frank, roomId, { body: { room: roomId, device_id: frank.user.deviceId, openid_token: { access_token: 'forged', matrix_server_name: synapse.serverName } } }), 401],
    ];
    for (const [name, promise, status] of refusals) {
      const result = await promise;
      expect(result.status, name).toBe(status);
      expect(typeof result.body['errcode'], name).toBe('string');
    }
    // A device without a membership gets a pending token (Element Call asks before it publishes
    // one; src/server/auth/pendingMembership.ts), which the WebSocket refuses while no membership
    // of that device appears (no_membership, after the bounded wait).
    const pending = await requestSfuToken(sfuBase, frank, roomId, { deviceId: 'NOTMYDEVICE' });
    expect(pending.status).toBe(200);
    const pendingWs = await TestClient.open(`${String(pending.body['url'])}?jwt=${String(pending.body['jwt'])}`);
    expect(await pendingWs.closed(20_000)).toBe(CLOSE_CODES.UNAUTHORIZED);
    // Another user's OpenID token claiming frank's device: a pending token of that user's own identity, never frank's.
    const claim = await requestSfuToken(sfuBase, alice, roomId, { deviceId: frank.user.deviceId });
    expect(claim.status).toBe(200);
    expect(JSON.parse(Buffer.from(String(claim.body['jwt']).split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: `${alice.user.userId}:${frank.user.deviceId}`, membership: 'pending' });
    // Oversized body.
    const huge = await fetch(`${sfuBase}/sfu/get`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(20_000) }) });
    expect(huge.status).toBe(413);
    // jti reuse: a token opens at most one session.
    const token = await requestSfuToken(sfuBase, frank, roomId);
    const url = `${String(token.body['url'])}?jwt=${String(token.body['jwt'])}`;
    const first = await TestClient.open(url);
    expect((await first.request('getRouterRtpCapabilities')).ok).toBe(true);
    const replay = await TestClient.open(url);
    expect(await replay.closed()).toBe(CLOSE_CODES.UNAUTHORIZED);
    first.close();
    // A JWT presented after the membership ended.
    const late = await requestSfuToken(sfuBase, frank, roomId);
    await session.leaveRoomSession(5000);
    await waitFor(() => !node.matrix!.watcher.check(roomId, frank.user.userId, frank.user.deviceId).ok, { timeoutMs: 15_000, description: 'membership gone' });
    const after = await TestClient.open(`${String(late.body['url'])}?jwt=${String(late.body['jwt'])}`);
    expect(await after.closed()).toBe(CLOSE_CODES.UNAUTHORIZED);
    // A socket with no JWT at all.
    const none = await TestClient.open(node.wsUrl);
    expect(await none.closed()).toBe(CLOSE_CODES.UNAUTHORIZED);
    const reasons = reasonsLogged();
    for (const reason of ['no_membership', 'room_not_visible', 'bad_body', 'server_not_allowed', 'openid_invalid', 'body_too_large', 'jwt_replayed', 'membership_ended', 'jwt_missing']) {
      expect(reasons, reason).toContain(reason);
    }
  });

  it('refuses forged and stale JWTs at the WebSocket, each with its own logged reason', async () => {
    const grace = await sdkUserInRoom('grace');
    joinCall(grace, grace.client.getRoom(roomId)!, focus());
    await admissible(grace);
    const check = node.matrix!.watcher.check(roomId, grace.user.userId, grace.user.deviceId);
    const membershipId = check.ok ? check.membershipId : '';
    const subject = { userId: grace.user.userId, deviceId: grace.user.deviceId, roomId, membershipId };
    const { key } = await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: node.config.server.dataDir });
    const issuer = node.publicUrl;
    const service = (overrides: { issuer?: string; audience?: string; now?: () => number; key?: typeof key }) =>
      new SfuTokenService({ key: overrides.key ?? key, issuer: overrides.issuer ?? issuer, audience: overrides.audience ?? issuer, lifetimeMs: 300_000, ...(overrides.now ? { now: overrides.now } : {}) });
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, aud: issuer, sub: subject.userId, device: subject.deviceId, room: roomId, membership: membershipId, jti: 'forged', iat: now, nbf: now, exp: now + 60 };
    const hsHeader = b64({ alg: 'HS256', kid: key.kid, typ: 'JWT' });
    const hsPayload = b64(claims);
    const hsSignature = createHmac('sha256', JSON.stringify(key.publicJwk)).update(`${hsHeader}.${hsPayload}`).digest('base64url');
    const otherKey = (await loadSigningKey({ algorithm: 'EdDSA', keyFile: '', dataDir: `${node.config.server.dataDir}-other` })).key;
    const forged: Array<[string, string]> = [
      ['jwt_bad_algorithm', `${b64({ alg: 'none', kid: key.kid })}.${b64(claims)}.`],
      ['jwt_bad_algorithm', `${hsHeader}.${hsPayload}.${hsSignature}`],
      ['jwt_expired', (await service({ now: () => Date.now() - 400_000 }).mint(subject)).jwt],
      ['jwt_not_yet_valid', (await service({ now: () => Date.now() + 120_000 }).mint(subject)).jwt],
      ['jwt_wrong_audience', (await service({ audience: 'https://other-sfu.example' }).mint(subject)).jwt],
      ['jwt_wrong_issuer', (await service({ issuer: 'https://evil.example' }).mint(subject)).jwt],
      ['jwt_unknown_kid', (await service({ key: otherKey }).mint(subject)).jwt],
      ['membership_ended', (await service({}).mint({ ...subject, roomId: '!another-room:synapse.test' })).jwt],
    ];
    for (const [reason, jwt] of forged) {
      const from = logLines.length;
      const client = await TestClient.open(`${node.wsUrl}?jwt=${jwt}`);
      expect(await client.closed(), reason).toBe(CLOSE_CODES.UNAUTHORIZED);
      const logged = logLines.slice(from).map((line) => JSON.parse(line) as { msg: string; reason?: string }).find((r) => r.msg === 'session refused');
      expect(logged?.reason, reason).toBe(reason);
    }
    const metrics = await (await fetch(`${node.publicUrl}/metrics`)).text();
    expect(metrics).toMatch(/sfu_admissions_total\{outcome="refused",reason="jwt_wrong_audience",edge="native"\} [1-9]/);
  });

  it('the membership state key form is what js-sdk writes (underscore form in normal rooms)', async () => {
    const state = await aliceHttp.roomState(roomId as never);
    const keys = state.filter((e) => e.type === 'org.matrix.msc3401.call.member').map((e) => e.state_key);
    expect(keys).toContain(membershipStateKey(alice.user.userId, alice.user.deviceId));
  });

  it('logs carry no JWT, OpenID token or access token', () => {
    const text = logLines.join('\n');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    for (const sdk of users) expect(text).not.toContain(sdk.user.accessToken);
  });
});
