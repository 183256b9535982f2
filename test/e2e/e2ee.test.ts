// End to end E2EE: a real SfuNode, real Chromium pages with a fake camera and microphone, and
// the RFC 9605 SFrame cryptor in a real worker on every sender and receiver. Keys are set by the
// test (no Matrix). Checks: both pages decode, an SFU-side RTP tap finds every forwarded video
// frame encrypted, a page without keys decodes nothing, receivers keep decoding across a key
// rotation and across a sender's unannounced ratchet, and the createEncodedStreams fallback works.
// Timings (decode gaps, per-frame cost) are printed, never asserted.

import { webcrypto } from 'node:crypto';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import type { SfuTestApi } from './pages/testApi.ts';
import { ratchetKey } from '../../src/common/e2ee/ratchet.ts';
import { SENDER_INDEX_BY_SOURCE } from '../../src/browser/e2ee/worker/constants.ts';
import type { E2eeStats, ParticipantStats } from '../../src/browser/e2ee/worker/types.ts';
import { formatFrameBench, FRAME_BENCH_SIZES, type FrameBenchResult } from '../bench/e2eeFrame.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant, type Participant } from '../tools/callPage.ts';
import { RtpTap, type RtpTapReport } from '../tools/rtpTap.ts';

const MEDIA_TIMEOUT_MS = 45_000;
const CONFERENCE = 'e2ee';

const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';

type PageGlobal = { sfuTest: SfuTestApi };

/** A test page with the E2EE calls of `window.sfuTest`. */
interface E2eeParticipant extends Participant {
  setOwnKey(keyIndex: number, key: Uint8Array): Promise<void>;
  setPeerKey(participantId: string, keyIndex: number, key: Uint8Array): Promise<void>;
  e2eeStats(): Promise<E2eeStats>;
  e2eeMode(): Promise<string | undefined>;
}

async function openE2ee(name: string): Promise<E2eeParticipant> {
  const participant = await openParticipant(browser!, pageUrl, name);
  const { page } = participant;
  const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');
  return {
    ...participant,
    setOwnKey: (keyIndex, key) =>
      page.evaluate(([i, k]) => (globalThis as unknown as PageGlobal).sfuTest.setOwnKey(i, k), [keyIndex, hex(key)] as const),
    setPeerKey: (participantId, keyIndex, key) =>
      page.evaluate(
        ([p, i, k]) => (globalThis as unknown as PageGlobal).sfuTest.setPeerKey(p, i, k),
        [participantId, keyIndex, hex(key)] as const,
      ),
    e2eeStats: async () => {
      const stats = await page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.e2eeStats());
      if (!stats) throw new Error(`${name} has no e2ee`);
      return stats;
    },
    e2eeMode: () => page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.e2eeMode()),
  };
}

function randomKey(): Uint8Array {
  return webcrypto.getRandomValues(new Uint8Array(16));
}

function router() {
  const conference = node!.registry.get(CONFERENCE as ConferenceId);
  if (!conference) throw new Error(`no conference ${CONFERENCE}`);
  return conference.router;
}

async function peerStats(receiver: E2eeParticipant, publisher: string): Promise<ParticipantStats> {
  const stats = (await receiver.e2eeStats()).participants.find((p) => p.participantId === publisher);
  if (!stats) throw new Error(`${receiver.name} has no e2ee stats for ${publisher}`);
  return stats;
}

/** Throws unless `receiver` decodes `publisher`'s video and audio, decrypted by the worker. */
async function decodes(receiver: E2eeParticipant, publisher: string): Promise<{ framesDecoded: number; audioSamples: number }> {
  const stats = (await receiver.stats()).filter((s) => s.participantId === publisher);
  const video = stats.find((s) => s.kind === 'video');
  const audio = stats.find((s) => s.kind === 'audio');
  const audioSamples = audio ? audio.totalSamplesReceived - audio.concealedSamples : 0;
  const decrypted = await peerStats(receiver, publisher);
  if (!video || video.framesDecoded === 0 || audioSamples <= 0 || decrypted.video.processed === 0 || decrypted.audio.processed === 0) {
    throw new Error(`${receiver.name} from ${publisher}: ${JSON.stringify({ stats, decrypted })}`);
  }
  return { framesDecoded: video.framesDecoded, audioSamples };
}

