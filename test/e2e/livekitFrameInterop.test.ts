// LiveKit frame-format interop in real Chromium through a real SfuNode: a page running the real
// livekit-client 2.22.3 with E2EE (keys per participant, set the way Element Call's
// MatrixKeyProvider sets them: raw 16-byte MatrixRTC keys, keyring 256) and a page of our own
// client whose worker writes LiveKit's format (src/common/e2ee/livekitFrame.ts) meet in one
// conference and each decodes the other. An SFU-side tap reassembles the frames both send and
// decrypts them here in Node with our codec: livekit-client's VP8 key and delta frames and Opus
// frames all open; ours are all LiveKit format and never carry their plaintext. Then our sender
// switches SFrame → LiveKit → SFrame while another of our clients keeps decoding.
//
// LK_VECTOR_OUT=<file> writes a few captured livekit-client frames as the unit tests' vector
// file (test/fixtures/livekit-frames/). Timings are printed, never asserted.

import { webcrypto } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { types as ms } from 'mediasoup';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { decryptLiveKitFrame, deriveLiveKitFrameKey, LIVEKIT_FRAME_OVERHEAD_BYTES, parseLiveKitTrailer } from '../../src/common/e2ee/livekitFrame.ts';
import type { E2eeStats } from '../../src/browser/e2ee/worker/types.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';
import { parseRtp, parseVp8Descriptor } from '../tools/rtpTap.ts';
import { buildLiveKitPage, LIVEKIT_PAGE_PATH } from './pages/livekit/buildLiveKitPage.ts';
import type { LiveKitConnectOptions, LiveKitRemoteTrackStat, LiveKitTestApi } from './pages/livekit/liveKitApi.ts';
import type { SfuTestApi } from './pages/testApi.ts';

const MEDIA_TIMEOUT_MS = 45_000;
const CONFERENCE = 'lk-frames';
const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';

type LkGlobal = { lkTest: LiveKitTestApi };
type SfuGlobal = { sfuTest: SfuTestApi };

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const randomKey = () => webcrypto.getRandomValues(new Uint8Array(16));

/** An unsigned development token (auth.mode none reads the payload only). */
function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, name: identity, nbf: now, exp: now + 600, iss: 'dev', video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

/** One complete encoded frame as the SFU forwarded it. */
interface TappedFrame {
  readonly mimeType: 'video/VP8' | 'audio/opus';
  readonly keyFrame: boolean;
  readonly data: Uint8Array;
}

/** Reassembles every frame of one participant's VP8 and Opus producers (loopback: no loss expected). */
class FrameTap {
  readonly frames: TappedFrame[] = [];
  incomplete = 0;
  readonly #transports: ms.DirectTransport[] = [];

  static async create(participantId: string): Promise<FrameTap> {
    const conference = node!.registry.get(CONFERENCE as ConferenceId);
    if (!conference) throw new Error(`no conference ${CONFERENCE}`);
    const entry = conference.dump().participants.find((p) => p.id === participantId);
    if (!entry) throw new Error(`no participant ${participantId}`);
    const tap = new FrameTap();
    for (const producerId of entry.producers) {
      const transport = await conference.router.createDirectTransport();
      tap.#transports.push(transport);
      const consumer = await transport.consume({ producerId, rtpCapabilities: conference.router.rtpCapabilities });
      const codec = consumer.rtpParameters.codecs[0];
      const mime = codec?.mimeType.toLowerCase();
      if (mime === 'audio/opus') {
        consumer.on('rtp', (packet: Buffer) => {
          const rtp = parseRtp(packet);
          if (rtp && rtp.payloadType === codec!.payloadType && rtp.payload.length > 0) tap.frames.push({ mimeType: 'audio/opus', keyFrame: false, data: Uint8Array.from(rtp.payload) });
        });
      } else if (mime === 'video/vp8') {
        tap.#reassembleVp8(consumer, codec!.payloadType);
        await consumer.requestKeyFrame();
      }
    }
    return tap;
  }

