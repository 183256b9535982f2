// livekit-client in Chromium against the livekit edge with Matrix admission on a real Synapse:
// members run real matrix-js-sdk MatrixRTC sessions whose membership names a `livekit` focus
// with this SFU's URL; the pages ask the token service themselves, from another origin (CORS),
// with the exact bodies Element Call 0.26.1 sends (`/get_token`, and `/sfu/get`, which its
// default "compatibility" mode uses for the publishing connection); both connect and decode
// each other. Then: eviction when a MatrixRTC session leaves, a subscribe-only member of
// another focus, a refused non-member, and a delegated delayed leave that fires only after
// the page is killed. Timings are printed, never asserted.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../integration/synapse/context.ts';
import { DisconnectReason } from '@livekit/protocol';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { joinCall, joinedRoom, publishDelayedMembership, startSdkClient, type SdkUser, testRoomUsers } from '../tools/matrixCall.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, tearDown } from '../tools/e2eHarness.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { liveKitDecodes, openLiveKitPage, type LiveKitPage } from '../tools/liveKitPage.ts';
import { TEST_PAGE_DIR, TEST_PAGE_PREFIX } from './pages/buildTestPage.ts';
import { buildLiveKitPage, LIVEKIT_PAGE_PATH } from './pages/livekit/buildLiveKitPage.ts';
import type { MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/MatrixRTCSession.js';

const MEDIA_TIMEOUT_MS = 45_000;
const OTHER_FOCUS_URL = 'https://lk-jwt.other-agency.example';
const synapse = inject('synapse');
const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let creatorHttp: MatrixTestClient;
let roomId: string;
/** The page is served as http://localhost:…, the token service is asked at http://127.0.0.1:…: cross-origin, like Element Call. */
let pageUrl = '';
const { user, sdkUserInRoom, sdkUsers } = testRoomUsers({ synapse, room: () => ({ inviter: creatorHttp, roomId }) });
const tokenLatenciesMs: Record<string, number[]> = {};

const identityOf = (sdk: SdkUser) => `${sdk.user.userId}:${sdk.user.deviceId}`;

/** Element Call 0.26.1's `/get_token` body (src/livekit/openIDSFU.ts getLiveKitJWT; compatibility mode: member id `{user}:{device}`). */
async function getTokenBody(sdk: SdkUser, delay?: { delayId: string; delayMs: number }): Promise<Record<string, unknown>> {
  return {
    room_id: roomId,
    slot_id: 'm.call#ROOM',
    openid_token: await sdk.client.getOpenIdToken(),
    member: { id: identityOf(sdk), claimed_user_id: sdk.user.userId, claimed_device_id: sdk.user.deviceId },
    ...(delay ? { delay_id: delay.delayId, delay_timeout: delay.delayMs, delay_cs_api_url: synapse.baseUrl } : {}),
  };
}

/** Element Call 0.26.1's `/sfu/get` body (getLiveKitJWTLegacy, without delegation). */
async function sfuGetBody(sdk: SdkUser): Promise<Record<string, unknown>> {
  return { room: roomId, openid_token: await sdk.client.getOpenIdToken(), device_id: sdk.user.deviceId };
}

/** Asks the token service from the page; records the latency per path. */
async function askToken(page: LiveKitPage, path: '/get_token' | '/sfu/get', body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await page.fetchJson(`${node!.publicUrl}${path}`, body);
  (tokenLatenciesMs[path] ??= []).push(reply.ms);
  return { status: reply.status, body: reply.body as Record<string, unknown> };
}

async function grantedToken(page: LiveKitPage, path: '/get_token' | '/sfu/get', body: unknown): Promise<{ url: string; jwt: string }> {
  const reply = await askToken(page, path, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return { url: String(reply.body['url']), jwt: String(reply.body['jwt']) };
}

async function sees(sdk: SdkUser, subscriber = false): Promise<void> {
  const watcher = node!.matrix!.watcher;
  await waitFor(() => (subscriber ? watcher.checkSubscriber(roomId, sdk.user.userId, sdk.user.deviceId) : watcher.check(roomId, sdk.user.userId, sdk.user.deviceId)).ok || undefined, {
    timeoutMs: 15_000,
    description: `SFU sees ${sdk.user.userId}'s call membership`,
  });
}

function producersOf(identity: string): string[] {
  const conference = node!.registry.get(roomId as ConferenceId);
  return conference?.dump().participants.find((p) => p.id === identity)?.producers ?? [];
}

const ourFocus = () => ({ type: 'livekit', livekit_service_url: node!.publicUrl });

/** Epoch ms of the first server log line with `msg` naming `participantId` (JSON lines), if any. */
function loggedAt(msg: string, participantId: string): number | undefined {
  for (const line of serverLog) {
    if (!line.includes(`"msg":"${msg}"`) || !line.includes(participantId)) continue;
    const time = (JSON.parse(line) as { time?: string }).time;
    if (time) return Date.parse(time);
  }
  return undefined;
}

beforeAll(async () => {
  const bot = await user('sfu');
  const creator = await user('creator');
  creatorHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...creator });
  roomId = await creatorHttp.createRoom({ invite: [bot.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  const matrixOverrides = loopbackMatrixOverrides(synapse, bot, 5000) as { matrix: Record<string, unknown> };
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `${process.env['TMPDIR'] ?? '/tmp'}/sfu-e2e-lk-matrix-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...matrixOverrides,
      matrix: { ...matrixOverrides.matrix, membershipGraceMs: 0 },
    },
  });
  await buildLiveKitPage();
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => serverLog.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  workerPids = node.pool.slots.map((slot) => slot.worker.pid);
  await waitFor(async () => (await creatorHttp.membershipOf(roomId as never, bot.userId)) === 'join', { timeoutMs: 15_000, description: 'SFU account joined the room' });
  pageUrl = `http://localhost:${node.port}${LIVEKIT_PAGE_PATH}`;
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  for (const sdk of sdkUsers) sdk.client.stopClient();
  const summary = Object.entries(tokenLatenciesMs).map(([path, values]) => `${path} ${[...values].sort((a, b) => a - b).join('/')} ms`);
  console.log(`[e2e] livekit token service latency seen by the page (sorted): ${summary.join('; ')}`);
  await tearDown(browser, node, workerPids, serverLog);
});

dumpLogsOnFailure(serverLog, () => browser);

describe('livekit-client on real Synapse MatrixRTC memberships', () => {
  const opened: LiveKitPage[] = [];
  let alice: SdkUser;
  let bob: SdkUser;
  let bobSession: MatrixRTCSession;
  let alicePage: LiveKitPage;
  let bobPage: LiveKitPage;
  let bobToken: { url: string; jwt: string };

  afterAll(async () => {
    for (const page of opened.splice(0)) await page.disconnect();
  });

  it('two members get tokens from /get_token and /sfu/get with Element Call\'s bodies, connect livekit-client and decode each other', async () => {
    alice = await sdkUserInRoom('alice');
    bob = await sdkUserInRoom('bob');
    joinCall(alice, await joinedRoom(alice, roomId), ourFocus());
    bobSession = joinCall(bob, await joinedRoom(bob, roomId), ourFocus());
    await sees(alice);
    await sees(bob);

    // Element Call probes delegation support with a bare POST; anything but 404 makes it use a
    // 1 h delayed leave and delegate it through /sfu/get, which this SFU does not keep alive.
    expect((await fetch(`${node!.publicUrl}/delegate_delayed_leave`, { method: 'POST' })).status).toBe(404);

    alicePage = await openLiveKitPage(browser!, pageUrl, 'alice');
    bobPage = await openLiveKitPage(browser!, pageUrl, 'bob');
    opened.push(alicePage, bobPage);
    const aliceToken = await grantedToken(alicePage, '/get_token', await getTokenBody(alice));
    bobToken = await grantedToken(bobPage, '/sfu/get', await sfuGetBody(bob));
    expect(aliceToken.url).toBe(node!.publicUrl.replace(/^http/, 'ws'));
    // /sfu/get answers with the native signalling URL; livekit-client appends /rtc to it.
    expect(bobToken.url).toBe(`${node!.publicUrl.replace(/^http/, 'ws')}/ws`);
    // Element Call reads the payload with atob() and takes the LiveKit room from video.room.
    for (const [page, token, sdk] of [[alicePage, aliceToken, alice], [bobPage, bobToken, bob]] as const) {
      expect(await page.elementCallPayload(token.jwt)).toMatchObject({ sub: identityOf(sdk), video: { room: roomId, roomJoin: true, canPublish: true, canSubscribe: true } });
    }

    const a = await alicePage.connect({ url: aliceToken.url, token: aliceToken.jwt, camera: true, microphone: true });
    const b = await bobPage.connect({ url: bobToken.url, token: bobToken.jwt, camera: true, microphone: true });
    expect(a.identity).toBe(identityOf(alice));
    expect(b.identity).toBe(identityOf(bob));
    console.log(`[e2e] livekit on Matrix: connect alice (/get_token) ${a.connectMs} ms, bob (/sfu/get → /ws/rtc) ${b.connectMs} ms`);
    await waitFor(() => liveKitDecodes(alicePage, identityOf(bob)), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice decodes bob' });
    await waitFor(() => liveKitDecodes(bobPage, identityOf(alice)), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob decodes alice' });
  });

  it('a subscribe-only member of another focus connects, receives the publisher\'s video and is refused publishing by the client', async () => {
    const carol = await sdkUserInRoom('carol');
    joinCall(carol, await joinedRoom(carol, roomId), { type: 'livekit', livekit_service_url: OTHER_FOCUS_URL });
    await sees(carol, true);
    const carolPage = await openLiveKitPage(browser!, pageUrl, 'carol');
    opened.push(carolPage);
    // Element Call's subscribe-only connection asks /get_token without delegation.
    const token = await grantedToken(carolPage, '/get_token', await getTokenBody(carol));
    expect(await carolPage.elementCallPayload(token.jwt)).toMatchObject({ video: { room: roomId, canPublish: false, canSubscribe: true } });
    await carolPage.connect({ url: token.url, token: token.jwt, camera: false, microphone: false });
    await waitFor(() => liveKitDecodes(carolPage, identityOf(alice), ['video']), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol decodes alice' });
    expect(await carolPage.permissions()).toEqual({ canPublish: false, canSubscribe: true });
    const attempt = await carolPage.tryPublishCamera();
    console.log(`[e2e] livekit subscribe-only publish attempt: ${attempt}`);
    expect(attempt).toMatch(/insufficient permissions/);
    // A client that ignores its grant: the SFU refuses its AddTrack and the sending m-section.
    const forced = await carolPage.forcePublishCamera();
    console.log(`[e2e] livekit subscribe-only client ignoring its grant: ${forced}`);
    expect(forced).not.toBe('published');
    expect(producersOf(identityOf(carol))).toEqual([]);
    expect(serverLog.some((line) => line.includes('AddTrack without publish rights'))).toBe(true);
    // Nobody else sees a track of carol.
    expect((await alicePage.tracks()).filter((t) => t.identity === identityOf(carol))).toEqual([]);
  });

  it('refuses a user who is not in the room with the Matrix envelope on both token paths; a member without a call membership opens no session', async () => {
    const stranger = await startSdkClient(synapse.baseUrl, await user('stranger'));
    sdkUsers.push(stranger);
    const strangerPage = await openLiveKitPage(browser!, pageUrl, 'stranger');
    opened.push(strangerPage);
    for (const [path, body] of [['/get_token', await getTokenBody(stranger)], ['/sfu/get', await sfuGetBody(stranger)]] as const) {
      const reply = await askToken(strangerPage, path, body);
      expect(reply, path).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'You are not in a call in this room on this SFU.' } });
    }
    // A joined member who has not published a call membership: refused, or (Element Call asks
    // before it publishes its membership) given a token that connects only once the membership exists.
    const dave = await sdkUserInRoom('dave');
    const davePage = strangerPage;
    const reply = await askToken(davePage, '/get_token', await getTokenBody(dave));
    if (reply.status === 200) {
      const connected = await davePage
        .connect({ url: String(reply.body['url']), token: String(reply.body['jwt']), camera: false, microphone: false })
        .then(() => 'connected', (error: unknown) => String(error).split('\n')[0]!);
      console.log(`[e2e] livekit member without a call membership: token issued, connect → ${connected}`);
      expect(connected).not.toBe('connected');
    } else {
      expect(reply).toEqual({ status: 403, body: { errcode: 'M_FORBIDDEN', error: 'You are not in a call in this room on this SFU.' } });
    }
    expect(producersOf(identityOf(dave))).toEqual([]);
  });

  it('evicts a member whose MatrixRTC session leaves: its livekit-client is disconnected with PARTICIPANT_REMOVED, the other sees it leave, its token is dead', async () => {
    const leftAt = Date.now();
    await bobSession.leaveRoomSession(5000);
    const leaveSentAt = Date.now();
    const disconnectedAt = await waitFor(() => bobPage.disconnectedAt(), { timeoutMs: 10_000, intervalMs: 25, description: 'bob\'s livekit-client disconnected' });
    const evictedAt = loggedAt('livekit session evicted', identityOf(bob));
    console.log(
      `[e2e] livekit eviction: leaveRoomSession → Disconnected in bob's browser ${disconnectedAt - leftAt} ms ` +
        `(leave event sent after ${leaveSentAt - leftAt} ms; SFU evicted ${evictedAt === undefined ? '?' : evictedAt - leaveSentAt} ms after that; browser Disconnected ${evictedAt === undefined ? '?' : disconnectedAt - evictedAt} ms after the eviction)`,
    );
    expect(await bobPage.events()).toContain(`disconnected ${DisconnectReason.PARTICIPANT_REMOVED}`);
    await waitFor(async () => (await alicePage.events()).includes(`left ${identityOf(bob)}`) || undefined, { timeoutMs: 10_000, description: 'alice sees bob leave' });
    console.log(`[e2e] livekit eviction: alice saw ParticipantDisconnected; bob's events: ${(await bobPage.events()).filter((e) => !e.startsWith('speakers') && !e.startsWith('quality')).join(', ')}`);
    // The token opens nothing now: validate refuses it, and a fresh livekit-client cannot connect with it.
    expect((await fetch(`${node!.publicUrl}/ws/rtc/validate?access_token=${encodeURIComponent(bobToken.jwt)}`)).status).toBe(401);
    const again = await openLiveKitPage(browser!, pageUrl, 'bob-again');
    opened.push(again);
    const refused = await again.connect({ url: bobToken.url, token: bobToken.jwt, camera: false, microphone: false }).then(
      () => 'connected',
      (error: unknown) => String(error),
    );
    console.log(`[e2e] livekit reconnect with the evicted token: ${refused.split('\n')[0]}`);
    expect(refused).not.toBe('connected');
    expect(await alicePage.remoteIdentities()).not.toContain(identityOf(bob));
  });

  it('keeps a delegated delayed leave alive while the browser is connected and lets it fire once the page is killed', async () => {
    // Element Call's order: the delayed leave first, then the membership, then the token with the delay id.
    const erin = await sdkUserInRoom('erin');
    const delayMs = 3000;
    const { delayId, live } = await publishDelayedMembership(synapse.baseUrl, erin, roomId, { focus: ourFocus(), delayMs, content: { membershipID: identityOf(erin) } });
    await sees(erin);
    // Until the SFU holds the delegation and the session is open, the client restarts its own
    // delayed leave (as Element Call's MembershipManager does); under load that takes seconds.
    const restartUrl = `${synapse.baseUrl}/_matrix/client/unstable/org.matrix.msc4140/delayed_events/${encodeURIComponent(delayId)}/restart`;
    const restartOwn = () =>
      fetch(restartUrl, { method: 'POST', headers: { authorization: `Bearer ${erin.user.accessToken}`, 'content-type': 'application/json' }, body: '{}' }).then(
        (response) => {
          if (response.status !== 200) console.log(`[e2e] own delayed leave restart answered ${response.status}`);
        },
        (error: unknown) => console.log(`[e2e] own delayed leave restart failed: ${String(error)}`),
      );
    const ownRestarts = setInterval(() => void restartOwn(), 1000);
    let connectedAt: number;
    try {
      const erinPage = await openLiveKitPage(browser!, pageUrl, 'erin');
      opened.push(erinPage);
      const token = await grantedToken(erinPage, '/get_token', await getTokenBody(erin, { delayId, delayMs }));
      await erinPage.connect({ url: token.url, token: token.jwt, camera: true, microphone: true });
      connectedAt = Date.now();
    } finally {
      clearInterval(ownRestarts);
    }
    const erinPage = opened.at(-1)!;
    await waitFor(() => liveKitDecodes(alicePage, identityOf(erin), ['video']), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice decodes erin' });

    // Four delay timeouts pass while connected (the client no longer restarts it): the SFU restarted the delayed leave all along.
    const connectedFor = 4 * delayMs;
    const until = Math.max(Date.now(), connectedAt) + connectedFor;
    while (Date.now() < until) {
      expect(await live()).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(await erinPage.disconnectedAt()).toBeUndefined();

    // The page dies without a leave: no more restarts, the homeserver sends the leave.
    const killedAt = Date.now();
    await erinPage.crash();
    await waitFor(async () => !(await live()) || undefined, { timeoutMs: 30_000, intervalMs: 100, description: 'the delayed leave fired' });
    const firedAt = Date.now();
    const releasedAt = loggedAt('participant left', identityOf(erin));
    console.log(
      `[e2e] livekit delayed leave (delay ${delayMs} ms) fired ${firedAt - killedAt} ms after the page was killed ` +
        `(the SFU let erin go ${releasedAt === undefined ? '?' : releasedAt - killedAt} ms after the kill, the leave fired ${releasedAt === undefined ? '?' : firedAt - releasedAt} ms after that); membership live for ${connectedFor} ms while connected`,
    );
    await waitFor(async () => !(await alicePage.remoteIdentities()).includes(identityOf(erin)) || undefined, { timeoutMs: 10_000, description: 'alice sees erin gone' });
  });
});
