// E2eeManager and KeyProvider with a fake worker port and fake senders/receivers: mode choice,
// transforms attached (or refused) per mode, keys copied and transferred, argument checks, stats
// requests, decrypt-state events and close().

import { afterEach, describe, expect, it, vi } from 'vitest';
import { E2eeManager } from '../../../../src/browser/e2ee/E2eeManager.ts';
import { E2eeError } from '../../../../src/browser/e2ee/errors.ts';
import type { E2eeWorkerPort, TransformTarget } from '../../../../src/browser/e2ee/types.ts';
import type { E2eeStats, WorkerRequest } from '../../../../src/browser/e2ee/worker/types.ts';
import { emptyDropCounts } from '../../../../src/browser/e2ee/worker/FrameCounters.ts';

interface FakeWorker extends E2eeWorkerPort {
  readonly posted: Array<{ message: WorkerRequest; transfer: unknown[] }>;
  emit(data: unknown): void;
  terminated: boolean;
}

function fakeWorker(): FakeWorker {
  const listeners: Array<(event: { data: unknown }) => void> = [];
  const worker: FakeWorker = {
    posted: [],
    terminated: false,
    postMessage: (message, transfer) => worker.posted.push({ message: message as WorkerRequest, transfer }),
    addEventListener: (_type, listener) => listeners.push(listener),
    terminate: () => {
      worker.terminated = true;
    },
    emit: (data) => listeners.forEach((listener) => listener({ data })),
  };
  return worker;
}

class FakeScriptTransform {
  readonly worker: unknown;
  readonly options: unknown;
  constructor(worker: unknown, options: unknown) {
    this.worker = worker;
    this.options = options;
  }
}

const silent = { debug: () => undefined, warn: () => undefined };

function stats(participants: E2eeStats['participants'] = []): E2eeStats {
  return { frameFormat: 'sframe', ownKeyIndex: 0, encrypted: 0, decrypted: 0, dropped: emptyDropCounts(), senders: [], participants };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('E2eeManager', () => {
  it('uses RTCRtpScriptTransform in auto mode when it exists, and attaches one per sender and receiver', () => {
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, encodedStreamsSupported: true, logger: silent });
    expect(e2ee.mode).toBe('script-transform');
    const sender: TransformTarget = { transform: null };
    const receiver: TransformTarget = { transform: null };
    e2ee.transforms.sender(sender, { kind: 'video', source: 'camera' });
    e2ee.transforms.receiver(receiver, { kind: 'audio', source: 'microphone', participantId: 'bob' });
    expect(sender.transform).toBeInstanceOf(FakeScriptTransform);
    expect((sender.transform as FakeScriptTransform).worker).toBe(worker);
    expect((sender.transform as FakeScriptTransform).options).toEqual({ side: 'send', kind: 'video', source: 'camera' });
    expect((receiver.transform as FakeScriptTransform).options).toEqual({ side: 'receive', kind: 'audio', source: 'microphone', participantId: 'bob' });
    expect(e2ee.clientOptions()).toMatchObject({ encodedInsertableStreams: false, encryptedMedia: true, codecMimeTypes: ['audio/opus', 'video/VP8', 'video/VP9'] });
  });

  it('falls back to createEncodedStreams and transfers the streams to the worker', () => {
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, encodedStreamsSupported: true, logger: silent });
    expect(e2ee.mode).toBe('encoded-streams');
    expect(e2ee.clientOptions().encodedInsertableStreams).toBe(true);
    const readable = {};
    const writable = {};
    e2ee.transforms.sender({ transform: null, createEncodedStreams: () => ({ readable, writable }) }, { kind: 'audio', source: 'microphone' });
    expect(worker.posted[0]?.message).toMatchObject({ kind: 'attachStreams', options: { side: 'send' }, readable, writable });
    expect(worker.posted[0]?.transfer).toEqual([readable, writable]);
  });

  it('throws rather than leave a sender untransformed', () => {
    const e2ee = new E2eeManager({ worker: fakeWorker(), encodedStreamsSupported: true, logger: silent });
    expect(() => e2ee.transforms.sender({ transform: null }, { kind: 'video', source: 'camera' })).toThrow(E2eeError);
    e2ee.close();
    const scripted = new E2eeManager({ worker: fakeWorker(), scriptTransform: FakeScriptTransform, logger: silent });
    scripted.close();
    expect(() => scripted.transforms.sender({ transform: null }, { kind: 'video', source: 'camera' })).toThrow(/closed/);
  });

  it('refuses to start when the browser has no way to transform frames', () => {
    expect(() => new E2eeManager({ worker: fakeWorker(), encodedStreamsSupported: false, logger: silent })).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED' }),
    );
    expect(() => new E2eeManager({ worker: fakeWorker(), mode: 'script-transform', encodedStreamsSupported: true, logger: silent })).toThrow(E2eeError);
  });

  it('getStats() resolves with the answer carrying its requestId and times out otherwise', async () => {
    vi.useFakeTimers();
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, statsTimeoutMs: 100, logger: silent });
    const answered = e2ee.getStats();
    const request = worker.posted[0]?.message;
    expect(request?.kind).toBe('getStats');
    worker.emit({ kind: 'stats', requestId: request?.kind === 'getStats' ? request.requestId : -1, stats: stats() });
    await expect(answered).resolves.toMatchObject({ ownKeyIndex: 0 });
    const unanswered = e2ee.getStats();
    vi.advanceTimersByTime(100);
    await expect(unanswered).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('emits decryptStateChanged when a participant state changes and reports it', () => {
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, logger: silent });
    const changes: unknown[] = [];
    e2ee.on('decryptStateChanged', (change) => changes.push(change));
    const counts = { processed: 0, livekit: 0, empty: 0, dropped: emptyDropCounts() };
    const bob = (state: 'waiting' | 'keys-present' | 'failing') => ({ participantId: 'bob', state, keyIndexes: [], audio: counts, video: counts, ratchetsAdopted: 0 });
    expect(e2ee.decryptState('bob')).toBe('waiting');
    worker.emit({ kind: 'stats', stats: stats([bob('keys-present')]) });
    worker.emit({ kind: 'stats', stats: stats([bob('keys-present')]) });
    worker.emit({ kind: 'stats', stats: stats([bob('failing')]) });
    expect(changes).toEqual([
      { participantId: 'bob', state: 'keys-present' },
      { participantId: 'bob', state: 'failing' },
    ]);
    expect(e2ee.decryptState('bob')).toBe('failing');
    expect(e2ee.lastStats?.participants).toHaveLength(1);
  });

  it('setFrameFormat() posts each change once, starting from sframe, and nothing after close()', () => {
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, logger: silent });
    expect(e2ee.frameFormat).toBe('sframe');
    e2ee.setFrameFormat('sframe');
    e2ee.setFrameFormat('livekit');
    e2ee.setFrameFormat('livekit');
    e2ee.setFrameFormat('sframe');
    expect(worker.posted.map((p) => p.message)).toEqual([
      { kind: 'setFrameFormat', format: 'livekit' },
      { kind: 'setFrameFormat', format: 'sframe' },
    ]);
    e2ee.close();
    e2ee.setFrameFormat('livekit');
    expect(worker.posted).toHaveLength(2);
  });

  it('close() terminates the worker, rejects pending stats and ignores later keys', async () => {
    const worker = fakeWorker();
    const e2ee = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, logger: silent });
    const pending = e2ee.getStats();
    e2ee.close();
    e2ee.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    expect(worker.terminated).toBe(true);
    const before = worker.posted.length;
    e2ee.keyProvider.setOwnKey(0, new Uint8Array(16));
    expect(worker.posted).toHaveLength(before);
  });
});

