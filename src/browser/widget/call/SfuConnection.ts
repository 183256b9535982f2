// The media connection of one call: admission (/sfu/get), one SfuClient at a time, and the
// local tracks the person wants sent, kept so that a new connection re-publishes them.
//
// Recovery: a worker restart is rebuilt by SfuClient itself (`reconnecting`/`reconnected`).
// A draining node (`reconnectRequested {reason: 'draining'}`) still works while we move, so
// the move is make-before-break: new JWT, new socket, join and publish first, then switch
// the call to the new connection once it receives what the old one did (or the old one
// closed, bounded by HANDOVER_MAX_MS), and only then leave the old one; the old one's own
// close (4005 replaced, 4006 at the end of the grace period) is expected, not a failure.
// Every close is looked up in closePolicy.ts: a draining node, a lost socket, a missed pong,
// a closed conference or lost media is rebuilt here (new JWT, new socket, join, re-publish;
// jittered exponential back-off, tries for up to RECONNECT_BUDGET_MS: a dead node's rooms
// move only once its registry record expires) while the membership stays published; a
// rate-limit close (4003) the same after a longer pause. A definite refusal (the token
// endpoint's 4xx, no OpenID token, a close code that ends the call) stops at once. Every
// other close ends the call (`closed` with a WidgetError SIGNALLING_CLOSED): it means "you
// may not be here".

import { SfuClient } from '../../client/SfuClient.ts';
import type { LocalPublication } from '../../client/LocalPublication.ts';
import type { ClientLogger } from '../../client/types.ts';
import type { RemoteTrack } from '../../client/types.ts';
import type { PeerInfo } from '../../../common/protocol/messages.ts';
import { CLOSE_CODES } from '../../../common/protocol/closeCodes.ts';
import { TypedEmitter } from '../../../common/lib/TypedEmitter.ts';
import { WidgetError } from '../errors.ts';
import { ConnectionClosedError } from '../../client/errors.ts';
import { backoffDelayMs, sleep } from '../../client/matrix/retry.ts';
import { MatrixRequestError } from '../../client/matrix/matrixCall.ts';
import { admitToSfu } from './admission.ts';
import { closeActionOf, mayReconnect, reconnectDelayMs, RECONNECT_PACING, TRY_AGAIN_LATER } from './closePolicy.ts';
import type { CallBackend, E2eeStatusSource } from './types.ts';

/** The close code inside a failed (re)connect, if the server closed it on purpose (not a dropped socket). */
function closeCodeOf(error: unknown): number | undefined {
  const cause = error instanceof WidgetError ? error.cause : error;
  if (cause instanceof ConnectionClosedError && (cause.closeCode >= 4000 || cause.closeCode === TRY_AGAIN_LATER)) return cause.closeCode;
  return error instanceof WidgetError && error.closeCode !== undefined ? error.closeCode : undefined;
}

/**
 * Whether a failed (re)connect is a definite refusal that no retry changes: no OpenID token,
 * or the token endpoint refused with a 4xx other than 408/429 (not a member, bad request).
 */