  #reassembleVp8(consumer: ms.Consumer, payloadType: number): void {
    let current: { timestamp: number; next: number; parts: Uint8Array[]; broken: boolean } | undefined;
    consumer.on('rtp', (packet: Buffer) => {
      const rtp = parseRtp(packet);
      if (!rtp || rtp.payloadType !== payloadType || rtp.payload.length === 0) return;
      const vp8 = parseVp8Descriptor(rtp.payload);
      if (!vp8) return;
      if (vp8.startsFrame) {
        if (current) this.incomplete++;
        current = { timestamp: rtp.timestamp, next: rtp.sequenceNumber, parts: [], broken: false };
      }
      if (!current) return;
      if (rtp.timestamp !== current.timestamp || rtp.sequenceNumber !== current.next) current.broken = true;
      current.next = (rtp.sequenceNumber + 1) & 0xffff;
      current.parts.push(Uint8Array.from(vp8.data));
      if (!rtp.marker) return;
      const frame = current;
      current = undefined;
      if (frame.broken) {
        this.incomplete++;
        return;
      }
      const data = Buffer.concat(frame.parts);
      // The VP8 frame tag is in clear in both formats: P bit 0 marks a key frame.
      this.frames.push({ mimeType: 'video/VP8', keyFrame: (data[0]! & 0x01) === 0, data: new Uint8Array(data) });
    });
  }

  close(): void {
    for (const transport of this.#transports) transport.close();
  }
}

/** Decrypts every tapped frame with our codec under `rawKey`; counts by kind and failures. */
async function openAll(frames: readonly TappedFrame[], rawKey: Uint8Array, keyIndex: number) {
  const key = await deriveLiveKitFrameKey(rawKey);
  const counts = { keyFrames: 0, deltaFrames: 0, opus: 0, failed: 0, wrongIndex: 0, plaintextLeaks: 0 };
  for (const frame of frames) {
    if (parseLiveKitTrailer(frame.mimeType, frame.data)?.keyIndex !== keyIndex) counts.wrongIndex++;
    let plain: Uint8Array;
    try {
      plain = await decryptLiveKitFrame(key, frame.mimeType, frame.data);
    } catch {
      counts.failed++;
      continue;
    }
    const clear = frame.mimeType === 'audio/opus' ? 1 : frame.keyFrame ? 10 : 3;
    const probe = plain.subarray(clear, clear + 16);
    if (probe.length === 16 && Buffer.from(frame.data).includes(Buffer.from(probe))) counts.plaintextLeaks++;
    if (frame.mimeType === 'audio/opus') counts.opus++;
    else if (frame.keyFrame) counts.keyFrames++;
    else counts.deltaFrames++;
  }
  return counts;
}

interface LiveKitPage {
  readonly page: Page;
  connect(options: Partial<LiveKitConnectOptions>): Promise<unknown>;
  tracks(): Promise<LiveKitRemoteTrackStat[]>;
  treatAsEncrypted(identity: string): Promise<void>;
  events(): Promise<string[]>;
  disconnect(): Promise<void>;
}

async function openLiveKit(name: string): Promise<LiveKitPage> {
  const page = await browser!.newPage(name);
  await page.goto(`http://127.0.0.1:${node!.port}${LIVEKIT_PAGE_PATH}`);
  await page.waitForFunction(() => 'lkTest' in globalThis, undefined, { timeout: 10_000 });
  return {
    page,
    connect: (options) =>
      page.evaluate((o) => (globalThis as unknown as LkGlobal).lkTest.connect(o), {
        url: `ws://127.0.0.1:${node!.port}`,
        token: devToken(CONFERENCE, name),
        camera: true,
        microphone: true,
        ...options,
      }),
    tracks: () => page.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.remoteTracks()),
    treatAsEncrypted: (identity) => page.evaluate((i) => (globalThis as unknown as LkGlobal).lkTest.treatAsEncrypted(i), identity),
    events: () => page.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.events()),
    disconnect: async () => {
      await page.evaluate(() => (globalThis as unknown as LkGlobal).lkTest.disconnect()).catch(() => undefined);
      await page.close();
    },
  };
}

interface OurPage extends Participant {
  setOwnKey(keyIndex: number, key: Uint8Array): Promise<void>;
  setPeerKey(participantId: string, keyIndex: number, key: Uint8Array): Promise<void>;
  setFrameFormat(format: 'sframe' | 'livekit'): Promise<void>;
  e2eeStats(): Promise<E2eeStats>;
}

async function openOurs(name: string): Promise<OurPage> {
  const participant = await openParticipant(browser!, pageUrl, name);
  const { page } = participant;
  return {
    ...participant,
    setOwnKey: (keyIndex, key) => page.evaluate(([i, k]) => (globalThis as unknown as SfuGlobal).sfuTest.setOwnKey(i, k), [keyIndex, hex(key)] as const),
    setPeerKey: (participantId, keyIndex, key) =>
      page.evaluate(([p, i, k]) => (globalThis as unknown as SfuGlobal).sfuTest.setPeerKey(p, i, k), [participantId, keyIndex, hex(key)] as const),
    setFrameFormat: (format) => page.evaluate((f) => (globalThis as unknown as SfuGlobal).sfuTest.setFrameFormat(f), format),
    e2eeStats: async () => {
      const stats = await page.evaluate(() => (globalThis as unknown as SfuGlobal).sfuTest.e2eeStats());
      if (!stats) throw new Error(`${name} has no e2ee`);
      return stats;
    },
  };
}

