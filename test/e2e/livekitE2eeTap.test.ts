// What the SFU forwards when livekit-client E2EE is on: two Chromium pages with the real
// livekit-client 2.22.3 and a shared passphrase call through the livekit edge (development
// admission), and an SFU-side tap (test/tools/liveKitFrameTap.ts: a DirectTransport consumer
// on the conference's router, nothing in production code) collects the publisher's camera and
// microphone frames. Every frame must be LiveKit's E2EE format (clear prefix ‖ AES-GCM
// ciphertext ‖ IV ‖ IV length ‖ key index), authenticate under the passphrase's key and not
// under another, never carry its own plaintext, and the VP8 key frames must not parse as
// plaintext past the clear prefix while their decryptions do. The control: the same tap on an
// unencrypted call sees plaintext VP8 key frames and no LiveKit trailer that authenticates.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { liveKitDecodes, openLiveKitPage, type LiveKitPage } from '../tools/liveKitPage.ts';
import { LiveKitFrameTap, type LiveKitFrameTapReport } from '../tools/liveKitFrameTap.ts';
import { buildLiveKitPage, LIVEKIT_PAGE_PATH } from './pages/livekit/buildLiveKitPage.ts';

const MEDIA_TIMEOUT_MS = 45_000;
const PASSPHRASE = 'shared-e2ee-tap-key-0123456789';
/** Frames collected per tap before judging: enough VP8 key frames that ciphertext parsing as plaintext by chance is negligible (¼ per frame). */
const MIN_VIDEO_FRAMES = 90;
const MIN_KEY_FRAMES = 10;
const MIN_AUDIO_FRAMES = 150;

const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';

/** An unsigned development token (auth.mode none reads the payload only). */
function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, name: identity, nbf: now, exp: now + 600, iss: 'dev', video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

/** The camera and microphone producers of `identity` in `room`, by kind (the tap's consumer tells the kind). */
function producersOf(room: string, identity: string): string[] {
  const conference = node!.registry.get(room as ConferenceId);
  return conference?.dump().participants.find((p) => p.id === identity)?.producers ?? [];
}

/** Opens two pages in `room`, publishing camera and microphone, and waits until each decodes the other. */
async function call(room: string, names: [string, string], e2eeKey?: string): Promise<LiveKitPage[]> {
  const pages: LiveKitPage[] = [];
  for (const name of names) {
    const page = await openLiveKitPage(browser!, pageUrl, name);
    pages.push(page);
    await page.connect({ url: `ws://127.0.0.1:${node!.port}`, token: devToken(room, name), camera: true, microphone: true, ...(e2eeKey ? { e2eeKey } : {}) });
  }
  await waitFor(() => liveKitDecodes(pages[0]!, names[1]), { timeoutMs: MEDIA_TIMEOUT_MS, description: `${names[0]} decodes ${names[1]}` });
  await waitFor(() => liveKitDecodes(pages[1]!, names[0]), { timeoutMs: MEDIA_TIMEOUT_MS, description: `${names[1]} decodes ${names[0]}` });
  return pages;
}

/** Taps every producer of `identity` until enough frames were seen; returns the reports by kind. */
async function tapPublisher(room: string, identity: string, passphrase?: string): Promise<Record<'audio' | 'video', LiveKitFrameTapReport>> {
  const producers = await waitFor(() => (producersOf(room, identity).length >= 2 ? producersOf(room, identity) : undefined), { description: `${identity}'s two producers` });
  const router = node!.registry.get(room as ConferenceId)!.router;
  const taps = await Promise.all(producers.map((producerId) => LiveKitFrameTap.create({ router, producerId, ...(passphrase ? { passphrase } : {}) })));
  try {
    await waitFor(
      async () => {
        const reports = await Promise.all(taps.map((tap) => tap.report()));
        const video = reports.find((r) => r.kind === 'video');
        const audio = reports.find((r) => r.kind === 'audio');
        if (video && audio && video.frames >= MIN_VIDEO_FRAMES && video.keyFrames >= MIN_KEY_FRAMES && audio.frames >= MIN_AUDIO_FRAMES) return true;
        throw new Error(`so far: ${JSON.stringify(reports.map((r) => ({ kind: r.kind, frames: r.frames, keyFrames: r.keyFrames })))}`);
      },
      // Generous: under load the fake camera's encoder drops to a few frames per second.
      { timeoutMs: 90_000, intervalMs: 250, description: 'enough tapped frames' },
    );
  } finally {
    await Promise.all(taps.map((tap) => tap.close()));
  }
  const reports = await Promise.all(taps.map((tap) => tap.report()));
  return { audio: reports.find((r) => r.kind === 'audio')!, video: reports.find((r) => r.kind === 'video')! };
}

