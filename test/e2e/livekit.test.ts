// End to end with the real livekit-client 2.22.3 (the version Element Call ships) in
// Chromium against the livekit edge of a real SfuNode (development admission: the page's
// unsigned token names room and identity). The client tries /rtc/v1 first and must fall
// back to /rtc. Media is judged from the receivers' getStats(); waits are bounded polls;
// timings are printed, never asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant, receivesFrom } from '../tools/callPage.ts';
import { buildLiveKitPage, LIVEKIT_LATEST_PAGE_PATH, LIVEKIT_PAGE_PATH } from './pages/livekit/buildLiveKitPage.ts';
import type { LiveKitConnectOptions, LiveKitRemoteTrackStat, LiveKitTestApi } from './pages/livekit/liveKitApi.ts';

const MEDIA_TIMEOUT_MS = 45_000;
const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';
let liveKitPageUrl = '';

type PageGlobal = { lkTest: LiveKitTestApi };

/** An unsigned development token (auth.mode none reads the payload only). */
function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, name: identity, nbf: now, exp: now + 600, iss: 'dev', video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

interface LiveKitParticipant {
  readonly name: string;
  readonly page: Page;
  connect(room: string, options?: Partial<LiveKitConnectOptions>): Promise<{ identity: string; connectMs: number }>;
  tracks(): Promise<LiveKitRemoteTrackStat[]>;
  setMuted(kind: 'audio' | 'video', muted: boolean): Promise<void>;
  firstFrames(): Promise<Record<string, number>>;
  disconnect(): Promise<void>;
}

async function openLiveKit(name: string, newest = false): Promise<LiveKitParticipant> {
  const page = await browser!.newPage(name);
  await page.goto(newest ? `http://127.0.0.1:${node!.port}${LIVEKIT_LATEST_PAGE_PATH}` : liveKitPageUrl);
  await page.waitForFunction(() => 'lkTest' in globalThis, undefined, { timeout: 10_000 });
  return {
    name,
    page,
    connect: (room, options = {}) =>
      page.evaluate((o) => (globalThis as unknown as PageGlobal).lkTest.connect(o), {
        url: `ws://127.0.0.1:${node!.port}`,
        token: devToken(room, name),
        camera: true,
        microphone: true,
        ...options,
      }),
    tracks: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.remoteTracks()),
    setMuted: (kind, muted) => page.evaluate(([k, m]) => (globalThis as unknown as PageGlobal).lkTest.setMuted(k, m), [kind, muted] as const),
    firstFrames: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.firstFrames()),
    disconnect: async () => {
      await page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.disconnect()).catch(() => undefined);
      await page.close();
    },
  };
}

/** True once `receiver` decodes video frames from `identity` and receives its audio. */
async function decodes(receiver: LiveKitParticipant, identity: string, kinds: ReadonlyArray<'audio' | 'video'> = ['audio', 'video']): Promise<boolean> {
  const tracks = (await receiver.tracks()).filter((t) => t.identity === identity);
  return kinds.every((kind) =>
    tracks.some((t) => t.kind === kind && (kind === 'video' ? t.framesDecoded > 0 : t.bytesReceived > 0)),
  );
}

/** Frames decoded so far from `identity`'s video. */
async function framesFrom(receiver: LiveKitParticipant, identity: string): Promise<number> {
  return (await receiver.tracks()).filter((t) => t.identity === identity && t.kind === 'video').reduce((sum, t) => sum + t.framesDecoded, 0);
}

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog, {}, 'debug'));
  await buildLiveKitPage();
  liveKitPageUrl = `http://127.0.0.1:${node.port}${LIVEKIT_PAGE_PATH}`;
  browser = await launchBrowser();
}, 120_000);

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

