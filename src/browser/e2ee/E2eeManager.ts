// The main-thread E2EE manager (livekit client-sdk-js `E2eeManager` shape): owns the frame
// transform worker, gives SfuClient the hooks that attach a transform to every sender and
// receiver before negotiation, restricts codecs to the ones SFrame can carry, hands out the
// KeyProvider that key distribution feeds, and turns the worker's stats into per-participant
// decrypt states (keys present / waiting / failing) and counters.
//
// Usage:
//   const e2ee = new E2eeManager({ worker: new Worker(url) });
//   const client = await SfuClient.connect({ url, ...e2ee.clientOptions() });
//   keyManager.start(e2ee.keyProvider);

import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { E2EE_CODEC_MIME_TYPES } from '../../common/e2ee/codecPrefix.ts';
import type { DecryptState, E2eeStats, FrameFormat, TransformOptions, WorkerRequest } from './worker/types.ts';
import { E2eeError } from './errors.ts';
import { KeyProvider } from './KeyProvider.ts';
import type {
  E2eeLogger,
  E2eeManagerEvents,
  E2eeManagerOptions,
  E2eeTransforms,
  E2eeWorkerPort,
  ScriptTransformConstructor,
  TransformTarget,
} from './types.ts';

const DEFAULT_STATS_TIMEOUT_MS = 5000;

const consoleLogger: E2eeLogger = {
  debug: () => undefined,
  warn: (message, fields) => console.warn(`[e2ee] ${message}`, fields ?? ''),
};