async function videoProducerOf(receiver: Participant, publisher: string): Promise<string> {
  const added = (await receiver.events()).find(
    (e) => e.name === 'trackAdded' && e.data['participantId'] === publisher && e.data['kind'] === 'video',
  );
  if (!added) throw new Error(`${receiver.name} has no video track of ${publisher}`);
  return String(added.data['producerId']);
}

/** Polls a receiver's framesDecoded of one publisher's video; stop() returns the longest time without a new frame. */
function sampleDecoding(receiver: Participant, publisher: string): { stop(): Promise<{ longestGapMs: number; frames: number }> } {
  let running = true;
  let longestGapMs = 0;
  let first: number | undefined;
  let last = 0;
  let lastIncreaseMs = performance.now();
  const loop = (async () => {
    while (running) {
      const video = (await receiver.stats()).find((s) => s.participantId === publisher && s.kind === 'video');
      const now = performance.now();
      const decoded = video?.framesDecoded ?? 0;
      first ??= decoded;
      if (decoded > last) {
        longestGapMs = Math.max(longestGapMs, now - lastIncreaseMs);
        lastIncreaseMs = now;
        last = decoded;
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    longestGapMs = Math.max(longestGapMs, performance.now() - lastIncreaseMs);
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { longestGapMs: Math.round(longestGapMs), frames: last - (first ?? 0) };
    },
  };
}

async function tapFrames(producerId: string, keys: ReadonlyMap<number, Uint8Array>, during: () => Promise<void>): Promise<RtpTapReport> {
  const tap = await RtpTap.create({ router: router(), producerId, keys, senderIndex: SENDER_INDEX_BY_SOURCE.camera });
  try {
    await during();
  } finally {
    await tap.close();
  }
  return tap.report();
}

function expectAllEncrypted(report: RtpTapReport): void {
  expect(report.failureSamples).toEqual([]);
  expect(report.frames).toBeGreaterThan(0);
  expect(report.keyFrames).toBeGreaterThan(0);
  expect(report.authenticated).toBe(report.frames);
  expect(report.ctrNotIncreasing).toBe(0);
  expect(report.plaintextLeaks).toBe(0);
  expect(report.wrongKeyRejected).toBe(true);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog));
  browser = await launchBrowser();
});


afterAll(() => tearDown(browser, node, workerPids, serverLog));


dumpLogsOnFailure(serverLog, () => browser);