function refusedForGood(error: unknown): boolean {
  if (!(error instanceof WidgetError)) return false;
  if (error.code === 'OPENID_DENIED') return true;
  const status = error.code === 'ADMISSION_FAILED' && error.cause instanceof MatrixRequestError ? error.cause.status : 0;
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Longest a draining node's connection is kept after the new one joined, waiting for the new
 * one to receive (and decode the video of) every track the old one receives. Well below the
 * drain grace period (30 s by default).
 */
export const HANDOVER_MAX_MS = 6000;
/** How often the handover checks whether the new connection caught up. */
const HANDOVER_POLL_MS = 100;

/** Whether `next` receives every track `old` does: audio present, unpaused video decoding. */
function caughtUp(old: readonly RemoteTrack[], next: readonly RemoteTrack[], decoding: ReadonlySet<string>): boolean {
  return old.every((wanted) =>
    next.some((track) => track.participantId === wanted.participantId && track.source === wanted.source && track.kind === wanted.kind && (track.kind === 'audio' || track.producerPaused || decoding.has(track.consumerId))),
  );
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
  /** On the current client. */
  publication: LocalPublication | undefined;
  /** On the client a handover prepares (make-before-break). */
  nextPublication: LocalPublication | undefined;
}

/** A make-before-break move away from a draining node. */
interface Handover {
  readonly old: SfuClient;
  /** The new client once joined (its tracks are published on it). */
  next: SfuClient | undefined;
  /** How the old client closed meanwhile, if it did. */
  oldClosed: { code: number; reason: string } | undefined;
}

/** One call's media connection. */
export class SfuConnection extends TypedEmitter<SfuConnectionEvents> {
  readonly #options: SfuConnectionOptions;
  readonly #wanted = new Map<LocalSource, Wanted>();
  #client: SfuClient | undefined;
  #handover: Handover | undefined;
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
   * sending it (`undefined`). The caller owns and stops tracks. During a handover both
   * connections follow.
   */
  setTrack(source: LocalSource, track: MediaStreamTrack | undefined, paused = false): Promise<void> {
    return this.#serial(async () => {
      const previous = this.#wanted.get(source);
      this.#wanted.delete(source);
      const next = this.#handover?.next;
      if (previous?.publication && this.#client && !this.#client.closed) await this.#client.unpublish(previous.publication);
      if (previous?.nextPublication && next && !next.closed) await next.unpublish(previous.nextPublication);
      if (!track) return;
      const wanted: Wanted = { track, paused, publication: undefined, nextPublication: undefined };
      this.#wanted.set(source, wanted);
      wanted.publication = await this.#publishOn(this.#client, source, wanted);
      if (next) wanted.nextPublication = await this.#publishOn(next, source, wanted);
    });
  }

  /** Pauses or resumes a source: receivers get consumerPaused / consumerResumed. */
  setPaused(source: LocalSource, paused: boolean): Promise<void> {
    return this.#serial(async () => {
      const wanted = this.#wanted.get(source);
      if (!wanted || wanted.paused === paused) return;
      wanted.paused = paused;
      const pairs: Array<[SfuClient | undefined, LocalPublication | undefined]> = [[this.#client, wanted.publication], [this.#handover?.next, wanted.nextPublication]];
      for (const [client, publication] of pairs) {
        if (!publication || !client || client.closed) continue;
        await (paused ? client.pausePublication(publication) : client.resumePublication(publication));
      }
    });
  }

  /** Leaves the conference and closes the socket. Idempotent; no `closed` event. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const next = this.#handover?.next;
    await Promise.all([this.#client?.leave(), next?.leave()]);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Publishes `wanted` on `client`; undefined when there is nothing to send there. */
  async #publishOn(client: SfuClient | undefined, source: LocalSource, wanted: Wanted): Promise<LocalPublication | undefined> {
    if (!client || client.closed || wanted.track.readyState === 'ended') return undefined;
    return client.publish(wanted.track, { source, paused: wanted.paused, simulcast: source === 'camera' });
  }

  /** Admission, socket and join: a joined client, not yet the call's. @throws WidgetError */
  async #dial(): Promise<{ client: SfuClient; peers: readonly PeerInfo[] }> {
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
    try {
      const client = await SfuClient.connect({
        url: access.url,
        query: { jwt: access.jwt },
        logger: this.#options.logger,
        ...(e2ee.transforms ? { transforms: e2ee.transforms } : {}),
        ...(e2ee.encodedInsertableStreams ? { encodedInsertableStreams: true } : {}),
        ...(e2ee.enabled && e2ee.transforms ? { encryptedMedia: true } : {}),
      });
      const { peers } = await client.join({ displayName: this.#options.displayName() }).catch(async (error: unknown) => {
        await client.leave();
        throw error;
      });
      return { client, peers };
    } catch (error) {
      throw new WidgetError('SIGNALLING_FAILED', 'cannot join the conference', { cause: error });
    }
  }

  /** Connects a new client, makes it the call's and publishes the wanted tracks on it. */
  async #connect(): Promise<void> {
    const { client, peers } = await this.#dial();
    if (this.#closed) {
      await client.leave();
      return;
    }
    this.#adopt(client, peers);
    for (const [source, wanted] of this.#wanted) {
      wanted.publication = await this.#publishOn(client, source, wanted).catch((error: unknown) => {
        this.#options.logger.warn('re-publish failed', { source, error: String(error) });
        return undefined;
      });
    }
  }

  /** Makes `client` the call's: its events drive recovery, and the UI follows it. */
  #adopt(client: SfuClient, peers: readonly PeerInfo[]): void {
    this.#client = client;
    client.on('reconnecting', ({ reason }) => {
      if (reason === 'draining') void this.#handOver(client);
      else if (this.#client === client) this.safeEmit('reconnecting');
    });
    client.on('reconnected', () => {
      if (this.#client === client) this.safeEmit('reconnected');
    });
    client.on('closed', ({ code, reason }) => void this.#recover(client, code, reason));
    this.safeEmit('joined', client, peers);
  }

  /** Joining progress for the joining screen; a reconnect of a joined call shows as `reconnecting` instead. */
  #status(key: 'status.connectingMedia' | 'status.retrying'): void {
    if (!this.#opened) this.#options.onStatus?.(key);
  }

  /**
   * Make-before-break move off a draining node: join elsewhere and publish there while `old`
   * still carries the call, switch once the new client caught up (or `old` closed, or
   * HANDOVER_MAX_MS passed), then leave `old`. If the new connection cannot be made, the
   * ordinary reconnect (leave, then connect) takes over.
   */
  async #handOver(old: SfuClient): Promise<void> {
    if (this.#closed || this.#client !== old || this.#handover) return;
    const handover: Handover = { old, next: undefined, oldClosed: undefined };
    this.#handover = handover;
    this.#options.logger.info('node draining: joining elsewhere before leaving');
    let next: SfuClient;
    let decoding: Set<string>;
    try {
      ({ next, decoding } = await this.#serial(async () => {
        const { client } = await this.#dial();
        // Registered at once: the first frames of the new consumers may decode before the switch.
        const seen = new Set<string>();
        client.on('firstMedia', ({ consumerId }) => seen.add(consumerId));
        handover.next = client;
        for (const [source, wanted] of this.#wanted) {
          wanted.nextPublication = await this.#publishOn(client, source, wanted).catch((error: unknown) => {
            this.#options.logger.warn('publishing on the new connection failed', { source, error: String(error) });
            return undefined;
          });
        }
        return { next: client, decoding: seen };
      }));
    } catch (error) {
      this.#options.logger.warn('joining elsewhere before leaving the draining node failed; reconnecting', { error: String(error) });
      this.#endHandover(handover);
      await handover.next?.leave();
      const closed = this.#fallbackClose(handover);
      await this.#recover(old, closed.code, closed.reason);
      return;
    }
    const deadline = Date.now() + HANDOVER_MAX_MS;
    while (!this.#closed && !old.closed && !next.closed && Date.now() < deadline && !caughtUp(old.remoteTracks, next.remoteTracks, decoding)) {
      await sleep(HANDOVER_POLL_MS);
    }
    await this.#serial(async () => {
      const switching = !this.#closed && !next.closed;
      this.#endHandover(handover, switching);
      if (this.#closed) return next.leave();
      const closed = handover.oldClosed;
      if (!switching) {
        this.#options.logger.warn('the new connection closed before the switch; reconnecting');
        const fallback = this.#fallbackClose(handover);
        return void this.#recover(old, fallback.code, fallback.reason);
      }
      // Leave first: the old client then emits nothing more into the UI, which follows `next`.
      this.#client = undefined;
      await old.leave();
      if (closed && closeActionOf(closed.code) === 'end') {
        // Evicted or refused while moving: the new connection does not change that.
        await next.leave();
        this.safeEmit('closed', new WidgetError('SIGNALLING_CLOSED', `signalling closed (${closed.code})`, { closeCode: closed.code, closeReason: closed.reason }));
        return;
      }
      this.#adopt(next, next.peers);
      this.#options.logger.info('moved off the draining node', { oldClosed: closed?.code });
    });
  }

  /**
   * The close a failed handover recovers from: an ending close of the old connection (4004)
   * stands; anything else (still open, 4005 because our new session showed up elsewhere,
   * 4006) is a draining node to reconnect from, never a quiet end.
   */
  #fallbackClose(handover: Handover): { code: number; reason: string } {
    const closed = handover.oldClosed;
    return closed && closeActionOf(closed.code) === 'end' ? closed : { code: CLOSE_CODES.DRAINING, reason: 'draining' };
  }

  /** Ends the handover; publications on its new client are forgotten unless `keep` (the switch). */
  #endHandover(handover: Handover, keep = false): void {
    if (this.#handover === handover) this.#handover = undefined;
    for (const wanted of this.#wanted.values()) {
      if (keep) wanted.publication = wanted.nextPublication;
      wanted.nextPublication = undefined;
    }
  }

  async #recover(client: SfuClient, code: number, reason: string): Promise<void> {
    if (this.#closed || this.#client !== client) return;
    if (this.#handover?.old === client) {
      // Expected during a move (4005 once our new session shows up, 4006 at the grace period's end).
      this.#handover.oldClosed = { code, reason };
      this.#options.logger.info('the draining connection closed during the move', { code, reason });
      return;
    }
    this.#client = undefined;
    if (!client.closed) await client.leave();
    let action = closeActionOf(code);
    if (action === 'end' || action === 'end-quietly') {
      this.safeEmit('closed', new WidgetError('SIGNALLING_CLOSED', `signalling closed (${code})`, { closeCode: code, closeReason: reason }));
      return;
    }
    this.#options.logger.info('reconnecting', { code, reason, action });
    this.safeEmit('reconnecting');
    for (const wanted of this.#wanted.values()) {
      wanted.publication = undefined;
      wanted.nextPublication = undefined;
    }
    const startedAt = Date.now();
    let lastError: unknown;
    for (let attempt = 1; !this.#closed; attempt++) {
      const delay = reconnectDelayMs(action, attempt, Date.now() - startedAt, this.#options.random);
      if (delay === undefined) break;
      await sleep(delay);
      if (this.#closed) return;
      try {
        await this.#serial(() => this.#connect());
        this.safeEmit('reconnected');
        return;
      } catch (error) {
        lastError = error;
        this.#options.logger.warn('reconnect failed', { attempt, elapsedMs: Date.now() - startedAt, error: String(error) });
        if (refusedForGood(error)) break;
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
