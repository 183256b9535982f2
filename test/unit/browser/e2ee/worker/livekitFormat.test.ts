// The worker in LiveKit's frame format: senders write it after setFrameFormat('livekit'),
// receivers read both formats per frame (a switch never needs the receiver to know), frames
// livekit-client would write (key index byte, HKDF "LKFrameEncryptionKey") decrypt, and an
// unknown or wrong key still drops the frame.

import { describe, expect, it } from 'vitest';
import { deriveLiveKitFrameKey, encryptLiveKitFrame, LIVEKIT_FRAME_OVERHEAD_BYTES, parseLiveKitTrailer } from '../../../../../src/common/e2ee/livekitFrame.ts';
import { ratchetKey } from '../../../../../src/common/e2ee/ratchet.ts';
import { parseWorkerRequest } from '../../../../../src/browser/e2ee/worker/messages.ts';
import type { E2eeStats } from '../../../../../src/browser/e2ee/worker/types.ts';
import { bytesOf, key, makeWorker, opusFrame, received, vp8Frame } from './fakes.ts';

async function statsOf(worker: ReturnType<typeof makeWorker>): Promise<E2eeStats> {
  await worker.worker.handle({ kind: 'getStats', requestId: 1 });
  const event = worker.events.findLast((e) => e.kind === 'stats');
  if (event?.kind !== 'stats') throw new Error('no stats');
  return event.stats;
}

async function pair(format: 'sframe' | 'livekit') {
  const alice = makeWorker();
  const bob = makeWorker();
  await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 4, key: key(7) });
  await alice.worker.handle({ kind: 'setFrameFormat', format });
  await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 4, key: key(7) });
  return { alice, bob };
}

describe('setFrameFormat', () => {
  it('parses only the two formats', () => {
    expect(parseWorkerRequest({ kind: 'setFrameFormat', format: 'livekit' }).ok).toBe(true);
    expect(parseWorkerRequest({ kind: 'setFrameFormat', format: 'sframe' }).ok).toBe(true);
    expect(parseWorkerRequest({ kind: 'setFrameFormat', format: 'lk' }).ok).toBe(false);
  });

  it('makes senders write LiveKit frames (30 bytes more, key index byte last) that a receiver decrypts to the original', async () => {
    const { alice, bob } = await pair('livekit');
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const mic = alice.worker.createCryptor({ side: 'send', kind: 'audio', source: 'microphone' });
    const receiveVideo = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
    const receiveAudio = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    for (const [sender, receiver, frame] of [
      [camera, receiveVideo, vp8Frame(500, 'key')],
      [camera, receiveVideo, vp8Frame(120, 'delta')],
      [mic, receiveAudio, opusFrame(80)],
    ] as const) {
      const original = bytesOf(frame);
      const sealed = bytesOf((await sender.transform(frame))!);
      expect(sealed.length).toBe(original.length + LIVEKIT_FRAME_OVERHEAD_BYTES);
      expect(parseLiveKitTrailer(frame.type ? 'video/VP8' : 'audio/opus', sealed)?.keyIndex).toBe(4);
      const opened = await receiver.transform(received(sealed, frame));
      expect(bytesOf(opened!)).toEqual(original);
    }
    const stats = await statsOf(bob);
    expect(stats.participants[0]?.video).toMatchObject({ processed: 2, livekit: 2 });
    expect(stats.participants[0]?.audio).toMatchObject({ processed: 1, livekit: 1 });
    expect((await statsOf(alice)).frameFormat).toBe('livekit');
  });

  it('never repeats an IV across frames and senders under one key', async () => {
    const { alice } = await pair('livekit');
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const screen = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'screen' });
    const ivs = new Set<string>();
    for (let i = 0; i < 20; i++) {
      for (const sender of [camera, screen]) {
        const sealed = bytesOf((await sender.transform(vp8Frame(60, 'delta', i)))!);
        ivs.add(Buffer.from(sealed.subarray(sealed.length - 14, sealed.length - 2)).toString('hex'));
      }
    }
    expect(ivs.size).toBe(40);
  });

  it('a receiver keeps decrypting when the sender switches format mid-stream, both ways', async () => {
    const { alice, bob } = await pair('sframe');
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const receiver = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
    for (const format of ['sframe', 'livekit', 'sframe'] as const) {
      await alice.worker.handle({ kind: 'setFrameFormat', format });
      for (let i = 0; i < 5; i++) {
        const frame = vp8Frame(90, i === 0 ? 'key' : 'delta', i);
        const original = bytesOf(frame);
        const sealed = bytesOf((await camera.transform(frame))!);
        expect(bytesOf((await receiver.transform(received(sealed, frame)))!)).toEqual(original);
      }
    }
    const stats = await statsOf(bob);
    expect(stats.participants[0]?.video).toMatchObject({ processed: 15, livekit: 5 });
    expect(stats.dropped['auth-failed'] + stats.dropped['missing-key'] + stats.dropped['bad-frame']).toBe(0);
  });

  it('decrypts a frame sealed the way livekit-client seals it (its own IV layout) under the delivered key', async () => {
    const { bob } = await pair('sframe');
    const receiver = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    const frame = opusFrame(60);
    // livekit-client's IV: SSRC ‖ RTP timestamp ‖ timestamp − sendCount.
    const iv = Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0, 0, 0x3c, 0, 0, 0, 0x3b, 0xf0]);
    const sealed = await encryptLiveKitFrame(await deriveLiveKitFrameKey(key(7)), iv, 4, 'audio/opus', bytesOf(frame));
    expect(bytesOf((await receiver.transform(received(sealed, frame)))!)).toEqual(bytesOf(frame));
  });

  it('follows a sender that ratcheted its key (our ratchet) in LiveKit format too', async () => {
    const { bob } = await pair('sframe');
    const receiver = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    const frame = opusFrame(60);
    const ratcheted = await ratchetKey(await ratchetKey(key(7)));
    const sealed = await encryptLiveKitFrame(await deriveLiveKitFrameKey(ratcheted), new Uint8Array(12), 4, 'audio/opus', bytesOf(frame));
    expect(bytesOf((await receiver.transform(received(sealed, frame)))!)).toEqual(bytesOf(frame));
    expect((await statsOf(bob)).participants[0]?.ratchetsAdopted).toBe(1);
  });

  it('drops LiveKit frames under an unknown key index as missing-key and under a wrong key as auth-failed', async () => {
    const { bob } = await pair('sframe');
    const receiver = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    const frame = opusFrame(60);
    const unknownIndex = await encryptLiveKitFrame(await deriveLiveKitFrameKey(key(7)), new Uint8Array(12).fill(1), 9, 'audio/opus', bytesOf(frame));
    expect(await receiver.transform(received(unknownIndex, frame))).toBeUndefined();
    const wrongKey = await encryptLiveKitFrame(await deriveLiveKitFrameKey(key(8)), new Uint8Array(12).fill(2), 4, 'audio/opus', bytesOf(frame));
    expect(await receiver.transform(received(wrongKey, frame))).toBeUndefined();
    const stats = await statsOf(bob);
    expect(stats.dropped['missing-key']).toBe(1);
    expect(stats.dropped['auth-failed']).toBe(1);
  });
});
