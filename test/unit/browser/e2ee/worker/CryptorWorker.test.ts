// CryptorWorker: messages are parsed (every fault reported, no key bytes in messages), applied in
// arrival order, and stats report per-sender and per-participant counters and decrypt states.

import { describe, expect, it } from 'vitest';
import { parseSFrameAfterPrefix } from '../../../../../src/common/e2ee/frame.ts';
import { parseTransformOptions, parseWorkerRequest } from '../../../../../src/browser/e2ee/worker/messages.ts';
import { bytesOf, key, makeWorker, vp8Frame } from './fakes.ts';

describe('parseWorkerRequest()', () => {
  it('accepts each message kind', () => {
    for (const message of [
      { kind: 'setOwnKey', keyIndex: 255, key: key(1) },
      { kind: 'setPeerKey', participantId: 'bob', keyIndex: 0, key: key(1) },
      { kind: 'removePeer', participantId: 'bob' },
      { kind: 'getStats', requestId: 7 },
      { kind: 'attachStreams', options: { side: 'send', kind: 'audio', source: 'microphone' }, readable: {}, writable: {} },
    ]) {
      expect(parseWorkerRequest(message).ok).toBe(true);
    }
  });

  it('reports every fault of a message at once', () => {
    const parsed = parseWorkerRequest({ kind: 'setPeerKey', participantId: '', keyIndex: 256, key: new Uint8Array(15) });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.faults).toHaveLength(3);
  });

  it('refuses unknown kinds, non-objects and keys that are not Uint8Arrays', () => {
    expect(parseWorkerRequest({ kind: 'setKey' }).ok).toBe(false);
    expect(parseWorkerRequest('setOwnKey').ok).toBe(false);
    expect(parseWorkerRequest({ kind: 'setOwnKey', keyIndex: 1.5, key: Array.from(key(1)) }).ok).toBe(false);
  });
});

describe('parseTransformOptions()', () => {
  it('needs a participantId on the receive side only', () => {
    expect(parseTransformOptions({ side: 'send', kind: 'video', source: 'camera' }).ok).toBe(true);
    expect(parseTransformOptions({ side: 'receive', kind: 'video', source: 'camera' }).ok).toBe(false);
    expect(parseTransformOptions({ side: 'receive', kind: 'video', source: 'camera', participantId: 'a' }).ok).toBe(true);
    expect(parseTransformOptions({ side: 'send', kind: 'data', source: 'webcam' }).ok).toBe(false);
  });
});

describe('CryptorWorker', () => {
  it('reports a refused message as an error event that names no key bytes', async () => {
    const { worker, events } = makeWorker();
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: new Uint8Array(15).fill(0xab) });
    expect(events).toHaveLength(1);
    expect(events[0]?.kind).toBe('error');
    expect(JSON.stringify(events[0])).not.toMatch(/ab|171/);
  });

  it('applies messages in arrival order even though key derivation is asynchronous', async () => {
    const { worker } = makeWorker();
    const camera = worker.createCryptor({ side: 'send', kind: 'video', source: 'camera' });
    // Not awaited one by one: the queue must still install key 2 last.
    void worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    void worker.handle({ kind: 'setOwnKey', keyIndex: 1, key: key(2) });
    await worker.handle({ kind: 'getStats', requestId: 1 });
    const sealed = await camera.transform(vp8Frame(100, 'delta'));
    const header = parseSFrameAfterPrefix('video/VP8', bytesOf(sealed!));
    expect(header?.kid).toBe(0x101n);
  });

  it('answers getStats after the messages before it, with its requestId', async () => {
    const { worker, events } = makeWorker();
    void worker.handle({ kind: 'setPeerKey', participantId: 'bob', keyIndex: 3, key: key(1) });
    await worker.handle({ kind: 'getStats', requestId: 42 });
    const answer = events.find((event) => event.kind === 'stats');
    expect(answer?.kind === 'stats' && answer.requestId).toBe(42);
    if (answer?.kind !== 'stats') return;
    expect(answer.stats.participants).toEqual([
      expect.objectContaining({ participantId: 'bob', state: 'keys-present', keyIndexes: [3] }),
    ]);
  });

  it('reads waiting for a participant with no keys, and forgets them on removePeer', async () => {
    const { worker } = makeWorker();
    const video = worker.createCryptor({ side: 'receive', kind: 'video', source: 'camera', participantId: 'carol' });
    await video.transform(vp8Frame(100, 'delta'));
    expect(worker.stats().participants[0]?.state).toBe('waiting');
    await worker.handle({ kind: 'setPeerKey', participantId: 'carol', keyIndex: 0, key: key(1) });
    expect(worker.stats().participants[0]?.state).toBe('keys-present');
    await worker.handle({ kind: 'removePeer', participantId: 'carol' });
    expect(worker.stats().participants).toEqual([]);
  });

  it('counts per sender source with its sender index, and totals drops by reason', async () => {
    const { worker } = makeWorker();
    const screen = worker.createCryptor({ side: 'send', kind: 'video', source: 'screen' });
    await screen.transform(vp8Frame(100, 'key'));
    await worker.handle({ kind: 'setOwnKey', keyIndex: 0, key: key(1) });
    await screen.transform(vp8Frame(100, 'key'));
    const stats = worker.stats();
    expect(stats.senders).toEqual([expect.objectContaining({ source: 'screen', senderIndex: 2, processed: 1 })]);
    expect(stats.encrypted).toBe(1);
    expect(stats.dropped['no-own-key']).toBe(1);
  });

  it('refuses attachStreams when it cannot pipe streams', async () => {
    const { worker, events } = makeWorker();
    await worker.handle({ kind: 'attachStreams', options: { side: 'send', kind: 'audio', source: 'microphone' }, readable: {}, writable: {} });
    expect(events[0]?.kind).toBe('error');
  });
});
