// FrameCryptor through CryptorWorker: frame layout (clear prefix, SFrame header with our KID and
// CTR), round trips per codec, drops with their reasons (never a plaintext frame out), empty
// frames, the bounded forward ratchet, key rotation, the counter limit and key-frame requests.

import { describe, expect, it } from 'vitest';
import { makeKid, parseSFrameAfterPrefix } from '../../../../../src/common/e2ee/frame.ts';
import { MAX_RATCHET_STEPS, ratchetKey } from '../../../../../src/common/e2ee/ratchet.ts';
import { FAILING_AFTER_FAILURES, SENDER_INDEX_BY_SOURCE } from '../../../../../src/browser/e2ee/worker/constants.ts';
import { CryptorWorker } from '../../../../../src/browser/e2ee/worker/CryptorWorker.ts';
import { bytesOf, key, makeWorker, opusFrame, received, vp8Frame, type FakeFrame } from './fakes.ts';

const CAMERA = SENDER_INDEX_BY_SOURCE.camera;
const MIC = SENDER_INDEX_BY_SOURCE.microphone;

async function setup(options: { senderKey?: Uint8Array; receiverKey?: Uint8Array; keyIndex?: number } = {}) {
  const alice = makeWorker();
  const bob = makeWorker();
  const keyIndex = options.keyIndex ?? 0;
  if (options.senderKey) await alice.worker.handle({ kind: 'setOwnKey', keyIndex, key: options.senderKey });
  if (options.receiverKey) await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex, key: options.receiverKey });
  const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
  const mic = alice.worker.createCryptor({ side: 'send', kind: 'audio', source: 'microphone' });
  const video = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
  const audio = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
  return { alice, bob, camera, mic, video, audio };
}

async function seal(cryptor: { transform(frame: FakeFrame): Promise<FakeFrame | undefined> }, frame: FakeFrame): Promise<Uint8Array> {
  const out = await cryptor.transform(frame);
  if (!out) throw new Error('frame was dropped');
  return bytesOf(out);
}

function aliceStats(worker: CryptorWorker) {
  const participant = worker.stats().participants.find((p) => p.participantId === 'alice');
  if (!participant) throw new Error('no stats for alice');
  return participant;
}

