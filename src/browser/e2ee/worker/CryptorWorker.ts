// The frame-transform worker's state and message dispatcher, free of WebWorker APIs so Node tests
// drive it directly (worker.ts binds it to the real worker scope). Main-thread messages are a
// kind-tagged union (types.ts) handled strictly in arrival order through one AsyncQueue: key
// derivation is async, and "set key 1, then key 2" must never install key 1 last.
//
// State: our own keyring and the index our senders encrypt with; one PeerRecord (keyring and
// counters) per remote participant; counters per sender source. Keys never leave the worker.

import { AsyncQueue } from '../../../common/lib/AsyncQueue.ts';
import type { MediaSource } from '../../../common/protocol/messages.ts';
import { SENDER_INDEX_BY_SOURCE } from './constants.ts';
import { addDropCounts, emptyDropCounts, FrameCounters } from './FrameCounters.ts';
import { FrameCryptor, type OwnKey } from './FrameCryptor.ts';
import { parseWorkerRequest } from './messages.ts';
import { ParticipantKeyring } from './ParticipantKeyring.ts';
import { PeerRecord } from './PeerRecord.ts';
import type { E2eeStats, FrameFormat, TransformOptions, WorkerEvent, WorkerRequest } from './types.ts';

/** What the worker needs from its environment. */
export interface CryptorWorkerOptions {
  /** Sends an event to the main thread. */
  readonly post: (event: WorkerEvent) => void;
  /** Pipes transferred encoded streams through `cryptor` (createEncodedStreams fallback). */
  readonly pipeStreams?: (readable: unknown, writable: unknown, cryptor: FrameCryptor) => void;
  /** Monotonic clock for key-frame request pacing. Default performance.now(). */
  readonly nowMs?: () => number;
  /** Last CTR a sender may use under one own key. Default MAX_FRAME_COUNTER (tests lower it). */
  readonly maxFrameCounter?: bigint;
  /** First 32 bits of our LiveKit-format IVs. Default: random per worker (tests fix it). */
  readonly nonceSalt?: number;
}

/** The worker's keys, counters and dispatcher. */
export class CryptorWorker {
  readonly #options: CryptorWorkerOptions;
  readonly #queue = new AsyncQueue('e2ee-worker');
  readonly #own: ParticipantKeyring;
  #ownKeyIndex: number | undefined;
  #format: FrameFormat = 'sframe';
  readonly #nonceSalt: number;
  readonly #senders = new Map<MediaSource, FrameCounters>();
  readonly #peers = new Map<string, PeerRecord>();

  constructor(options: CryptorWorkerOptions) {
    this.#options = options;
    this.#nonceSalt = options.nonceSalt ?? (globalThis.crypto.getRandomValues(new Uint32Array(1))[0] as number);
    this.#own = new ParticipantKeyring(options.maxFrameCounter === undefined ? {} : { maxFrameCounter: options.maxFrameCounter });
  }

  /**
   * Handles one main-thread message: parses it, then applies it after every earlier one. A
   * malformed message or a failed request is reported as an `error` event; resolves either way.
   */
  handle(data: unknown): Promise<void> {
    const parsed = parseWorkerRequest(data);
    if (!parsed.ok) {
      this.#options.post({ kind: 'error', message: `refused message: ${parsed.faults.join('; ')}` });
      return Promise.resolve();
    }
    const request = parsed.value;
    if (request.kind === 'attachStreams') {
      // Not queued: the streams must flow at once, and frames look keys up when they arrive.
      this.#attachStreams(request);
      return Promise.resolve();
    }
    return this.#queue.push(() => this.#apply(request)).catch((error: unknown) => {
      const reason = error instanceof Error ? error.name : 'unknown error';
      this.#options.post({ kind: 'error', message: `${request.kind} failed (${reason})` });
    });
  }

  /** A cryptor for a new transform; `requestKeyFrame` comes from the RTCRtpScriptTransformer if any. */
  createCryptor(options: TransformOptions, requestKeyFrame?: () => void): FrameCryptor {
    const common = {
      kind: options.kind,
      ...(requestKeyFrame ? { requestKeyFrame } : {}),
      ...(this.#options.nowMs ? { nowMs: this.#options.nowMs } : {}),
    };
    if (options.side === 'send') {
      let counters = this.#senders.get(options.source);
      if (!counters) {
        counters = new FrameCounters();
        this.#senders.set(options.source, counters);
      }
      return new FrameCryptor({
        ...common,
        side: 'send',
        senderIndex: SENDER_INDEX_BY_SOURCE[options.source],
        ownKey: () => this.#ownKey(),
        format: () => this.#format,
        nonceSalt: this.#nonceSalt,
        counters,
      });
    }
    const { participantId } = options;
    return new FrameCryptor({ ...common, side: 'receive', peer: () => this.#peer(participantId) });
  }

  /** Current counters and decrypt states. */
  stats(): E2eeStats {
    const dropped = emptyDropCounts();
    let encrypted = 0;
    let decrypted = 0;
    const senders = [...this.#senders].map(([source, counters]) => {
      encrypted += counters.processed;
      addDropCounts(dropped, counters.dropped);
      return { source, senderIndex: SENDER_INDEX_BY_SOURCE[source], ...counters.snapshot() };
    });
    const participants = [...this.#peers.values()].map((peer) => {
      const snapshot = peer.snapshot();
      decrypted += snapshot.audio.processed + snapshot.video.processed;
      addDropCounts(dropped, snapshot.audio.dropped);
      addDropCounts(dropped, snapshot.video.dropped);
      return snapshot;
    });
    return { frameFormat: this.#format, ownKeyIndex: this.#ownKeyIndex, encrypted, decrypted, dropped, senders, participants };
  }

  async #apply(request: Exclude<WorkerRequest, { kind: 'attachStreams' }>): Promise<void> {
    switch (request.kind) {
      case 'setOwnKey':
        await this.#own.set(request.keyIndex, request.key);
        this.#ownKeyIndex = request.keyIndex;
        return;
      case 'setPeerKey': {
        const peer = this.#peer(request.participantId);
        await peer.keyring.set(request.keyIndex, request.key);
        peer.keyArrived();
        return;
      }
      case 'setFrameFormat':
        this.#format = request.format;
        return;
      case 'removePeer':
        this.#peers.get(request.participantId)?.keyring.clear();
        this.#peers.delete(request.participantId);
        return;
      case 'getStats':
        this.#options.post({ kind: 'stats', requestId: request.requestId, stats: this.stats() });
        return;
    }
  }

  #attachStreams(request: Extract<WorkerRequest, { kind: 'attachStreams' }>): void {
    const pipe = this.#options.pipeStreams;
    if (!pipe) {
      this.#options.post({ kind: 'error', message: 'attachStreams is not supported here' });
      return;
    }
    pipe(request.readable, request.writable, this.createCryptor(request.options));
  }

  #ownKey(): OwnKey | undefined {
    const keyIndex = this.#ownKeyIndex;
    if (keyIndex === undefined) return undefined;
    const slot = this.#own.get(keyIndex);
    return slot ? { keyIndex, slot, nextCounter: (kid) => this.#own.nextCounter(kid) } : undefined;
  }

  #peer(participantId: string): PeerRecord {
    let peer = this.#peers.get(participantId);
    if (!peer) {
      peer = new PeerRecord(participantId);
      this.#peers.set(participantId, peer);
    }
    return peer;
  }
}
