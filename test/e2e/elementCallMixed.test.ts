// One encrypted call for an Element Call user and a user of our widget: the real Element Call
// (@element-hq/element-call-embedded, pinned) and our widget, each embedded the way Element Web
// embeds Element Call (test/e2e/elementCallHost: a ClientWidgetApi host with matrix-js-sdk and
// Rust crypto on a real Synapse whose transports name this SFU), per-participant E2EE on. Our
// widget advertises this SFU as a `livekit` focus, appears to Element Call under the identity
// js-sdk derives from its membership, announces its tracks as encrypted, and switches to
// LiveKit's frame format because an Element Call member is in the call; the keys travel as
// Olm-encrypted to-device events between the two clients. Each decodes the other's video.
// Join → first remote frame is printed, never asserted.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { findFreePort, startSynapse, type SynapseInstance } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { buildClient } from '../../src/build/buildClient.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../tools/browser.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { buildElementCallHost, serveElementCallHost } from './elementCallHost/hostServer.ts';
import type { ElementCallHostGlobal } from './elementCallHost/hostApi.ts';
import { elementCallFrame, seesVideoOf as elementCallSees, framesKeepComing as elementCallFramesKeepComing } from './elementCallHost/callPage.ts';
import { widgetFrame, seesVideoOf as widgetSees, framesKeepComing as widgetFramesKeepComing } from './widgetHost/widgetPage.ts';
import { LiveKitFrameTap, type LiveKitFrameTapReport } from '../tools/liveKitFrameTap.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';

const ARTIFACTS = join(import.meta.dirname, '..', '.artifacts');
const NAMES = { alice: 'Alice Andersson', bob: 'Bertil Berg' } as const;
type Who = keyof typeof NAMES;

const serverLog: string[] = [];
const consoleLines: string[] = [];
const pids: number[] = [];
let synapse: SynapseInstance;
let synapseDir: string;
let node: SfuNode;
let hostServer: Awaited<ReturnType<typeof serveElementCallHost>>;
let context: BrowserContext;
let profileDir: string | undefined;
let roomId: string;
const users = {} as Record<Who, RegisteredUser>;

/** Opens `who`'s host page with Element Call, or with our widget (`/room`, launched the same way). */
async function openCall(who: Who, widget: 'element-call' | 'ours'): Promise<{ page: Page; frame: Frame; openedAtMs: number }> {
  const user = users[who];
  const page = await context.newPage();
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'debug' || text.startsWith('[PostmessageTransport]')) return;
    consoleLines.push(`${new Date().toISOString().slice(11, 23)} [${who}] ${message.type()}: ${text.slice(0, 400)}`);
  });
  page.on('pageerror', (error) => consoleLines.push(`[${who}] pageerror: ${error.message}`));
  await page.setViewportSize({ width: 1000, height: 700 });
  const query = new URLSearchParams({ hs: synapse.baseUrl, user: user.userId, device: user.deviceId, token: user.accessToken, room: roomId, intent: 'join_existing', lang: 'en', theme: 'dark' });
  if (widget === 'ours') query.set('widget', `${node.publicUrl}/room`);
  const openedAtMs = performance.now();
  await page.goto(`${hostServer.url}/?${query}`);
  await waitFor(
    async () => {
      const state = await page.evaluate(() => ({ ready: (globalThis as unknown as ElementCallHostGlobal).elementCallHost.ready, error: (globalThis as unknown as ElementCallHostGlobal).elementCallHost.error }));
      if (state.error) throw new Error(`host failed: ${state.error}`);
      return state.ready;
    },
    { timeoutMs: 60_000, intervalMs: 200, description: `${who}'s host ready` },
  );
  return { page, frame: widget === 'ours' ? await widgetFrame(page, 30_000) : await elementCallFrame(page), openedAtMs };
}

function dumpOnFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch(async (error: unknown) => {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, `elementCallMixed-${Date.now()}.log`);
    await writeFile(file, [...consoleLines, '--- server log ---', ...serverLog].join('\n'));
    console.log(`--- full logs in ${file} ---`);
    console.log(`--- browser console (last 120) ---\n${consoleLines.slice(-120).join('\n')}`);
    console.log(`--- server log (last 120) ---\n${serverLog.slice(-120).map((line) => line.slice(0, 400)).join('\n')}`);
    throw error;
  });
}

