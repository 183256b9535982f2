// The media connection of one call: admission (/sfu/get), one SfuClient at a time, and the
// local tracks the person wants sent, kept so that a new connection re-publishes them.
//
// Recovery: a worker restart is rebuilt by SfuClient itself (`reconnecting`/`reconnected`).
// Every close is looked up in closePolicy.ts: a draining node, a lost socket, a missed pong,
// a closed conference or lost media is rebuilt here (new JWT, new socket, join, re-publish;
// bounded tries with jittered exponential back-off) while the membership stays published; a
// rate-limit close (4003) the same after a longer pause. Every other close ends the call
// (`closed` with a WidgetError SIGNALLING_CLOSED): it means "you may not be here".

import { SfuClient } from '../../client/SfuClient.ts';
import type { LocalPublication } from '../../client/LocalPublication.ts';
import type { ClientLogger } from '../../client/types.ts';
import type { PeerInfo } from '../../../common/protocol/messages.ts';
import { CLOSE_CODES } from '../../../common/protocol/closeCodes.ts';
import { TypedEmitter } from '../../../common/lib/TypedEmitter.ts';
import { WidgetError } from '../errors.ts';
import { ConnectionClosedError } from '../../client/errors.ts';
import { backoffDelayMs, sleep } from '../../client/matrix/retry.ts';
import { admitToSfu } from './admission.ts';
import { closeActionOf, mayReconnect, RECONNECT_PACING, TRY_AGAIN_LATER } from './closePolicy.ts';
import type { CallBackend, E2eeStatusSource } from './types.ts';

/** The close code inside a failed (re)connect, if the server closed it on purpose (not a dropped socket). */
function closeCodeOf(error: unknown): number | undefined {
  const cause = error instanceof WidgetError ? error.cause : error;
  if (cause instanceof ConnectionClosedError && (cause.closeCode >= 4000 || cause.closeCode === TRY_AGAIN_LATER)) return cause.closeCode;
  return error instanceof WidgetError && error.closeCode !== undefined ? error.closeCode : undefined;
}

/** The local sources the call can send. */
export type LocalSource = 'microphone' | 'camera' | 'screen';

/** Events of SfuConnection. */
export type SfuConnectionEvents = {
  /** A (new) client is joined; `peers` are the others already there. */
  joined: [client: SfuClient, peers: readonly PeerInfo[]];
  reconnecting: [];
  reconnected: [];
  /** The connection ended for good (not after close()). */
  closed: [error: WidgetError];
};

/** Options of SfuConnection.open(). */
export interface SfuConnectionOptions {
  readonly backend: CallBackend;
  readonly e2ee: E2eeStatusSource;
  readonly displayName: () => string;
  readonly logger: ClientLogger;
  readonly signal?: AbortSignal;
  /** Progress while connecting (the joining screen). */
  readonly onStatus?: (key: 'status.connectingMedia' | 'status.retrying') => void;
  /** Jitter source (tests). Default Math.random. */
  readonly random?: () => number;
}

interface Wanted {
  readonly track: MediaStreamTrack;
  paused: boolean;
  publication: LocalPublication | undefined;
}

/** One call's media connection. */
export class SfuConnection extends TypedEmitter<SfuConnectionEvents> {
  readonly #options: SfuConnectionOptions;
  readonly #wanted = new Map<LocalSource, Wanted>();
  #client: SfuClient | undefined;
  #closed = false;
  /** The first connect succeeded: progress goes to the call screen's state, no longer to onStatus. */
  #opened = false;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Admits, connects and joins. A refusal that says "later" (rate limited, 1013 while the
   * SFU's Matrix view is stale) is retried with back-off (RECONNECT_PACING.backoff).
   * @throws WidgetError (OPENID_DENIED, ADMISSION_FAILED, SIGNALLING_FAILED).
   */
  static async open(options: SfuConnectionOptions): Promise<SfuConnection> {
    const connection = new SfuConnection(options);
    const pacing = RECONNECT_PACING.backoff;
    for (let attempt = 1; ; attempt++) {
      try {
        await connection.#connect();
        connection.#opened = true;
        return connection;
      } catch (error) {
        const code = closeCodeOf(error);
        if (code === undefined || closeActionOf(code) !== 'backoff' || attempt >= pacing.attempts || options.signal?.aborted) throw error;
        const delay = backoffDelayMs(attempt, { baseMs: pacing.baseMs, maxMs: pacing.maxMs, ...(options.random ? { random: options.random } : {}) });
        options.logger.info('connection refused for now; trying again', { code, delay });
        options.onStatus?.('status.retrying');
        await sleep(delay, options.signal);
      }
    }
  }

  private constructor(options: SfuConnectionOptions) {
    super((event, error) => options.logger.warn('listener threw', { event, error: String(error) }));
    this.#options = options;
  }

  /** The current client (replaced on reconnect). */
  get client(): SfuClient | undefined {
    return this.#client;
  }

