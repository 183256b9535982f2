// Races of the frame cryptor: frames encrypted concurrently (several transforms of one source
// after a media rebuild) never share a CTR, a key replaced while a frame is in flight never
// leaks plaintext, two receivers adopting the same ratcheted key adopt it once, and a frame
// sealed before a key switch that arrives after a newer frame still decrypts.

import { describe, expect, it } from 'vitest';
import { parseSFrameAfterPrefix } from '../../../../../src/common/e2ee/frame.ts';
import { ratchetKey } from '../../../../../src/common/e2ee/ratchet.ts';
import { bytesOf, key, makeWorker, opusFrame, received, vp8Frame } from './fakes.ts';

describe('FrameCryptor races', () => {
  it('two senders of one source encrypting at once never share a CTR', async () => {
    const { worker } = makeWorker();
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    const first = worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const second = worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const sealed = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? first : second).transform(vp8Frame(200 + i, 'delta', i))),
    );
    const ctrs = sealed.map((frame) => parseSFrameAfterPrefix('video/VP8', bytesOf(frame!))!.ctr);
    expect(new Set(ctrs).size).toBe(40);
  });

  it('a key replaced while frames are in flight drops or encrypts them, never passes them in clear', async () => {
    const { worker } = makeWorker();
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    const camera = worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const frames = Array.from({ length: 20 }, (_, i) => vp8Frame(300, 'delta', i));
    const originals = frames.map(bytesOf);
    const pending = frames.map((frame) => camera.transform(frame));
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(2) });
    const results = await Promise.all(pending);
    results.forEach((result, i) => {
      if (result) expect(bytesOf(result)).not.toEqual(originals[i]);
    });
    expect(worker.stats().dropped['internal-error']).toBe(0);
  });

  it('audio and video receivers racing through the ratchet adopt the ratcheted key once', async () => {
    const alice = makeWorker();
    const bob = makeWorker();
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: await ratchetKey(key(1)) });
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 0, key: key(1) });
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const mic = alice.worker.createCryptor({ side: 'send', kind: 'audio', source: 'microphone' });
    const video = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
    const audio = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    const v = vp8Frame(500, 'key');
    const a = opusFrame(60);
    const [sealedVideo, sealedAudio] = [bytesOf((await camera.transform(v))!), bytesOf((await mic.transform(a))!)];
    const [openedVideo, openedAudio] = await Promise.all([video.transform(received(sealedVideo, v)), audio.transform(received(sealedAudio, a))]);
    expect(openedVideo).toBeDefined();
    expect(openedAudio).toBeDefined();
    expect(bob.worker.stats().participants[0]?.ratchetsAdopted).toBe(1);
  });

  it('a video frame sealed before the sender ratcheted still decrypts after audio under the new key was adopted', async () => {
    const alice = makeWorker();
    const bob = makeWorker();
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 0, key: key(1) });
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const mic = alice.worker.createCryptor({ side: 'send', kind: 'audio', source: 'microphone' });
    const video = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
    const audio = bob.worker.createCryptor({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'alice' });
    const v = vp8Frame(500, 'delta');
    const sealedBefore = bytesOf((await camera.transform(v))!);
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: await ratchetKey(key(1)) });
    const a = opusFrame(60);
    const sealedAfter = bytesOf((await mic.transform(a))!);
    expect(await audio.transform(received(sealedAfter, a))).toBeDefined();
    expect(await video.transform(received(sealedBefore, v))).toBeDefined();
    const stats = bob.worker.stats().participants[0];
    expect(stats?.ratchetsAdopted).toBe(1);
    expect(stats?.video.dropped['auth-failed']).toBe(0);
  });

  it('a frame sealed under a key that setPeerKey replaced at the same index still decrypts', async () => {
    const alice = makeWorker();
    const bob = makeWorker();
    await alice.worker.handle({ kind: 'setOwnKey', keyIndex: 2, key: key(1) });
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 2, key: key(1) });
    const camera = alice.worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    const video = bob.worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'alice' });
    const v = vp8Frame(500, 'delta');
    const sealed = bytesOf((await camera.transform(v))!);
    await bob.worker.handle({ kind: 'setPeerKey', participantId: 'alice', keyIndex: 2, key: key(2) });
    expect(await video.transform(received(sealed, v))).toBeDefined();
  });
});