describe('KeyProvider', () => {
  it('posts a copy of each key and transfers the copy, leaving the caller bytes intact', () => {
    const worker = fakeWorker();
    const { keyProvider } = new E2eeManager({ worker, scriptTransform: FakeScriptTransform, logger: silent });
    const key = new Uint8Array(16).fill(7);
    keyProvider.setOwnKey(3, key);
    keyProvider.setPeerKey('bob', 4, key);
    keyProvider.setPeerKey('bob', 2, key);
    const [own, peer] = worker.posted;
    expect(own?.message).toMatchObject({ kind: 'setOwnKey', keyIndex: 3 });
    expect(peer?.message).toMatchObject({ kind: 'setPeerKey', participantId: 'bob', keyIndex: 4 });
    const sent = own?.message.kind === 'setOwnKey' ? own.message.key : undefined;
    expect(sent).not.toBe(key);
    expect(own?.transfer).toEqual([sent?.buffer]);
    expect(key).toEqual(new Uint8Array(16).fill(7));
    expect(keyProvider.ownKeyIndex).toBe(3);
    expect(keyProvider.peerKeyIndexes('bob')).toEqual([2, 4]);
    keyProvider.removePeer('bob');
    expect(worker.posted.at(-1)?.message).toEqual({ kind: 'removePeer', participantId: 'bob' });
    expect(keyProvider.peerKeyIndexes('bob')).toEqual([]);
  });

  it('refuses bad key indexes, key lengths and participant ids', () => {
    const { keyProvider } = new E2eeManager({ worker: fakeWorker(), scriptTransform: FakeScriptTransform, logger: silent });
    expect(() => keyProvider.setOwnKey(256, new Uint8Array(16))).toThrow(RangeError);
    expect(() => keyProvider.setOwnKey(-1, new Uint8Array(16))).toThrow(RangeError);
    expect(() => keyProvider.setOwnKey(0, new Uint8Array(32))).toThrow(TypeError);
    expect(() => keyProvider.setPeerKey('', 0, new Uint8Array(16))).toThrow(TypeError);
    expect(() => keyProvider.removePeer('')).toThrow(TypeError);
  });
});