  /**
   * Sends `track` as `source` (replacing the previous track of that source), or stops
   * sending it (`undefined`). The caller owns and stops tracks.
   */
  setTrack(source: LocalSource, track: MediaStreamTrack | undefined, paused = false): Promise<void> {
    return this.#serial(async () => {
      const previous = this.#wanted.get(source);
      this.#wanted.delete(source);
      if (previous?.publication && this.#client && !this.#client.closed) await this.#client.unpublish(previous.publication);
      if (!track) return;
      const wanted: Wanted = { track, paused, publication: undefined };
      this.#wanted.set(source, wanted);
      await this.#publish(source, wanted);
    });
  }

  /** Pauses or resumes a source: receivers get consumerPaused / consumerResumed. */
  setPaused(source: LocalSource, paused: boolean): Promise<void> {
    return this.#serial(async () => {
      const wanted = this.#wanted.get(source);
      if (!wanted || wanted.paused === paused) return;
      wanted.paused = paused;
      const client = this.#client;
      if (!wanted.publication || !client || client.closed) return;
      await (paused ? client.pausePublication(wanted.publication) : client.resumePublication(wanted.publication));
    });
  }

  /** Leaves the conference and closes the socket. Idempotent; no `closed` event. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client?.leave();
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #publish(source: LocalSource, wanted: Wanted): Promise<void> {
    const client = this.#client;
    if (!client || client.closed || wanted.track.readyState === 'ended') return;
    wanted.publication = await client.publish(wanted.track, { source, paused: wanted.paused, simulcast: source === 'camera' });
  }

  async #connect(): Promise<void> {
    const { backend, e2ee, signal } = this.#options;
    const access = await admitToSfu({
      sfuServiceUrl: backend.sfuServiceUrl,
      roomId: backend.roomId,
      deviceId: backend.deviceId,
      getOpenIdToken: () => backend.getOpenIdToken(),
      onRetry: () => this.#status('status.retrying'),
      ...(this.#options.random ? { random: this.#options.random } : {}),
      ...(signal ? { signal } : {}),
    });
    this.#status('status.connectingMedia');
    let client: SfuClient;
    let peers: readonly PeerInfo[];
    try {
      client = await SfuClient.connect({
        url: access.url,
        query: { jwt: access.jwt },
        logger: this.#options.logger,
        ...(e2ee.transforms ? { transforms: e2ee.transforms } : {}),
        ...(e2ee.encodedInsertableStreams ? { encodedInsertableStreams: true } : {}),
        ...(e2ee.enabled && e2ee.transforms ? { encryptedMedia: true } : {}),
      });
      ({ peers } = await client.join({ displayName: this.#options.displayName() }).catch(async (error: unknown) => {
        await client.leave();
        throw error;
      }));
    } catch (error) {
      throw new WidgetError('SIGNALLING_FAILED', 'cannot join the conference', { cause: error });
    }
    if (this.#closed) {
      await client.leave();
      return;
    }
    this.#client = client;
    client.on('reconnecting', ({ reason }) => {
      if (reason === 'draining') void this.#recover(client, CLOSE_CODES.DRAINING, 'draining');
      else this.safeEmit('reconnecting');
    });
    client.on('reconnected', () => this.safeEmit('reconnected'));
    client.on('closed', ({ code, reason }) => void this.#recover(client, code, reason));
    this.safeEmit('joined', client, peers);
    for (const [source, wanted] of this.#wanted) {
      await this.#publish(source, wanted).catch((error: unknown) => this.#options.logger.warn('re-publish failed', { source, error: String(error) }));
    }
  }

  /** Joining progress for the joining screen; a reconnect of a joined call shows as `reconnecting` instead. */
  #status(key: 'status.connectingMedia' | 'status.retrying'): void {
    if (!this.#opened) this.#options.onStatus?.(key);
  }

  async #recover(client: SfuClient, code: number, reason: string): Promise<void> {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    if (!client.closed) await client.leave();
    let action = closeActionOf(code);
    if (action === 'end' || action === 'end-quietly') {
      this.safeEmit('closed', new WidgetError('SIGNALLING_CLOSED', `signalling closed (${code})`, { closeCode: code, closeReason: reason }));
      return;
    }
    this.#options.logger.info('reconnecting', { code, reason, action });
    this.safeEmit('reconnecting');
    for (const wanted of this.#wanted.values()) wanted.publication = undefined;
    let lastError: unknown;
    for (let attempt = 1; attempt <= RECONNECT_PACING[action].attempts && !this.#closed; attempt++) {
      const pacing = RECONNECT_PACING[action];
      await sleep(backoffDelayMs(attempt, { baseMs: pacing.baseMs, maxMs: pacing.maxMs, ...(this.#options.random ? { random: this.#options.random } : {}) }));
      if (this.#closed) return;
      try {
        await this.#serial(() => this.#connect());
        this.safeEmit('reconnected');
        return;
      } catch (error) {
        lastError = error;
        this.#options.logger.warn('reconnect failed', { attempt, error: String(error) });
        // The server refused the new connection with a close code: follow that code instead.
        const refusal = closeCodeOf(error);
        if (refusal === undefined) continue;
        if (!mayReconnect(refusal)) {
          this.safeEmit('closed', new WidgetError('SIGNALLING_CLOSED', `signalling closed (${refusal})`, { closeCode: refusal, closeReason: error instanceof WidgetError && error.cause instanceof ConnectionClosedError ? error.cause.reason : '' }));
          return;
        }
        if (closeActionOf(refusal) === 'backoff' && action !== 'backoff') {
          action = 'backoff';
          attempt = 0;
        }
      }
    }
    if (this.#closed) return;
    this.safeEmit('closed', lastError instanceof WidgetError ? lastError : new WidgetError('SIGNALLING_CLOSED', `signalling closed (${code})`, { closeCode: code, closeReason: reason }));
  }
}