describe('an E2EE call', () => {
  const opened: Participant[] = [];
  const aliceKeys = new Map<number, Uint8Array>([[0, randomKey()]]);
  const bobKey = randomKey();
  let alice: E2eeParticipant;
  let bob: E2eeParticipant;

  afterAll(async () => {
    for (const participant of opened.splice(0)) await participant.leave();
  });

  it('both participants decode each other, and the SFU forwards only SFrame ciphertext', async () => {
    alice = await openE2ee('alice');
    bob = await openE2ee('bob');
    opened.push(alice, bob);
    await alice.join({ conference: CONFERENCE, e2ee: true });
    await bob.join({ conference: CONFERENCE, e2ee: true });
    await alice.setOwnKey(0, aliceKeys.get(0)!);
    await bob.setOwnKey(0, bobKey);
    await alice.setPeerKey('bob', 0, bobKey);
    await bob.setPeerKey('alice', 0, aliceKeys.get(0)!);
    const fromAlice = await waitFor(() => decodes(bob, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob to decode alice' });
    const fromBob = await waitFor(() => decodes(alice, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice to decode bob' });
    console.log(`[e2ee] mode ${await alice.e2eeMode()}; bob decoded ${fromAlice.framesDecoded} frames of alice, alice ${fromBob.framesDecoded} of bob`);

    const report = await tapFrames(await videoProducerOf(bob, 'alice'), aliceKeys, () =>
      waitFor(async () => (await decodes(bob, 'alice')).framesDecoded >= fromAlice.framesDecoded + 150, {
        timeoutMs: MEDIA_TIMEOUT_MS,
        description: '150 more frames',
      }).then(() => undefined),
    );
    console.log(`[e2ee] RTP tap: ${JSON.stringify(report)}`);
    expectAllEncrypted(report);
    expect(report.kids).toEqual(['0x100']);
  });

  it('a participant without keys decodes no frame and counts every dropped one', async () => {
    const carol = await openE2ee('carol');
    opened.push(carol);
    await carol.join({ conference: CONFERENCE, e2ee: true, video: false, audio: false });
    const before = await waitFor(
      async () => {
        const stats = await carol.e2eeStats();
        if (stats.dropped['missing-key'] < 30) throw new Error(`drops ${JSON.stringify(stats.dropped)}`);
        return stats;
      },
      { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to drop frames' },
    );
    await sleep(2000);
    const after = await carol.e2eeStats();
    const video = (await carol.stats()).filter((s) => s.kind === 'video');
    console.log(
      `[e2ee] no keys: carol dropped ${before.dropped['missing-key']} then ${after.dropped['missing-key']} frames (missing-key); ` +
        `framesDecoded ${video.map((s) => `${s.participantId}=${s.framesDecoded} (${s.packetsReceived} packets)`).join(', ')}`,
    );
    expect(video).toHaveLength(2);
    for (const stat of video) {
      expect(stat.packetsReceived).toBeGreaterThan(0);
      expect(stat.framesDecoded).toBe(0);
    }
    expect(after.dropped['missing-key']).toBeGreaterThan(before.dropped['missing-key']);
    expect(after.decrypted).toBe(0);
    expect(after.participants.map((p) => p.state)).toEqual(['waiting', 'waiting']);
  });

  it('receivers keep decoding across a key rotation announced shortly before', async () => {
    const next = randomKey();
    aliceKeys.set(1, next);
    const dropsBefore = (await peerStats(bob, 'alice')).video.dropped;
    const sampler = sampleDecoding(bob, 'alice');
    const report = await tapFrames(await videoProducerOf(bob, 'alice'), aliceKeys, async () => {
      await sleep(1500);
      await bob.setPeerKey('alice', 1, next);
      await sleep(500);
      await alice.setOwnKey(1, next);
      await sleep(3000);
    });
    const { longestGapMs, frames } = await sampler.stop();
    const after = await peerStats(bob, 'alice');
    console.log(`[e2ee] rotation 0 -> 1: bob decoded ${frames} frames of alice; longest decode gap ${longestGapMs} ms`);
    console.log(`[e2ee] rotation: drops before ${JSON.stringify(dropsBefore)}, after ${JSON.stringify(after.video.dropped)}`);
    console.log(`[e2ee] RTP tap across rotation: ${JSON.stringify(report)}`);
    expect(after.keyIndexes).toEqual([0, 1]);
    expect(frames).toBeGreaterThan(0);
    expectAllEncrypted(report);
    expect(report.kids).toEqual(['0x100', '0x101']);
    const decodedAfter = (await decodes(bob, 'alice')).framesDecoded;
    await waitFor(async () => (await decodes(bob, 'alice')).framesDecoded > decodedAfter + 30, {
      timeoutMs: 10_000,
      description: 'bob to keep decoding alice under key 1',
    });
  });

  it('a receiver follows a sender that ratcheted its key without announcing it', async () => {
    const ratcheted = await ratchetKey(aliceKeys.get(1)!);
    const before = await peerStats(bob, 'alice');
    const sampler = sampleDecoding(bob, 'alice');
    await sleep(1000);
    await alice.setOwnKey(1, ratcheted);
    await sleep(3000);
    const { longestGapMs, frames } = await sampler.stop();
    const after = await peerStats(bob, 'alice');
    console.log(
      `[e2ee] join ratchet: bob decoded ${frames} frames; longest decode gap ${longestGapMs} ms; ` +
        `ratchets adopted ${before.ratchetsAdopted} -> ${after.ratchetsAdopted}; auth-failed ${after.video.dropped['auth-failed']}`,
    );
    expect(after.ratchetsAdopted).toBeGreaterThan(before.ratchetsAdopted);
    const decoded = (await decodes(bob, 'alice')).framesDecoded;
    await waitFor(async () => (await decodes(bob, 'alice')).framesDecoded > decoded + 30, {
      timeoutMs: 10_000,
      description: 'bob to keep decoding alice under the ratcheted key',
    });
    expect(after.state).toBe('keys-present');
  });

  it('measures per-frame encrypt and decrypt cost in a browser worker', async () => {
    const bundle = await build({
      entryPoints: [new URL('../bench/e2eeFrame.ts', import.meta.url).pathname],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'warning',
    });
    const code = bundle.outputFiles[0]!.text;
    const outcome = await alice.page.evaluate(
      ([source, sizes]) =>
        new Promise<{ ok: boolean; results?: FrameBenchResult[]; error?: string }>((resolve) => {
          type WorkerLike = { onmessage: ((event: { data: unknown }) => void) | null; postMessage(message: unknown): void; terminate(): void };
          const g = globalThis as unknown as {
            Blob: new (parts: string[], options: { type: string }) => unknown;
            URL: { createObjectURL(blob: unknown): string };
            Worker: new (url: string, options: { type: string }) => WorkerLike;
          };
          const worker = new g.Worker(g.URL.createObjectURL(new g.Blob([source], { type: 'text/javascript' })), { type: 'module' });
          worker.onmessage = (event) => {
            worker.terminate();
            resolve(event.data as { ok: boolean; results?: FrameBenchResult[]; error?: string });
          };
          worker.postMessage({ sizes, iterations: 1000 });
        }),
      [code, [...FRAME_BENCH_SIZES]] as const,
    );
    if (!outcome.ok || !outcome.results) throw new Error(`bench failed: ${outcome.error}`);
    for (const line of formatFrameBench('chromium worker', outcome.results)) console.log(`[e2ee] ${line}`);
    expect(outcome.results).toHaveLength(FRAME_BENCH_SIZES.length);
  });
});

describe('E2EE with the createEncodedStreams fallback', () => {
  it('two participants decode each other', async () => {
    const dave = await openE2ee('dave');
    const erin = await openE2ee('erin');
    try {
      await dave.join({ conference: 'e2ee-fallback', e2ee: { mode: 'encoded-streams' } });
      await erin.join({ conference: 'e2ee-fallback', e2ee: { mode: 'encoded-streams' } });
      const [daveKey, erinKey] = [randomKey(), randomKey()];
      await dave.setOwnKey(5, daveKey);
      await erin.setOwnKey(9, erinKey);
      await dave.setPeerKey('erin', 9, erinKey);
      await erin.setPeerKey('dave', 5, daveKey);
      await waitFor(() => decodes(erin, 'dave'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'erin to decode dave' });
      await waitFor(() => decodes(dave, 'erin'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'dave to decode erin' });
      expect(await dave.e2eeMode()).toBe('encoded-streams');
      const stats = await erin.e2eeStats();
      console.log(`[e2ee] fallback: erin encrypted ${stats.encrypted}, decrypted ${stats.decrypted}, dropped ${JSON.stringify(stats.dropped)}`);
    } finally {
      await dave.leave();
      await erin.leave();
    }
  });
});