beforeAll(async () => {
  ({ node, workerPids } = await startDevNode(serverLog, {}, 'debug'));
  await buildLiveKitPage();
  pageUrl = `http://127.0.0.1:${node.port}${LIVEKIT_PAGE_PATH}`;
  browser = await launchBrowser();
}, 120_000);

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

describe('an SFU-side tap on a livekit-client call', () => {
  it('under livekit-client E2EE sees only LiveKit E2EE frames that authenticate under the shared key, no plaintext', async () => {
    const pages = await call('lk-tap-e2ee', ['kim', 'lou'], PASSPHRASE);
    try {
      const { video, audio } = await tapPublisher('lk-tap-e2ee', 'kim', PASSPHRASE);
      console.log(`[e2e] livekit E2EE tap, video: ${JSON.stringify(video)}`);
      console.log(`[e2e] livekit E2EE tap, audio: ${JSON.stringify(audio)}`);
      for (const report of [video, audio]) {
        expect(report.failureSamples, report.kind).toEqual([]);
        expect(report.withTrailer, report.kind).toBe(report.frames);
        expect(report.authenticated, report.kind).toBe(report.frames);
        expect(report.exactOverhead, report.kind).toBe(report.frames);
        expect(report.plaintextLeaks, report.kind).toBe(0);
        expect(report.repeatedIvs, report.kind).toBe(0);
        expect(report.wrongKeyRejected, report.kind).toBe(true);
      }
      // Past the 10 clear bytes a forwarded key frame is ciphertext: its first two bool-coded
      // header bits are 0 only by chance (¼), while every decrypted key frame parses as libvpx wrote it.
      expect(video.decryptedParsesAsPlaintext).toBe(video.keyFrames);
      expect(video.forwardedParsesAsPlaintext).toBeLessThan(video.keyFrames);
    } finally {
      for (const page of pages) await page.disconnect();
    }
  });

  it('on an unencrypted call (the control) sees plaintext VP8 key frames and no LiveKit E2EE trailer that authenticates', async () => {
    const pages = await call('lk-tap-plain', ['nia', 'oli']);
    try {
      // The tap holds the passphrase, so it would authenticate any LiveKit E2EE frame.
      const { video, audio } = await tapPublisher('lk-tap-plain', 'nia', PASSPHRASE);
      console.log(`[e2e] livekit plaintext tap, video: ${JSON.stringify(video)}`);
      console.log(`[e2e] livekit plaintext tap, audio: ${JSON.stringify(audio)}`);
      expect(video.keyFrames).toBeGreaterThanOrEqual(MIN_KEY_FRAMES);
      expect(video.forwardedParsesAsPlaintext).toBe(video.keyFrames);
      expect(video.keyFrameSizes.some((size) => /^\d+x\d+$/.test(size) && size !== '0x0')).toBe(true);
      // A plaintext frame ends in codec data: the trailer shape appears at most by chance, and nothing authenticates.
      expect(video.authenticated).toBe(0);
      expect(audio.authenticated).toBe(0);
      expect(video.withTrailer).toBeLessThan(video.frames / 10);
      expect(audio.withTrailer).toBeLessThan(audio.frames / 10);
    } finally {
      for (const page of pages) await page.disconnect();
    }
  });
});
