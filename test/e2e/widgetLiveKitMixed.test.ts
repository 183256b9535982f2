// One call for our widget's users and Element Call's: in Chromium against the test Synapse and
// a real SFU node, a hosted widget (our protocol, native edge) and the real livekit-client
// 2.22.3 (Element Call's) whose Matrix membership and LiveKit identity follow Element Call's
// conventions (js-sdk MatrixRTC membership naming this SFU as its `livekit` focus, a /get_token
// token, identity `{userId}:{deviceId}`), unencrypted. Each decodes the other's video and hears
// the audio; the LiveKit side finds our participant under the identity js-sdk derives from our
// widget's membership (`rtcBackendIdentity`, which is what Element Call looks for), with camera
// and microphone sources and codec mime types in its TrackInfos (checked on the wire by a
// signalling-only LiveKit client); the widget names the LiveKit user from Matrix state and shows
// its mute state.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { TrackSource, type ParticipantInfo } from '@livekit/protocol';
import '../integration/synapse/context.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { buildWidget } from '../../src/build/buildWidget.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../tools/browser.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { joinCall, joinedRoom, startSdkClient, type SdkUser } from '../tools/matrixCall.ts';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';
import { TEST_PAGE_DIR, TEST_PAGE_PREFIX } from './pages/buildTestPage.ts';
import { buildLiveKitPage, LIVEKIT_PAGE_PATH } from './pages/livekit/buildLiveKitPage.ts';
import type { LiveKitTestApi } from './pages/livekit/liveKitApi.ts';
import { buildHost, serveHost } from './widgetHost/hostServer.ts';
import type { HostGlobal } from './widgetHost/hostApi.ts';
import { loudness, seesVideoOf, tiles, widgetFrame } from './widgetHost/widgetPage.ts';

const synapse = inject('synapse');
const suffix = Date.now().toString(36);
const serverLog: string[] = [];
const consoleLines: string[] = [];
const pids: number[] = [];
const sdkUsers: SdkUser[] = [];
let node: SfuNode;
let hostServer: Awaited<ReturnType<typeof serveHost>>;
let context: BrowserContext;
let profileDir: string | undefined;
let roomId: string;
let wanda: RegisteredUser;
let lars: RegisteredUser;
let pia: RegisteredUser;

type LkGlobal = { lkTest: LiveKitTestApi };

async function openWidget(user: RegisteredUser): Promise<{ page: Page; frame: Frame }> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'debug' && !message.text().startsWith('[PostmessageTransport]')) consoleLines.push(`[widget] ${message.type()}: ${message.text()}`);
  });
  await page.setViewportSize({ width: 1000, height: 700 });
  const query = new URLSearchParams({ hs: synapse.baseUrl, user: user.userId, device: user.deviceId, token: user.accessToken, room: roomId, widget: `${node.publicUrl}/widget/`, sfu: node.publicUrl, lang: 'en', crypto: '0', e2ee: '0' });
  await page.goto(`${hostServer.url}/?${query}`);
  await waitFor(async () => {
    const state = await page.evaluate(() => ({ ready: (globalThis as unknown as HostGlobal).widgetHost.ready, error: (globalThis as unknown as HostGlobal).widgetHost.error }));
    if (state.error) throw new Error(`host failed: ${state.error}`);
    return state.ready;
  }, { timeoutMs: 30_000, description: 'widget host ready' });
  return { page, frame: await widgetFrame(page) };
}

/** Element Call's way in: a js-sdk MatrixRTC membership naming this SFU's livekit focus, then /get_token (MSC4195). */
async function elementCallStyleToken(user: RegisteredUser): Promise<{ url: string; jwt: string; sdk: SdkUser }> {
  const sdk = await startSdkClient(synapse.baseUrl, user);
  sdkUsers.push(sdk);
  const room = await joinedRoom(sdk, roomId);
  joinCall(sdk, room, { type: 'livekit', livekit_service_url: node.publicUrl }, 5000);
  const identity = `${user.userId}:${user.deviceId}`;
  return waitFor(async () => {
    const openid = await sdk.client.getOpenIdToken();
    const response = await fetch(`${node.publicUrl}/get_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room_id: roomId, slot_id: 'm.call#ROOM', openid_token: openid, member: { id: identity, claimed_user_id: user.userId, claimed_device_id: user.deviceId } }),
    });
    if (response.status !== 200) return undefined;
    const body = (await response.json()) as { url: string; jwt: string };
    return { ...body, sdk };
  }, { timeoutMs: 20_000, description: `${user.userId}'s /get_token` });
}

function dumpOnFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    console.log(`--- browser console (last 60) ---\n${consoleLines.slice(-60).join('\n')}`);
    console.log(`--- server log (last 40) ---\n${serverLog.slice(-40).join('\n')}`);
    throw error;
  });
}