interface PendingStats {
  readonly resolve: (stats: E2eeStats) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

function globalScriptTransform(): ScriptTransformConstructor | undefined {
  return (globalThis as unknown as { RTCRtpScriptTransform?: ScriptTransformConstructor }).RTCRtpScriptTransform;
}

function probeEncodedStreams(): boolean {
  const sender = (globalThis as unknown as { RTCRtpSender?: { prototype: object } }).RTCRtpSender;
  return sender !== undefined && 'createEncodedStreams' in sender.prototype;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** E2EE for one SfuClient: transforms, keys and decrypt state. */
export class E2eeManager extends TypedEmitter<E2eeManagerEvents> {
  /** Give this to key distribution: it forwards keys to the worker. */
  readonly keyProvider: KeyProvider;
  /** The transform mode in use (never `auto`). */
  readonly mode: 'script-transform' | 'encoded-streams';
  readonly #worker: E2eeWorkerPort;
  readonly #scriptTransform: ScriptTransformConstructor | undefined;
  readonly #logger: E2eeLogger;
  readonly #statsTimeoutMs: number;
  readonly #pending = new Map<number, PendingStats>();
  readonly #states = new Map<string, DecryptState>();
  #nextRequestId = 1;
  #frameFormat: FrameFormat = 'sframe';
  #lastStats: E2eeStats | undefined;
  #closed = false;

  /**
   * @throws E2eeError `UNSUPPORTED` when the browser offers no transform for the chosen mode.
   */
  constructor(options: E2eeManagerOptions) {
    const logger = options.logger ?? consoleLogger;
    super((event, error) => logger.warn('e2ee listener threw', { event, error: String(error) }));
    this.#logger = logger;
    this.#worker = options.worker;
    this.#statsTimeoutMs = options.statsTimeoutMs ?? DEFAULT_STATS_TIMEOUT_MS;
    this.#scriptTransform = options.scriptTransform ?? globalScriptTransform();
    const encodedStreams = options.encodedStreamsSupported ?? probeEncodedStreams();
    const wanted = options.mode ?? 'auto';
    if (wanted === 'script-transform' || (wanted === 'auto' && this.#scriptTransform)) {
      if (!this.#scriptTransform) throw new E2eeError('UNSUPPORTED', 'RTCRtpScriptTransform is not available');
      this.mode = 'script-transform';
    } else {
      if (!encodedStreams) throw new E2eeError('UNSUPPORTED', 'this browser cannot transform encoded frames');
      this.mode = 'encoded-streams';
    }
    this.keyProvider = new KeyProvider(this.#worker, logger);
    this.#worker.addEventListener('message', (event) => this.#onMessage(event.data));
  }

  /** Hooks for SfuClient's `transforms`: each attaches a transform before negotiation. */
  get transforms(): E2eeTransforms {
    return {
      sender: (sender, info) => this.#attach(sender, { side: 'send', kind: info.kind, source: info.source }),
      receiver: (receiver, info) =>
        this.#attach(receiver, { side: 'receive', kind: info.kind, source: info.source, participantId: info.participantId }),
    };
  }

  /**
   * Spread into SfuClient.connect() options: the hooks, `encodedInsertableStreams` for the
   * fallback mode, `encryptedMedia` (each produce says it is encrypted), and the codecs E2EE allows (codecPrefix.ts: Opus, VP8, VP9; never H.264),
   * so we neither publish nor subscribe to a codec whose frames we cannot encrypt.
   */
  clientOptions(): { transforms: E2eeTransforms; encodedInsertableStreams: boolean; encryptedMedia: true; codecMimeTypes: readonly string[] } {
    return { transforms: this.transforms, encodedInsertableStreams: this.mode === 'encoded-streams', encryptedMedia: true, codecMimeTypes: E2EE_CODEC_MIME_TYPES };
  }

  /** The format our senders write (receivers read both). */
  get frameFormat(): FrameFormat {
    return this.#frameFormat;
  }

  /**
   * Our senders write `format` from their next frame on: `livekit` while the call has an Element
   * Call member, else `sframe` (frameFormat.ts chooseFrameFormat). Receivers read both formats
   * whatever this says. No-op when unchanged or closed.
   */
  setFrameFormat(format: FrameFormat): void {
    if (this.#closed || format === this.#frameFormat) return;
    this.#frameFormat = format;
    this.#logger.debug('frame format changed', { format });
    this.#post({ kind: 'setFrameFormat', format });
  }

  /** The latest stats the worker sent (about once a second), if any. */
  get lastStats(): E2eeStats | undefined {
    return this.#lastStats;
  }

  /** Fresh stats: the worker answers after every key message sent before this call. */
  getStats(): Promise<E2eeStats> {
    if (this.#closed) return Promise.reject(new E2eeError('CLOSED', 'e2ee closed'));
    const requestId = this.#nextRequestId++;
    return new Promise<E2eeStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new E2eeError('TIMEOUT', `e2ee worker sent no stats within ${this.#statsTimeoutMs} ms`));
      }, this.#statsTimeoutMs);
      this.#pending.set(requestId, { resolve, reject, timer });
      this.#post({ kind: 'getStats', requestId });
    });
  }

  /** A participant's decrypt state as of the last stats; `waiting` before any. */
  decryptState(participantId: string): DecryptState {
    return this.#states.get(participantId) ?? 'waiting';
  }

  /** Terminates the worker (every transform stops passing frames) and rejects pending getStats(). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.keyProvider.close();
    this.#worker.terminate();
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new E2eeError('CLOSED', 'e2ee closed'));
    }
    this.#pending.clear();
    this.removeAllListeners();
  }

  /**
   * Throws rather than leave a sender or receiver without a transform: an untransformed sender
   * would send media in clear. SfuClient then fails the publish or the subscription.
   */
  #attach(target: TransformTarget, options: TransformOptions): void {
    if (this.#closed) throw new E2eeError('CLOSED', 'e2ee closed');
    if (this.mode === 'script-transform') {
      const ScriptTransform = this.#scriptTransform as ScriptTransformConstructor;
      target.transform = new ScriptTransform(this.#worker, options);
      return;
    }
    if (typeof target.createEncodedStreams !== 'function') {
      throw new E2eeError('UNSUPPORTED', 'createEncodedStreams() is missing (is encodedInsertableStreams set?)');
    }
    const { readable, writable } = target.createEncodedStreams();
    this.#post({ kind: 'attachStreams', options, readable, writable }, [readable, writable]);
  }

  #post(request: WorkerRequest, transfer: unknown[] = []): void {
    this.#worker.postMessage(request, transfer);
  }

  #onMessage(data: unknown): void {
    if (!isRecord(data)) return;
    if (data['kind'] === 'error') {
      this.#logger.warn('e2ee worker reported a failure', { message: String(data['message']) });
      return;
    }
    if (data['kind'] !== 'stats' || !isRecord(data['stats'])) {
      this.#logger.debug('ignored a worker message', { kind: String(data['kind']) });
      return;
    }
    // Our own worker's message, built by CryptorWorker.stats(); the shape is checked loosely.
    const stats = data['stats'] as unknown as E2eeStats;
    this.#lastStats = stats;
    const requestId = data['requestId'];
    const pending = typeof requestId === 'number' ? this.#pending.get(requestId) : undefined;
    if (pending) {
      this.#pending.delete(requestId as number);
      clearTimeout(pending.timer);
      pending.resolve(stats);
    }
    this.#updateStates(stats);
    this.safeEmit('stats', stats);
  }

  #updateStates(stats: E2eeStats): void {
    const seen = new Set<string>();
    for (const participant of Array.isArray(stats.participants) ? stats.participants : []) {
      seen.add(participant.participantId);
      if (this.#states.get(participant.participantId) === participant.state) continue;
      this.#states.set(participant.participantId, participant.state);
      this.safeEmit('decryptStateChanged', { participantId: participant.participantId, state: participant.state });
    }
    for (const participantId of [...this.#states.keys()]) if (!seen.has(participantId)) this.#states.delete(participantId);
  }
}