async function videoFramesFrom(page: LiveKitPage, identity: string): Promise<number> {
  return (await page.tracks()).filter((t) => t.identity === identity && t.kind === 'video').reduce((sum, t) => sum + t.framesDecoded, 0);
}

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog, {}, 'info'));
  await buildLiveKitPage();
  browser = await launchBrowser();
}, 120_000);

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

describe('LiveKit frame format between livekit-client and our client', () => {
  const doraKey = randomKey();
  const erinKey = randomKey();
  const DORA_INDEX = 3;
  const ERIN_INDEX = 5;
  let dora: LiveKitPage | undefined;
  let erin: OurPage | undefined;
  let finn: OurPage | undefined;

  afterAll(async () => {
    await finn?.leave().catch(() => undefined);
    await erin?.leave().catch(() => undefined);
    await dora?.disconnect();
  });

  it('a livekit-client E2EE page and our client writing LiveKit frames decode each other through the SFU', async () => {
    dora = await openLiveKit('dora');
    await dora.connect({
      // Own key last: livekit-client encrypts with the index set last (getLatestManuallySetKeyIndex).
      e2eeParticipantKeys: [
        { identity: 'erin', keyIndex: ERIN_INDEX, keyHex: hex(erinKey) },
        { identity: 'dora', keyIndex: DORA_INDEX, keyHex: hex(doraKey) },
      ],
    });
    erin = await openOurs('erin');
    await erin.join({ conference: CONFERENCE, e2ee: true });
    await erin.setFrameFormat('livekit');
    await erin.setPeerKey('dora', DORA_INDEX, doraKey);
    await erin.setOwnKey(ERIN_INDEX, erinKey);
    const started = performance.now();
    // The livekit edge announces native tracks with encryption NONE (it cannot know), so
    // livekit-client would pass erin's frames to its decoder undecrypted; the page marks erin
    // encrypted once subscribed, as TrackInfo.encryption = GCM would (README: left to the edge).
    await waitFor(async () => (await dora!.tracks()).filter((t) => t.identity === 'erin').length >= 2 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'dora subscribes to erin' });
    await dora.treatAsEncrypted('erin');
    await waitFor(async () => (await videoFramesFrom(dora!, 'erin')) > 0 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'dora (livekit-client) to decode erin (our LiveKit frames)' });
    const doraDecodes = Math.round(performance.now() - started);
    await waitFor(() => receivesFrom(erin!, 'dora'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'erin (ours) to decode dora (livekit-client)' });
    const erinDecodes = Math.round(performance.now() - started);
    // Let both run a few seconds, then count.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const stats = await erin.e2eeStats();
    const fromDora = stats.participants.find((p) => p.participantId === 'dora');
    const doraFrames = await videoFramesFrom(dora, 'erin');
    const doraAudio = (await dora.tracks()).find((t) => t.identity === 'erin' && t.kind === 'audio');
    console.log(
      `[e2e] lk-interop: dora decodes erin after ${doraDecodes} ms (${doraFrames} video frames, ${doraAudio?.bytesReceived ?? 0} audio bytes); ` +
        `erin decodes dora after ${erinDecodes} ms: video ${fromDora?.video.livekit}/${fromDora?.video.processed} LiveKit-format, audio ${fromDora?.audio.livekit}/${fromDora?.audio.processed}, ` +
        `dropped ${JSON.stringify(fromDora?.video.dropped)}; erin sent ${stats.encrypted} frames`,
    );
    expect(fromDora?.video.livekit).toBeGreaterThan(0);
    expect(fromDora?.audio.livekit).toBeGreaterThan(0);
    expect(fromDora?.video.livekit).toBe(fromDora?.video.processed);
    expect(fromDora?.video.dropped['auth-failed']).toBe(0);
    expect(doraFrames).toBeGreaterThan(0);
    expect((await dora.events()).filter((e) => e.startsWith('encryption-error'))).toEqual([]);
  });

  it('every frame either sends, tapped at the SFU, is LiveKit format that our codec opens in Node, with no plaintext', async () => {
    const doraTap = await FrameTap.create('dora');
    const erinTap = await FrameTap.create('erin');
    await new Promise((resolve) => setTimeout(resolve, 4000));
    doraTap.close();
    erinTap.close();
    const fromDora = await openAll(doraTap.frames, doraKey, DORA_INDEX);
    const fromErin = await openAll(erinTap.frames, erinKey, ERIN_INDEX);
    console.log(`[e2e] lk-interop SFU tap: livekit-client frames ${JSON.stringify(fromDora)} (incomplete ${doraTap.incomplete}); our frames ${JSON.stringify(fromErin)} (incomplete ${erinTap.incomplete})`);
    for (const counts of [fromDora, fromErin]) {
      expect(counts.keyFrames).toBeGreaterThan(0);
      expect(counts.deltaFrames).toBeGreaterThan(10);
      expect(counts.opus).toBeGreaterThan(10);
      expect(counts.failed).toBe(0);
      expect(counts.wrongIndex).toBe(0);
      expect(counts.plaintextLeaks).toBe(0);
    }
    const out = process.env['LK_VECTOR_OUT'];
    if (out) {
      const pick = (predicate: (f: TappedFrame) => boolean, count: number) => doraTap.frames.filter(predicate).slice(0, count);
      const frames = [
        ...pick((f) => f.mimeType === 'video/VP8' && f.keyFrame && f.data.length < 6000, 1),
        ...pick((f) => f.mimeType === 'video/VP8' && !f.keyFrame, 3),
        ...pick((f) => f.mimeType === 'audio/opus', 3),
      ].map((f) => ({ mimeType: f.mimeType, keyFrame: f.keyFrame, hex: hex(f.data) }));
      await mkdir(dirname(out), { recursive: true });
      await writeFile(
        out,
        `${JSON.stringify({ _note: 'Frames encrypted by livekit-client 2.22.3 E2EE (per-participant key, HKDF) in headless Chromium, captured at the SFU by test/e2e/livekitFrameInterop.test.ts (LK_VECTOR_OUT). Test key, not a secret.', keyHex: hex(doraKey), keyIndex: DORA_INDEX, frames }, null, 2)}\n`,
      );
      console.log(`[e2e] lk-interop: wrote ${frames.length} vectors to ${out}`);
    }
    expect(LIVEKIT_FRAME_OVERHEAD_BYTES).toBe(30);
  });

  it('our receiver keeps decoding while our sender switches SFrame → LiveKit → SFrame; livekit-client decodes the LiveKit stretch', async () => {
    finn = await openOurs('finn');
    await finn.join({ conference: CONFERENCE, e2ee: true, video: true, audio: true });
    await finn.setPeerKey('erin', ERIN_INDEX, erinKey);
    await finn.setOwnKey(7, randomKey());
    await erin!.setFrameFormat('sframe');
    await waitFor(() => receivesFrom(finn!, 'erin'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'finn decodes erin (SFrame)' });
    const decodedBy = async () => (await finn!.e2eeStats()).participants.find((p) => p.participantId === 'erin')?.video ?? { processed: 0, livekit: 0, dropped: {} as Record<string, number> };
    // Let finn's subscription settle (bandwidth estimation, simulcast layer), then sample its
    // decrypted video count every 100 ms in three phases; the longest run without progress in
    // each phase is the decode gap, and the switches sit at the phase borders.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    let last = (await decodedBy()).processed;
    let lastProgressMs = performance.now();
    const sample = async (durationMs: number): Promise<number> => {
      let longest = 0;
      const until = performance.now() + durationMs;
      while (performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = performance.now();
        const processed = (await decodedBy()).processed;
        if (processed > last) {
          longest = Math.max(longest, now - lastProgressMs);
          lastProgressMs = now;
          last = processed;
        }
      }
      return Math.max(longest, performance.now() - lastProgressMs);
    };
    const doraBefore = await videoFramesFrom(dora!, 'erin');
    const gapSFrame = await sample(2000);
    await erin!.setFrameFormat('livekit');
    const gapToLiveKit = await sample(3000);
    const doraDuring = await videoFramesFrom(dora!, 'erin');
    await erin!.setFrameFormat('sframe');
    const gapBack = await sample(3000);
    const doraAfter = await videoFramesFrom(dora!, 'erin');
    const video = await decodedBy();
    console.log(
      `[e2e] lk-interop format switch: finn decrypted ${video.processed} video frames of erin (${video.livekit} LiveKit-format); ` +
        `longest decode gap: ${Math.round(gapSFrame)} ms before any switch, ${Math.round(gapToLiveKit)} ms across SFrame→LiveKit, ${Math.round(gapBack)} ms across LiveKit→SFrame; ` +
        `dora (livekit-client) decoded ${doraDuring - doraBefore} frames of erin during the LiveKit stretch and ${doraAfter - doraDuring} after the switch back`,
    );
    expect(video.livekit).toBeGreaterThan(0);
    expect(video.processed).toBeGreaterThan(video.livekit);
    expect(video.dropped['auth-failed'] ?? 0).toBe(0);
    expect(doraDuring).toBeGreaterThan(doraBefore);
  });
});