describe('livekit-client 2.22.3 through the livekit edge', () => {
  const opened: LiveKitParticipant[] = [];
  afterAll(async () => {
    for (const participant of opened.splice(0)) await participant.disconnect();
  });

  it('two participants publish camera and microphone and decode each other', async () => {
    const alice = await openLiveKit('alice');
    const bob = await openLiveKit('bob');
    opened.push(alice, bob);
    const a = await alice.connect('lk-room');
    const b = await bob.connect('lk-room');
    console.log(`[e2e] livekit connect (v1 refused, /rtc fallback): alice ${a.connectMs} ms, bob ${b.connectMs} ms`);
    await waitFor(() => decodes(alice, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice to decode bob' });
    await waitFor(() => decodes(bob, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob to decode alice' });
    console.log(`[e2e] livekit first frame after connect: alice sees bob ${(await alice.firstFrames())['bob']} ms, bob sees alice ${(await bob.firstFrames())['alice']} ms`);
  });

  it('a late joiner receives both publishers', async () => {
    const carol = await openLiveKit('carol');
    opened.push(carol);
    await carol.connect('lk-room', { camera: false, microphone: false });
    await waitFor(() => decodes(carol, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to decode alice' });
    await waitFor(() => decodes(carol, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to decode bob' });
    const [alice] = opened;
    await waitFor(async () => (await alice!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.remoteIdentities())).includes('carol'), {
      description: 'alice sees carol join',
    });
  });

  it('speaker changes and the remote connection quality reach the clients (SpeakersChanged, ConnectionQualityUpdate)', async () => {
    const [alice] = opened;
    const events = () => alice!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.events());
    await waitFor(async () => (await events()).some((e) => /^speakers \S/.test(e)) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice told who speaks' });
    await waitFor(async () => (await events()).some((e) => /^quality bob (excellent|good|poor)$/.test(e)) || undefined, {
      timeoutMs: MEDIA_TIMEOUT_MS,
      description: 'alice told bob\'s connection quality',
    });
  });

  it('a subscriber asking for low quality gets the lowest simulcast layer', async () => {
    const [, bob] = opened;
    const widthOfAlice = async () => (await bob!.tracks()).find((t) => t.identity === 'alice' && t.kind === 'video')?.frameWidth ?? 0;
    await waitFor(async () => (await widthOfAlice()) > 320 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob receives a layer wider than 320' });
    const before = await widthOfAlice();
    await bob!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.setVideoQuality('alice', 'low'));
    await waitFor(async () => (await widthOfAlice()) <= 320 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob receives the lowest layer' });
    console.log(`[e2e] livekit setVideoQuality(LOW): frame width ${before} → ${await widthOfAlice()}`);
    await bob!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.setVideoQuality('alice', 'high'));
  });

  it('mute and unmute of the camera are visible to the other participant', async () => {
    const [alice, bob] = opened;
    const videoOfAlice = async () => (await bob!.tracks()).find((t) => t.identity === 'alice' && t.kind === 'video');
    await alice!.setMuted('video', true);
    await waitFor(async () => (await videoOfAlice())?.muted === true || undefined, { description: 'bob sees alice muted' });
    await alice!.setMuted('video', false);
    await waitFor(async () => (await videoOfAlice())?.muted === false || undefined, { description: 'bob sees alice unmuted' });
    const before = await framesFrom(bob!, 'alice');
    await waitFor(async () => (await framesFrom(bob!, 'alice')) > before + 10 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob decodes alice again' });
  });
});

describe('livekit-client E2EE', () => {
  it('participants with the shared key decode each other through the SFU; one without it decodes nothing', async () => {
    const key = 'shared-e2ee-test-key-0123456789';
    const kim = await openLiveKit('kim');
    const lou = await openLiveKit('lou');
    const max = await openLiveKit('max');
    try {
      await kim.connect('lk-e2ee', { e2eeKey: key });
      await lou.connect('lk-e2ee', { e2eeKey: key });
      await waitFor(() => decodes(kim, 'lou'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'kim to decode lou (E2EE)' });
      await waitFor(() => decodes(lou, 'kim'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'lou to decode kim (E2EE)' });
      // Without the key the frames arrive (the SFU forwards them) but do not decode.
      await max.connect('lk-e2ee', { e2eeKey: 'another-key-that-does-not-match', camera: false, microphone: false });
      await waitFor(async () => (await max.tracks()).some((t) => t.identity === 'kim' && t.kind === 'video' && t.bytesReceived > 10_000) || undefined, {
        timeoutMs: MEDIA_TIMEOUT_MS,
        description: 'max receives kim\'s encrypted video',
      });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await framesFrom(max, 'kim')).toBe(0);
    } finally {
      await kim.disconnect();
      await lou.disconnect();
      await max.disconnect();
    }
  });
});

describe('the newest livekit-client', () => {
  it('a newest-version participant and a 2.22.3 participant decode each other', async () => {
    const ivy = await openLiveKit('ivy', true);
    const jon = await openLiveKit('jon');
    try {
      const versions = await Promise.all([ivy, jon].map((p) => p.page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.version())));
      console.log(`[e2e] livekit-client versions: ${versions.join(' and ')}`);
      expect(versions[1]).toBe('2.22.3');
      expect(versions[0]).not.toBe('2.22.3');
      await ivy.connect('lk-versions');
      await jon.connect('lk-versions');
      await waitFor(() => decodes(ivy, 'jon'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'ivy (newest) to decode jon (2.22.3)' });
      await waitFor(() => decodes(jon, 'ivy'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'jon (2.22.3) to decode ivy (newest)' });
    } finally {
      await ivy.disconnect();
      await jon.disconnect();
    }
  });
});

describe('one conference, two edges', () => {
  it('a livekit-client participant and a participant of our own client decode each other', async () => {
    const dora = await openLiveKit('dora');
    const native = await openParticipant(browser!, pageUrl, 'erin');
    try {
      await dora.connect('mixed');
      await native.join({ conference: 'mixed' });
      await waitFor(() => decodes(dora, 'erin'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'dora (livekit) to decode erin (native)' });
      await waitFor(() => receivesFrom(native, 'dora'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'erin (native) to decode dora (livekit)' });
      expect(await framesFrom(dora, 'erin')).toBeGreaterThan(0);
    } finally {
      await native.leave();
      await dora.disconnect();
    }
  });
});

describe('worker restart', () => {
  it('after a SIGKILL of the worker, livekit clients reconnect fully and decode each other again', async () => {
    const gina = await openLiveKit('gina');
    const hank = await openLiveKit('hank');
    try {
      // Tracks the page captured itself: on a full reconnect livekit-client restarts tracks it
      // captured (getUserMedia again), and a restarted fake camera in headless Chromium sends
      // no video (bytesSent stays 0, also before any SFU is involved); its own tracks it re-publishes as they are.
      await gina.connect('lk-restart', { ownTracks: true });
      await hank.connect('lk-restart', { ownTracks: true });
      await waitFor(() => decodes(gina, 'hank'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'gina to decode hank' });
      await waitFor(() => decodes(hank, 'gina'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'hank to decode gina' });
      const before = new Set([...(await gina.tracks()), ...(await hank.tracks())].map((t) => t.trackSid));
      const pid = node!.pool.slots[0]!.worker.pid;
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');
      for (const [receiver, publisher] of [[gina, 'hank'], [hank, 'gina']] as const) {
        await waitFor(
          async () => (await receiver.tracks()).some((t) => t.identity === publisher && t.kind === 'video' && !before.has(t.trackSid) && t.framesDecoded > 0) || undefined,
          { timeoutMs: MEDIA_TIMEOUT_MS, description: `${receiver.name} to decode ${publisher}'s re-published camera` },
        );
        console.log(`[e2e] livekit worker restart: ${receiver.name} decodes ${publisher} again ${Math.round(performance.now() - killedAt)} ms after the kill`);
      }
      expect(node!.pool.slots[0]!.worker.pid).not.toBe(pid);
    } finally {
      await gina.disconnect();
      await hank.disconnect();
    }
  });
});
