// One WebSocket connection: admission first (frames that arrive meanwhile wait
// in order, bounded in count and bytes), then each frame is bounded, parsed,
// rate limited and dispatched to its handler. Faults are answered with stable
// error codes; faults and rate-limit strikes decay over time, and only abuse
// faster than that decay closes the socket with a documented code. Once
// joined, the participant handle tells the session every end (replaced,
// conference closed, media lost), and the session closes with its code.
// Nothing here can throw into ws.

import type { WebSocket } from 'ws';
import { SfuError, errorMessage } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { Admission, AdmissionRequest, AdmissionTicket, EvictionReason } from '../auth/Admission.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import { fromMediasoupError } from '../media/errors.ts';
import { CLOSE_CODES, type CloseCode } from '../../common/protocol/closeCodes.ts';
import type { NotificationDataMap, NotificationName } from '../../common/protocol/messages.ts';
import { ERROR_TABLE } from './errorTable.ts';
import { HANDLERS, type HandlerContext } from './handlers.ts';
import type { IceServerInfo } from '../../common/protocol/iceServers.ts';
import { closeCodeFor, forwardNotifications } from './notifications.ts';
import { DecayingCounter } from './DecayingCounter.ts';
import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import { parseRequest, peekRequestId } from './parseFrame.ts';
import { RateLimiter } from './RateLimiter.ts';

/** Default of SessionSettings.faultDecayMs. */
export const DEFAULT_FAULT_DECAY_MS = 10_000;
/** Default of SessionSettings.maxPendingFrames. */
export const DEFAULT_MAX_PENDING_FRAMES = 16;
/** Default of SessionSettings.maxPendingBytes. */
export const DEFAULT_MAX_PENDING_BYTES = 262_144;

function frameBytes(data: unknown): number {
  if (Buffer.isBuffer(data)) return data.length;
  if (Array.isArray(data)) return data.reduce((sum: number, part: Buffer) => sum + part.length, 0);
  if (data instanceof ArrayBuffer) return data.byteLength;
  return String(data).length;
}

/** Settings of one session (from config.signalling). */
export interface SessionSettings {
  readonly ratePerSecond: number;
  readonly rateBurst: number;
  readonly maxProtocolFaults: number;
  readonly joinTimeoutMs: number;
  /** One protocol fault or rate-limit strike is forgiven per this many ms. Default 10 000. */
  readonly faultDecayMs?: number;
  /** Frames that may wait for admission; more close the socket with 4003. Default 16. */
  readonly maxPendingFrames?: number;
  /** Bytes of frames that may wait for admission; more close the socket with 4003. Default 262 144. */
  readonly maxPendingBytes?: number;
}

/** Monitoring hooks of a session (metrics). */
export interface SessionObserver {
  request(method: string, outcome: 'ok' | 'error', code: string | undefined, durationMs: number): void;
  closed(code: number): void;
}

/** Options of a Session. */
export interface SessionOptions {
  readonly socket: WebSocket;
  readonly request: AdmissionRequest;
  readonly admission: Admission;
  readonly registry: ConferenceRegistry;
  readonly settings: SessionSettings;
  readonly logger: Logger;
  readonly observer?: SessionObserver;
  /** Called once admitted; returns false to refuse (e.g. draining). */
  readonly onAdmitted: (session: Session) => void;
  readonly onClosed: (session: Session) => void;
  readonly isDraining: () => boolean;
  /** TURN relays with fresh credentials for a participant, put in its join reply (TurnService). */
  readonly iceServers?: (participantId: string) => IceServerInfo[];
}