describe('FrameCryptor (send)', () => {
  it('keeps the 10-byte VP8 key-frame header clear and writes our KID and increasing CTRs', async () => {
    const { camera } = await setup({ senderKey: key(1), keyIndex: 3 });
    const plain = vp8Frame(1200, 'key');
    const original = bytesOf(plain);
    const ctrs: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      const sealed = await seal(camera, vp8Frame(1200, 'key'));
      expect(sealed.subarray(0, 10)).toEqual(original.subarray(0, 10));
      const header = parseSFrameAfterPrefix('video/VP8', sealed);
      expect(header?.prefixLength).toBe(10);
      expect(header?.kid).toBe(makeKid(CAMERA, 3));
      // header + 16-byte GCM tag of suite 4
      expect(sealed.length).toBe(1200 + (header?.headerLength ?? 0) + 16);
      ctrs.push(header!.ctr);
    }
    expect(ctrs).toEqual([0n, 1n, 2n]);
  });

  it('keeps 3 bytes clear on VP8 delta frames and 1 byte on Opus, with the microphone on sender index 0', async () => {
    const { camera, mic } = await setup({ senderKey: key(1) });
    const delta = await seal(camera, vp8Frame(500, 'delta'));
    expect(parseSFrameAfterPrefix('video/VP8', delta)?.prefixLength).toBe(3);
    const opus = await seal(mic, opusFrame(80));
    const header = parseSFrameAfterPrefix('audio/opus', opus);
    expect(header?.prefixLength).toBe(1);
    expect(header?.kid).toBe(makeKid(MIC, 0));
    // KID 0 and CTR 0 both fit in the config byte.
    expect(header?.headerLength).toBe(1);
  });

  it('drops frames while no own key is set instead of sending them in clear', async () => {
    const { alice, camera, mic } = await setup();
    expect(await camera.transform(vp8Frame(100, 'key'))).toBeUndefined();
    expect(await mic.transform(opusFrame(50))).toBeUndefined();
    const stats = alice.worker.stats();
    expect(stats.dropped['no-own-key']).toBe(2);
    expect(stats.encrypted).toBe(0);
  });

  it('passes empty frames through untouched and counts them', async () => {
    const { alice, camera } = await setup({ senderKey: key(1) });
    const empty: FakeFrame = { data: new ArrayBuffer(0), type: 'empty', getMetadata: () => ({ mimeType: 'video/VP8' }) };
    expect(await camera.transform(empty)).toBe(empty);
    expect(empty.data.byteLength).toBe(0);
    expect(alice.worker.stats().senders[0]?.empty).toBe(1);
  });

  it('drops H.264 frames on both sides (unsupported-codec)', async () => {
    const { alice, bob, camera, video } = await setup({ senderKey: key(1), receiverKey: key(1) });
    const h264: FakeFrame = { data: new Uint8Array([0, 0, 0, 1, 0x67, 1, 2, 3]).buffer, type: 'key', getMetadata: () => ({ mimeType: 'video/H264' }) };
    expect(await camera.transform(h264)).toBeUndefined();
    expect(await video.transform({ ...h264, data: new Uint8Array(40).buffer })).toBeUndefined();
    expect(alice.worker.stats().dropped['unsupported-codec']).toBe(1);
    expect(bob.worker.stats().dropped['unsupported-codec']).toBe(1);
  });

  it('starts a fresh counter for a key at a new index and keeps counting when the same key is set again', async () => {
    const { alice, camera } = await setup({ senderKey: key(1) });
    await seal(camera, vp8Frame(100, 'delta'));
    await seal(camera, vp8Frame(100, 'delta'));
    // The same bytes again at the same index: CTR must not restart (RFC 9605 §9.1).
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    expect(parseSFrameAfterPrefix('video/VP8', await seal(camera, vp8Frame(100, 'delta')))?.ctr).toBe(2n);
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 1, key: key(2) });
    const rotated = parseSFrameAfterPrefix('video/VP8', await seal(camera, vp8Frame(100, 'delta')));
    expect(rotated?.kid).toBe(makeKid(CAMERA, 1));
    expect(rotated?.ctr).toBe(0n);
    expect(alice.worker.stats().ownKeyIndex).toBe(1);
  });

  it('never repeats a CTR under one KID, even when the key at its index changes and comes back', async () => {
    const { alice, camera } = await setup({ senderKey: key(1) });
    const ctrs: bigint[] = [];
    for (const next of [key(2), key(1)]) {
      ctrs.push(parseSFrameAfterPrefix('video/VP8', await seal(camera, vp8Frame(100, 'delta')))!.ctr);
      await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: next });
    }
    ctrs.push(parseSFrameAfterPrefix('video/VP8', await seal(camera, vp8Frame(100, 'delta')))!.ctr);
    expect(ctrs).toEqual([0n, 1n, 2n]);
  });

  it('stops at the counter limit (counter-exhausted) until a key at another index is set', async () => {
    const events: unknown[] = [];
    const worker = new CryptorWorker({ post: (event) => events.push(event), maxFrameCounter: 1n });
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    const camera = worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    expect(await camera.transform(vp8Frame(50, 'delta'))).toBeDefined();
    expect(await camera.transform(vp8Frame(50, 'delta'))).toBeDefined();
    expect(await camera.transform(vp8Frame(50, 'delta'))).toBeUndefined();
    expect(worker.stats().dropped['counter-exhausted']).toBe(1);
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(3) });
    expect(await camera.transform(vp8Frame(50, 'delta'))).toBeUndefined();
    await worker.handle({ kind: 'setOwnKey', keyIndex: 1, key: key(2) });
    expect(await camera.transform(vp8Frame(50, 'delta'))).toBeDefined();
  });

  it('asks the encoder for a key frame once the first key arrives after dropped frames', async () => {
    const alice = makeWorker(() => 0);
    let requests = 0;
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' }, () => requests++);
    await camera.transform(vp8Frame(50, 'delta'));
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    await camera.transform(vp8Frame(50, 'delta'));
    await camera.transform(vp8Frame(50, 'delta'));
    expect(requests).toBe(1);
  });
});

