// One WebSocket connection: admission first (frames that arrive meanwhile wait
// in order), then each frame is bounded, parsed, rate limited and dispatched
// to its handler. Faults are answered with stable error codes; repeated abuse
// closes the socket with a documented code. Nothing here can throw into ws.

import type { WebSocket } from 'ws';
import { SfuError, errorMessage } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { Admission, AdmissionRequest, AdmissionTicket, EvictionReason } from '../auth/Admission.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import type { ParticipantSink } from '../conference/types.ts';
import { fromMediasoupError } from '../media/errors.ts';
import { CLOSE_CODES, type CloseCode } from '../../common/protocol/closeCodes.ts';
import type { NotificationDataMap, NotificationName } from '../../common/protocol/messages.ts';
import { ERROR_TABLE } from './errorTable.ts';
import { HANDLERS, type HandlerContext } from './handlers.ts';
import { parseRequest, peekRequestId } from './parseFrame.ts';
import { RateLimiter } from './RateLimiter.ts';

/** Settings of one session (from config.signalling). */
export interface SessionSettings {
  readonly ratePerSecond: number;
  readonly rateBurst: number;
  readonly maxProtocolFaults: number;
  readonly joinTimeoutMs: number;
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
  #faults = 0;
  #rateStrikes = 0;
  #closed = false;
  #unwatch: (() => void) | undefined;
  #joinTimer: NodeJS.Timeout | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#socket = options.socket;
    this.#logger = options.logger.child({ component: 'signalling', remote: options.request.remoteAddress });
    this.#limiter = new RateLimiter(options.settings.ratePerSecond, options.settings.rateBurst);
    this.#socket.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    this.#socket.on('close', (code) => this.#onSocketClosed(code));
    this.#socket.on('error', (error) => this.#logger.debug('socket error', { error }));
    this.#joinTimer = setTimeout(() => {
      if (!this.#context?.joined) this.close(CLOSE_CODES.TIMEOUT, 'join timeout');
    }, options.settings.joinTimeoutMs);
    this.#ready = this.#admit();
  }

  /** The admitted identity, once known. */
  get ticket(): AdmissionTicket | undefined {
    return this.#ticket;
  }

  get joined(): boolean {
    return this.#context?.joined === true;
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
      const sink: ParticipantSink = { notify: (method, data) => this.notify(method, data) };
      this.#context = {
        ticket,
        registry: this.#options.registry,
        sink,
        conference: undefined,
        joined: false,
        requestClose: () => setImmediate(() => this.close(CLOSE_CODES.NORMAL, 'left')),
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
    this.close(CLOSE_CODES.EVICTED, `evicted: ${reason}`);
  }

  #onFrame(data: unknown, isBinary: boolean): void {
    if (this.#closed) return;
    // Frames wait for admission; `then` callbacks on one promise run in registration order.
    void this.#ready.then((context) => {
      if (!context || this.#closed) return;
      return this.#handleFrame(context, data, isBinary);
    });
  }

  async #handleFrame(context: HandlerContext, data: unknown, isBinary: boolean): Promise<void> {
    if (!this.#limiter.take()) {
      this.#rateStrikes++;
      this.#options.observer?.request('unknown', 'error', 'RATE_LIMITED', 0);
      this.#reply(null, new SfuError('RATE_LIMITED', 'rate limited'), 'ratelimit');
      if (this.#rateStrikes > this.#options.settings.rateBurst) this.close(CLOSE_CODES.RATE_LIMITED, 'rate limit exceeded');
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
      if (this.#closed && context.joined) {
        // The socket closed while this join was in flight: undo it.
        context.joined = false;
        void context.conference
          ?.leave(context.ticket.participantId, 'disconnected')
          .catch((error: unknown) => this.#logger.debug('late leave failed', { error }));
      }
      this.#send({ type: 'response', id: request.id, ok: true, data: result });
      this.#options.observer?.request(request.method, 'ok', undefined, performance.now() - started);
    } catch (thrown) {
      const mapped = thrown instanceof SfuError ? thrown : fromMediasoupError(thrown);
      const failure = mapped ?? new SfuError('INTERNAL', 'internal error', { cause: thrown });
      if (!mapped) this.#logger.error('request failed unexpectedly', { method: request.method, error: thrown });
      this.#options.observer?.request(request.method, 'error', failure.code, performance.now() - started);
      if (ERROR_TABLE[failure.code].fault) this.#fault(request.id, failure, request.method);
      else this.#reply(request.id, failure, request.method);
    }
  }

  #fault(id: number | null, error: SfuError, what: string): void {
    this.#faults++;
    this.#reply(id, error, what);
    if (this.#faults > this.#options.settings.maxProtocolFaults) {
      this.#logger.warn('closing abusive session', { faults: this.#faults });
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
    const context = this.#context;
    if (context?.joined && context.conference) {
      context.joined = false;
      context.conference
        .leave(context.ticket.participantId, 'disconnected')
        .catch((error: unknown) => this.#logger.debug('leave after close failed', { error }));
    }
    if (this.#context) {
      this.#context = undefined;
      this.#options.onClosed(this);
    }
  }
}