/** Server side of one signalling connection. */
export class Session {
  readonly #socket: WebSocket;
  readonly #options: SessionOptions;
  readonly #limiter: RateLimiter;
  readonly #ready: Promise<HandlerContext | undefined>;
  #logger: Logger;
  #ticket: AdmissionTicket | undefined;
  #context: HandlerContext | undefined;
  readonly #faults: DecayingCounter;
  readonly #rateStrikes: DecayingCounter;
  #pendingFrames = 0;
  #pendingBytes = 0;
  #closed = false;
  #unwatch: (() => void) | undefined;
  #joinTimer: NodeJS.Timeout | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#socket = options.socket;
    this.#logger = options.logger.child({ component: 'signalling', remote: options.request.remoteAddress });
    this.#limiter = new RateLimiter(options.settings.ratePerSecond, options.settings.rateBurst);
    this.#faults = new DecayingCounter(options.settings.faultDecayMs ?? DEFAULT_FAULT_DECAY_MS);
    this.#rateStrikes = new DecayingCounter(options.settings.faultDecayMs ?? DEFAULT_FAULT_DECAY_MS);
    this.#socket.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    this.#socket.on('close', (code) => this.#onSocketClosed(code));
    this.#socket.on('error', (error) => this.#logger.debug('socket error', { error }));
    this.#joinTimer = setTimeout(() => {
      if (!this.#context?.handle) this.close(CLOSE_CODES.TIMEOUT, 'join timeout');
    }, options.settings.joinTimeoutMs);
    this.#ready = this.#admit();
  }

  /** The admitted identity, once known. */
  get ticket(): AdmissionTicket | undefined {
    return this.#ticket;
  }

  get joined(): boolean {
    const handle = this.#context?.handle;
    return handle !== undefined && !handle.closed;
  }

  /** Sends a notification if the socket is open. */
  notify<N extends NotificationName>(method: N, data: NotificationDataMap[N]): void {
    this.#send({ type: 'notification', method, data });
  }

  /** Leaves the conference (if joined) and closes the socket with `code`. Idempotent. */
  close(code: CloseCode, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#logger.debug('closing session', { code, reason });
    try {
      this.#socket.close(code, reason.slice(0, 120));
    } catch (error) {
      this.#logger.debug('socket close failed', { error });
      this.#socket.terminate();
    }
    this.#teardown();
  }

  async #admit(): Promise<HandlerContext | undefined> {
    try {
      if (this.#options.isDraining()) throw new SfuError('DRAINING', 'server is draining');
      const ticket = await this.#options.admission.admit(this.#options.request);
      if (this.#closed) return undefined;
      this.#ticket = ticket;
      this.#logger = this.#logger.child({ conferenceId: ticket.conferenceId, participantId: ticket.participantId });
      this.#context = {
        ticket,
        registry: this.#options.registry,
        handle: undefined,
        attach: (handle) => this.#attach(handle),
        requestClose: () => setImmediate(() => this.close(CLOSE_CODES.NORMAL, 'left')),
        ...(this.#options.iceServers ? { iceServers: this.#options.iceServers } : {}),
      };
      this.#unwatch = ticket.watch?.((reason: EvictionReason) => this.evict(reason));
      this.#options.onAdmitted(this);
      this.#logger.debug('session admitted');
      return this.#context;
    } catch (error) {
      const code = error instanceof SfuError ? error.code : 'UNAUTHORIZED';
      this.#logger.info('session refused', { code, reason: errorMessage(error) });
      this.close(ERROR_TABLE[code].closeCode ?? CLOSE_CODES.UNAUTHORIZED, ERROR_TABLE[code].message);
      return undefined;
    }
  }

  /** Ends the session because its membership ended. */
  evict(reason: EvictionReason): void {
    this.#logger.info('participant evicted', { reason });
    this.#context?.handle?.close('evicted');
    this.close(CLOSE_CODES.EVICTED, `evicted: ${reason}`);
  }

  /** Listens to the participant's handle: notifications to the client, and every end of it. */
  #attach(handle: ParticipantHandle): void {
    forwardNotifications(handle, (method, data) => this.notify(method, data));
    handle.on('close', (reason) => {
      const code = closeCodeFor(reason);
      if (code === undefined || this.#closed) return;
      this.#logger.info('participant ended by the conference', { reason, code });
      this.close(code, reason);
    });
    // The socket closed while this join was in flight: undo it.
    if (this.#closed) handle.close('disconnected');
  }

  #onFrame(data: unknown, isBinary: boolean): void {
    if (this.#closed) return;
    if (this.#context === undefined) {
      // Before admission frames wait, bounded: a client has no reason to send more than a few.
      const bytes = frameBytes(data);
      this.#pendingFrames++;
      this.#pendingBytes += bytes;
      const settings = this.#options.settings;
      if (
        this.#pendingFrames > (settings.maxPendingFrames ?? DEFAULT_MAX_PENDING_FRAMES) ||
        this.#pendingBytes > (settings.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES)
      ) {
        this.#logger.warn('too many frames before admission; closing', { frames: this.#pendingFrames, bytes: this.#pendingBytes });
        this.close(CLOSE_CODES.RATE_LIMITED, 'too many frames before admission');
        return;
      }
      // Frames wait for admission; `then` callbacks on one promise run in registration order.
      void this.#ready.then((context) => {
        this.#pendingFrames--;
        this.#pendingBytes -= bytes;
        if (!context || this.#closed) return;
        return this.#handleFrame(context, data, isBinary);
      });
      return;
    }
    void this.#handleFrame(this.#context, data, isBinary);
  }

  async #handleFrame(context: HandlerContext, data: unknown, isBinary: boolean): Promise<void> {
    if (!this.#limiter.take()) {
      const strikes = this.#rateStrikes.add();
      this.#options.observer?.request('unknown', 'error', 'RATE_LIMITED', 0);
      this.#reply(null, new SfuError('RATE_LIMITED', 'rate limited'), 'ratelimit');
      if (strikes > this.#options.settings.rateBurst) {
        this.#logger.warn('closing session over the rate limit', { strikes: Math.floor(strikes) });
        this.close(CLOSE_CODES.RATE_LIMITED, 'rate limit exceeded');
      }
      return;
    }
    if (isBinary) {
      this.#options.observer?.request('unknown', 'error', 'BAD_FRAME', 0);
      this.#fault(null, new SfuError('BAD_FRAME', 'binary frames are not accepted'), 'binary');
      return;
    }
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : String(data);
    const { raw, request, error } = parseRequest(text);
    if (!request) {
      this.#options.observer?.request('unknown', 'error', error!.code, 0);
      this.#fault(peekRequestId(raw), error!, 'parse');
      return;
    }
    const started = performance.now();
    try {
      const handler = HANDLERS[request.method] as (ctx: HandlerContext, data: unknown) => Promise<unknown>;
      const result = await handler(context, request.data);
      // The socket closed while this join was in flight: undo it.
      if (this.#closed) context.handle?.close('disconnected');
      this.#send({ type: 'response', id: request.id, ok: true, data: result });
      this.#options.observer?.request(request.method, 'ok', undefined, performance.now() - started);
    } catch (thrown) {
      const mapped = thrown instanceof SfuError ? thrown : fromMediasoupError(thrown);
      const failure = mapped ?? new SfuError('INTERNAL', 'internal error', { cause: thrown });
      if (!mapped) this.#logger.error('request failed unexpectedly', { method: request.method, error: thrown });
      else if (failure.code === 'INTERNAL') this.#logger.warn('request failed', { method: request.method, error: failure.message });
      this.#options.observer?.request(request.method, 'error', failure.code, performance.now() - started);
      if (ERROR_TABLE[failure.code].fault) this.#fault(request.id, failure, request.method);
      else this.#reply(request.id, failure, request.method);
    }
  }

  #fault(id: number | null, error: SfuError, what: string): void {
    const faults = this.#faults.add();
    this.#reply(id, error, what);
    if (faults > this.#options.settings.maxProtocolFaults) {
      this.#logger.warn('closing abusive session', { faults: Math.floor(faults) });
      this.close(CLOSE_CODES.PROTOCOL_ABUSE, 'too many protocol errors');
    }
  }

  #reply(id: number | null, error: SfuError, what: string): void {
    // Client mistakes are logged at debug, never error: the fault is the client's; the detail stays here.
    this.#logger.debug('request refused', { what, code: error.code, detail: error.message });
    this.#send({ type: 'response', id, ok: false, error: { code: error.code, message: ERROR_TABLE[error.code].message } });
  }

  #send(frame: unknown): void {
    if (this.#closed || this.#socket.readyState !== this.#socket.OPEN) return;
    try {
      this.#socket.send(JSON.stringify(frame));
    } catch (error) {
      this.#logger.debug('send failed', { error });
    }
  }

  #onSocketClosed(code: number): void {
    this.#options.observer?.closed(code);
    this.#closed = true;
    this.#teardown();
  }

  #teardown(): void {
    if (this.#joinTimer) clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#context?.handle?.close('disconnected');
    if (this.#context) {
      this.#context = undefined;
      this.#options.onClosed(this);
    }
  }
}