beforeAll(async () => {
  await Promise.all([buildWidget(), buildHost(), buildLiveKitPage()]);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfumx${suffix}`, 'bot-password');
  [wanda, lars, pia] = (await Promise.all(['wanda', 'lars', 'pia'].map((name) => registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}mx${suffix}`, 'mx-password')))) as [RegisteredUser, RegisteredUser, RegisteredUser];
  const wandaHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...wanda });
  roomId = await wandaHttp.createRoom({ invite: [bot.userId, lars.userId, pia.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  for (const [user, name] of [[wanda, 'Wanda Widget'], [lars, 'Lars Livekit'], [pia, 'Pia Probe']] as const) {
    const client = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user });
    if (user !== wanda) await client.join(roomId as never);
    await client.request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/displayname`, { displayname: name });
  }
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-widget-mixed-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 15_000, description: 'SFU account joined' });
  hostServer = await serveHost();
  profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-widget-mixed-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'] });
}, 180_000);

afterAll(async () => {
  for (const sdk of sdkUsers) sdk.client.stopClient();
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await hostServer?.close();
  await node?.stop();
  await waitForExit(pids);
});

describe('our widget and a livekit-client participant following Element Call\'s conventions', () => {
  it('see and hear each other under the identities Element Call derives, with sources, mime types, names and mute state', () =>
    dumpOnFailure(async () => {
      const wandaId = `${wanda.userId}:${wanda.deviceId}`;
      const larsId = `${lars.userId}:${lars.deviceId}`;
      const w = await openWidget(wanda);
      await w.frame.waitForSelector('.call', { timeout: 30_000 });

      // Lars joins as Element Call would: membership with the livekit focus, /get_token, livekit-client.
      const access = await elementCallStyleToken(lars);
      const lk = await context.newPage();
      lk.on('console', (message) => consoleLines.push(`[lars] ${message.type()}: ${message.text()}`));
      await lk.goto(`${node.publicUrl}${LIVEKIT_PAGE_PATH}`);
      await lk.waitForFunction(() => 'lkTest' in globalThis, undefined, { timeout: 10_000 });
      const joined = await lk.evaluate((o) => (globalThis as unknown as LkGlobal).lkTest.connect(o), { url: access.url, token: access.jwt, camera: true, microphone: true });
      expect(joined.identity).toBe(larsId);

      // What Element Call looks for: the LiveKit participant whose identity is the rtcBackendIdentity
      // js-sdk computes from our widget's membership (the same js-sdk MatrixRTC code Element Call runs).
      const session = access.sdk.client.matrixRTC.getRoomSession(access.sdk.client.getRoom(roomId)!);
      const wandaMembership = await waitFor(() => session.memberships.find((m) => m.sender === wanda.userId), { timeoutMs: 20_000, description: 'lars sees wanda\'s membership' });
      expect(wandaMembership.rtcBackendIdentity).toBe(wandaId);
      expect(wandaMembership.getTransport(wandaMembership)).toMatchObject({ type: 'livekit', livekit_service_url: node.publicUrl });

      const remote = () => lk.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.remoteTracks());
      await waitFor(async () => {
        const tracks = (await remote()).filter((t) => t.identity === wandaId);
        return tracks.some((t) => t.kind === 'video' && t.framesDecoded > 0) && tracks.some((t) => t.kind === 'audio' && t.bytesReceived > 0);
      }, { timeoutMs: 60_000, description: 'livekit-client decodes the widget user' });
      await waitFor(() => seesVideoOf(w.frame, larsId), { timeoutMs: 60_000, description: 'the widget decodes the livekit-client user' });
      expect(await loudness(w.frame)).toBeGreaterThan(0.01);
      await waitFor(async () => (await tiles(w.frame)).find((t) => t.participant === larsId)?.name === 'Lars Livekit', { timeoutMs: 10_000, description: 'the widget names lars from Matrix state' });

      // On the wire: a signalling-only LiveKit client (Pia, admitted the same way) is told our
      // participant's identity, name and tracks with sources and codec mime types.
      const probeAccess = await elementCallStyleToken(pia);
      const connected = await LiveKitWsClient.connect(node.publicUrl, probeAccess.jwt);
      if (!connected.ok) throw new Error(`probe refused: ${connected.status} ${connected.body}`);
      const probe = connected.client;
      const wandaInfo = (): ParticipantInfo | undefined => {
        let latest: ParticipantInfo | undefined;
        for (const message of probe.messages) {
          const infos = message.message.case === 'join' ? message.message.value.otherParticipants : message.message.case === 'update' ? message.message.value.participants : [];
          for (const info of infos) if (info.identity === wandaId && (!latest || info.version >= latest.version)) latest = info;
        }
        return latest;
      };
      const info = await waitFor(() => {
        const latest = wandaInfo();
        return latest && latest.tracks.length >= 2 && latest.tracks.every((track) => track.mimeType) ? latest : undefined;
      }, { timeoutMs: 20_000, description: 'the probe gets wanda\'s tracks with mime types' });
      const bySource = new Map(info.tracks.map((track) => [track.source, track.mimeType.toLowerCase()]));
      expect(bySource.get(TrackSource.CAMERA)).toMatch(/^video\/(vp8|vp9|h264|av1)$/);
      expect(bySource.get(TrackSource.MICROPHONE)).toBe('audio/opus');
      expect(info.name).toBe('Wanda Widget');
      probe.close();

      // Mute state both ways: lars turns his microphone off → the widget's tile shows it; wanda turns her camera off → livekit-client sees the track muted.
      await lk.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.setMuted('audio', true));
      await waitFor(async () => (await tiles(w.frame)).find((t) => t.participant === larsId)?.muted === true, { timeoutMs: 15_000, description: 'the widget shows lars muted' });
      await w.frame.click('button[data-control="camera"]');
      await waitFor(async () => (await remote()).some((t) => t.identity === wandaId && t.kind === 'video' && t.muted), { timeoutMs: 15_000, description: 'livekit-client sees wanda\'s camera muted' });

      // Lars leaves: his tile goes from the widget.
      await lk.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.disconnect());
      await waitFor(async () => !(await tiles(w.frame)).some((t) => t.participant === larsId), { timeoutMs: 20_000, description: 'lars\'s tile goes' });
      await w.frame.click('button[data-control="leave"]');
      await w.frame.waitForSelector('.screen-ended', { timeout: 15_000 });
    }), 200_000);
});