beforeAll(async () => {
  const sfuPort = await findFreePort();
  const sfuUrl = `http://127.0.0.1:${sfuPort}`;
  synapseDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-ecmix-synapse-'));
  [synapse] = await Promise.all([
    startSynapse({ dataDir: synapseDir, rtcTransports: [{ type: 'livekit', livekit_service_url: sfuUrl }, { type: 'org.matrix_sfu.mediasoup', sfu_service_url: sfuUrl }] }),
    buildElementCallHost(),
    buildClient(),
  ]);
  const suffix = Date.now().toString(36);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfu${suffix}`, 'bot-password');
  for (const who of Object.keys(NAMES) as Who[]) users[who] = await registerUser(synapse.baseUrl, synapse.sharedSecret, `${who}${suffix}`, `pw-${who}`);
  const aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users.alice });
  roomId = await aliceHttp.createRoom({ invite: [bot.userId, users.bob.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  await aliceHttp.sendState(roomId as never, 'm.room.name', '', { name: 'Element Call and our widget' });
  await aliceHttp.sendState(roomId as never, 'm.room.encryption', '', { algorithm: 'm.megolm.v1.aes-sha2' });
  for (const who of Object.keys(NAMES) as Who[]) {
    const http = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users[who] });
    if (who !== 'alice') await http.join(roomId as never);
    await http.request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(users[who].userId)}/displayname`, { displayname: NAMES[who] });
  }
  const config = loadConfig({
    overrides: {
      server: { port: sfuPort, dataDir: `/tmp/sfu-e2e-ecmix-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      widget: { homeserverUrls: [synapse.baseUrl] },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => void (line.includes('"component":"matrix-sdk"') || serverLog.push(line)) }) });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 30_000, description: 'SFU account joined' });
  hostServer = await serveElementCallHost();
  profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-ecmix-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'],
  });
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await hostServer?.close();
  await node?.stop();
  await waitForExit(pids);
  await synapse?.stop();
  if (synapseDir) await rm(synapseDir, { recursive: true, force: true });
}, 60_000);

/**
 * Taps `who`'s producers at the SFU (no keys: the tap only parses) until enough frames passed,
 * and returns the video and audio reports.
 */
async function tapPublisher(who: Who): Promise<Record<'audio' | 'video', LiveKitFrameTapReport>> {
  const participantId = `${users[who].userId}:${users[who].deviceId}`;
  const conference = node.registry.get(roomId as ConferenceId)!;
  const producers = await waitFor(() => {
    const found = conference.dump().participants.find((p) => p.id === participantId)?.producers ?? [];
    return found.length >= 2 ? found : undefined;
  }, { timeoutMs: 30_000, description: `${who}'s producers` });
  const taps = await Promise.all(producers.map((producerId) => LiveKitFrameTap.create({ router: conference.router, producerId, keyIndexes: KEY_INDEXES })));
  try {
    await waitFor(async () => {
      const reports = await Promise.all(taps.map((tap) => tap.report()));
      const video = reports.find((r) => r.kind === 'video');
      const audio = reports.find((r) => r.kind === 'audio');
      return video && audio && video.frames >= 20 && audio.frames >= 50 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, description: `enough tapped frames of ${who}` });
  } finally {
    await Promise.all(taps.map((tap) => tap.close()));
  }
  const reports = await Promise.all(taps.map((tap) => tap.report()));
  return { video: reports.find((r) => r.kind === 'video')!, audio: reports.find((r) => r.kind === 'audio')! };
}

/** Key indexes a trailer may carry here: per-participant keys rotate (our widget is at 1 after its first join). */
const KEY_INDEXES = Array.from({ length: 16 }, (_, i) => i);

describe('an Element Call user and a user of our widget in one encrypted call', () => {
  it('each decodes the other, through LiveKit’s frame format and keys exchanged over Olm', async () => {
    await dumpOnFailure(async () => {
      const alice = await openCall('alice', 'element-call');
      const bob = await openCall('bob', 'ours');
      await waitFor(() => widgetSees(bob.frame, users.alice.userId), { timeoutMs: 120_000, intervalMs: 250, description: 'our widget decodes the Element Call user' });
      console.log(`[e2e] our widget decodes Element Call after ${Math.round(performance.now() - bob.openedAtMs)} ms`);
      await waitFor(() => elementCallSees(alice.frame, NAMES.bob), { timeoutMs: 120_000, intervalMs: 250, description: 'Element Call decodes our widget’s user' });
      console.log(`[e2e] Element Call decodes our widget after ${Math.round(performance.now() - bob.openedAtMs)} ms`);
      await waitFor(() => widgetFramesKeepComing(bob.frame, users.alice.userId), { timeoutMs: 45_000, intervalMs: 250, description: 'Element Call frames keep coming at our widget' });
      await waitFor(() => elementCallFramesKeepComing(alice.frame, NAMES.bob), { timeoutMs: 45_000, intervalMs: 250, description: 'our frames keep coming at Element Call' });
      // The widget's tile says encrypted, and at the SFU every frame of both publishers is in
      // LiveKit's E2EE format (ends in IV length 12 and a key index): Element Call decodes our
      // widget only because the widget encrypts in that format with keys Element Call received.
      const tile = await widgetSees(bob.frame, users.alice.userId);
      expect(tile.e2ee).not.toBe('off');
      for (const who of ['bob', 'alice'] as const) {
        const { video, audio } = await tapPublisher(who);
        console.log(`[e2e] SFU tap, ${who}: video ${video.withTrailer}/${video.frames} frames in LiveKit's E2EE format, audio ${audio.withTrailer}/${audio.frames}`);
        expect(video.withTrailer).toBe(video.frames);
        expect(audio.withTrailer).toBe(audio.frames);
      }
    });
  }, 300_000);
});