describe('FrameCryptor (receive)', () => {
  it('restores the exact frame the sender encoded, for VP8 key and delta frames and Opus', async () => {
    const { bob, camera, mic, video, audio } = await setup({ senderKey: key(1), receiverKey: key(1) });
    for (const [sender, receiver, plain] of [
      [camera, video, vp8Frame(30_000, 'key')],
      [camera, video, vp8Frame(1200, 'delta')],
      [mic, audio, opusFrame(120)],
    ] as const) {
      const original = bytesOf(plain);
      const sealed = await seal(sender, plain);
      const opened = await receiver.transform(received(sealed, plain));
      expect(opened && bytesOf(opened)).toEqual(original);
    }
    const stats = aliceStats(bob.worker);
    expect(stats.state).toBe('keys-present');
    expect(stats.video.processed).toBe(2);
    expect(stats.audio.processed).toBe(1);
  });

  it('drops and counts frames whose key index it lacks (missing-key) and reads waiting', async () => {
    const { bob, camera, video } = await setup({ senderKey: key(1), keyIndex: 4 });
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 5, key: key(1) });
    const plain = vp8Frame(200, 'delta');
    expect(await video.transform(received(await seal(camera, plain), plain))).toBeUndefined();
    const stats = aliceStats(bob.worker);
    expect(stats.video.dropped['missing-key']).toBe(1);
    expect(stats.state).toBe('waiting');
  });

  it('drops frames that fail authentication, even after the ratchet, and reads failing after repeated failures', async () => {
    const { bob, camera, video } = await setup({ senderKey: key(1), receiverKey: key(9) });
    for (let i = 0; i < FAILING_AFTER_FAILURES; i++) {
      const plain = vp8Frame(200, 'delta', i);
      expect(await video.transform(received(await seal(camera, plain), plain))).toBeUndefined();
    }
    const stats = aliceStats(bob.worker);
    expect(stats.video.dropped['auth-failed']).toBe(FAILING_AFTER_FAILURES);
    expect(stats.state).toBe('failing');
    expect(stats.ratchetsAdopted).toBe(0);
  });

  it('drops a frame whose clear prefix was altered (the prefix is authenticated)', async () => {
    const { camera, video } = await setup({ senderKey: key(1), receiverKey: key(1) });
    const plain = vp8Frame(300, 'key');
    const sealed = await seal(camera, plain);
    sealed[7] = (sealed[7] ?? 0) ^ 0x01; // a width byte of the VP8 key-frame header
    expect(await video.transform(received(sealed, plain))).toBeUndefined();
  });

  it('follows a sender that ratcheted its key, within MAX_RATCHET_STEPS, and adopts the ratcheted key', async () => {
    let ratcheted = key(1);
    for (let i = 0; i < 3; i++) ratcheted = await ratchetKey(ratcheted);
    const { bob, camera, video } = await setup({ senderKey: ratcheted, receiverKey: key(1) });
    for (let i = 0; i < 3; i++) {
      const plain = vp8Frame(200, 'delta', i);
      const original = bytesOf(plain);
      const opened = await video.transform(received(await seal(camera, plain), plain));
      expect(opened && bytesOf(opened)).toEqual(original);
    }
    // Adopted once: later frames decrypt with the adopted key directly.
    expect(aliceStats(bob.worker).ratchetsAdopted).toBe(1);
  });

  it('gives up beyond MAX_RATCHET_STEPS', async () => {
    let ratcheted = key(1);
    for (let i = 0; i <= MAX_RATCHET_STEPS; i++) ratcheted = await ratchetKey(ratcheted);
    const { bob, camera, video } = await setup({ senderKey: ratcheted, receiverKey: key(1) });
    const plain = vp8Frame(200, 'delta');
    expect(await video.transform(received(await seal(camera, plain), plain))).toBeUndefined();
    expect(aliceStats(bob.worker).video.dropped['auth-failed']).toBe(1);
  });

  it('decrypts across a key rotation when the new key arrived first', async () => {
    const { alice, bob, camera, video } = await setup({ senderKey: key(1), receiverKey: key(1) });
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 1, key: key(2) });
    const before = vp8Frame(200, 'delta', 1);
    expect(await video.transform(received(await seal(camera, before), before))).toBeDefined();
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 1, key: key(2) });
    const after = vp8Frame(200, 'delta', 2);
    expect(await video.transform(received(await seal(camera, after), after))).toBeDefined();
    expect(aliceStats(bob.worker).keyIndexes).toEqual([0, 1]);
  });

  it('drops frames of a removed participant', async () => {
    const { bob, camera, video } = await setup({ senderKey: key(1), receiverKey: key(1) });
    await bob.worker.handle({ kind: 'removePeer', participantId: 'alice' });
    const plain = vp8Frame(200, 'delta');
    expect(await video.transform(received(await seal(camera, plain), plain))).toBeUndefined();
    expect(aliceStats(bob.worker).video.dropped['missing-key']).toBe(1);
  });

  it('drops a frame too short to hold an SFrame header and tag (bad-frame)', async () => {
    const { bob, video } = await setup({ receiverKey: key(1) });
    const short = vp8Frame(6, 'delta');
    expect(await video.transform(short)).toBeUndefined();
    expect(aliceStats(bob.worker).video.dropped['bad-frame']).toBe(1);
  });

  it('asks the sender for a key frame when decryption recovers, at most once per interval', async () => {
    let nowMs = 0;
    const alice = makeWorker();
    const bob = makeWorker(() => nowMs);
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    let requests = 0;
    const video = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' }, () => requests++);
    const pass = async () => {
      const plain = vp8Frame(100, 'delta');
      return video.transform(received(await seal(camera, plain), plain));
    };
    expect(await pass()).toBeUndefined();
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 0, key: key(1) });
    expect(await pass()).toBeDefined();
    expect(requests).toBe(1);
    await bob.worker.handle({ kind: 'removePeer', participantId: 'alice' });
    await pass();
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 0, key: key(1) });
    await pass();
    expect(requests).toBe(1);
    nowMs = 5000;
    await bob.worker.handle({ kind: 'removePeer', participantId: 'alice' });
    await pass();
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 0, key: key(1) });
    await pass();
    expect(requests).toBe(2);
  });
});
