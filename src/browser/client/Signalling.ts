// The client end of one signalling WebSocket (protocol v1): opens it with our
// versioned subprotocol, correlates requests with responses by id (each with
// its own timeout), turns error responses into RequestError carrying the wire
// code, and re-emits notifications. Outgoing data is checked against the same
// catalogue the server parses with, so a bad request fails here, with every
// fault listed, instead of as a vague BAD_REQUEST from the server.

import { PROTOCOL_NAME, REQUESTS, WIRE_ERROR_CODES } from '../../common/protocol/messages.ts';
import { jwtSubprotocol } from '../../common/protocol/admission.ts';
import type {
  NotificationDataMap,
  NotificationName,
  RequestData,
  RequestMethod,
  ResponseDataMap,
  WireErrorCode,
} from '../../common/protocol/messages.ts';
import { parseWith } from '../../common/protocol/schema.ts';
import { CLOSE_CODES } from '../../common/protocol/closeCodes.ts';
import { ConnectionClosedError, RequestError, RequestTimeoutError, SfuClientError } from './errors.ts';
import { Emitter } from './events.ts';
import { defaultLogger, type ClientLogger } from './types.ts';

/** Options of Signalling.open(). */
export interface SignallingOptions {
  /** Full ws:// or wss:// URL, query included. */
  readonly url: string;
  /** WebSocket subprotocols offered. Default `[PROTOCOL_NAME]`. */
  readonly protocols?: readonly string[];
  /** How long a request may wait for its response. Default 10 000 ms; longer hides a dead server longer. */
  readonly requestTimeoutMs?: number;
  /** How long opening the socket may take. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Log sink. Default: warnings to the console. */
  readonly logger?: ClientLogger;
}

/** A notification as received: its name and data, correlated by type. */
export type AnyNotification = { [N in NotificationName]: { method: N; data: NotificationDataMap[N] } }[NotificationName];

/** Events of Signalling. */
export type SignallingEvents = {
  notification: [notification: AnyNotification];
  closed: [event: { code: number; reason: string }];
};

// Every notification name of protocol v1; `satisfies` keeps it complete.
const NOTIFICATION_NAMES = new Set(
  Object.keys({
    peerJoined: true,
    peerLeft: true,
    consumerCreated: true,
    consumerClosed: true,
    consumerPaused: true,
    consumerResumed: true,
    consumerLayersChanged: true,
    consumerScore: true,
    producerClosed: true,
    activeSpeaker: true,
    reconnectRequested: true,
  } satisfies Record<NotificationName, true>),
);

const WIRE_CODES = new Set<string>(WIRE_ERROR_CODES);

interface Pending {
  readonly method: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: SfuClientError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One signalling connection. */
export class Signalling extends Emitter<SignallingEvents> {
  readonly #socket: WebSocket;
  readonly #requestTimeoutMs: number;
  readonly #logger: ClientLogger;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: { code: number; reason: string } | undefined;

  /** Opens the socket; rejects with ConnectionClosedError (code CONNECT_FAILED) if it does not open. */
  static open(options: SignallingOptions): Promise<Signalling> {
    const protocols = [...(options.protocols ?? [PROTOCOL_NAME])];
    // The admission JWT travels as an offered subprotocol, not in the URL that proxies log.
    const url = new URL(options.url);
    const jwt = url.searchParams.get('jwt');
    url.searchParams.delete('jwt');
    const offered = jwt ? [...protocols, jwtSubprotocol(jwt)] : protocols;
    const socket = new WebSocket(url.toString(), offered);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        socket.close();
        // 1006: the RFC 6455 code for a connection that ended without a close frame.
        reject(new ConnectionClosedError(1006, 'connect timeout', 'CONNECT_FAILED'));
      }, options.connectTimeoutMs ?? 10_000);
      const onOpen = (): void => {
        cleanup();
        if (!protocols.includes(socket.protocol)) {
          socket.close(1000);
          reject(new ConnectionClosedError(CLOSE_CODES.UNSUPPORTED_PROTOCOL, 'no common subprotocol', 'CONNECT_FAILED'));
          return;
        }
        resolve(new Signalling(socket, options.requestTimeoutMs ?? 10_000, options.logger ?? defaultLogger));
      };
      const onClose = (event: CloseEvent): void => {
        cleanup();
        reject(new ConnectionClosedError(event.code, event.reason, 'CONNECT_FAILED'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.removeEventListener('open', onOpen);
        socket.removeEventListener('close', onClose);
      };
      socket.addEventListener('open', onOpen);
      socket.addEventListener('close', onClose);
    });
  }

  private constructor(socket: WebSocket, requestTimeoutMs: number, logger: ClientLogger) {
    super();
    this.#socket = socket;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#logger = logger;
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('close', (event) => this.#onClose(event.code, event.reason));
  }

  /** Whether the socket has closed (or close() was called). */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Sends a request and resolves with the response data. Rejects with
   * RequestError (the server's wire code), RequestTimeoutError, or
   * ConnectionClosedError; with SfuClientError BAD_REQUEST when `data` does
   * not match the protocol catalogue (nothing is sent then).
   */
  request<M extends RequestMethod>(method: M, data: RequestData<M>, timeoutMs = this.#requestTimeoutMs): Promise<ResponseDataMap[M]> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError(this.#closed.code, this.#closed.reason));
    const parsed = parseWith(REQUESTS[method], data);
    if (!parsed.ok) {
      return Promise.reject(new SfuClientError('BAD_REQUEST', `${method}: ${parsed.faults.join('; ')}`));
    }
    const id = this.#nextId++;
    return new Promise<ResponseDataMap[M]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (data: unknown) => void, reject, timer });
      try {
        this.#socket.send(JSON.stringify({ type: 'request', id, method, data: parsed.value }));
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new SfuClientError('CONNECTION_CLOSED', `${method}: send failed`, { cause: error }));
      }
    });
  }

  /** Closes the socket (idempotent); outstanding requests reject with ConnectionClosedError. */
  close(code: number = CLOSE_CODES.NORMAL, reason = ''): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // An invalid application code (not 1000 or 3000-4999) throws: fall back to a plain close.
      this.#socket.close();
    }
    this.#onClose(code, reason);
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') return this.#protocolFault('binary frame');
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      return this.#protocolFault('frame is not JSON');
    }
    if (typeof frame !== 'object' || frame === null) return this.#protocolFault('frame is not an object');
    const record = frame as Record<string, unknown>;
    if (record['type'] === 'notification') {
      const method = record['method'];
      const data = record['data'];
      if (typeof method !== 'string' || !NOTIFICATION_NAMES.has(method) || typeof data !== 'object' || data === null) {
        // An unknown notification is a newer server's: ignore it rather than fail (forward compatibility).
        return;
      }
      this.safeEmit('notification', { method, data } as AnyNotification);
      return;
    }
    if (record['type'] !== 'response') return this.#protocolFault('unknown frame type');
    const id = record['id'];
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) {
      // id null: the server could not read our frame's id. Nothing to correlate.
      if (id === null) this.#logger.warn('server refused a frame', { error: record['error'] });
      return;
    }
    this.#pending.delete(id as number);
    clearTimeout(pending.timer);
    if (record['ok'] === true) {
      pending.resolve(record['data'] ?? {});
      return;
    }
    const error = (record['error'] ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof error.code === 'string' && WIRE_CODES.has(error.code) ? (error.code as WireErrorCode) : 'INTERNAL';
    pending.reject(new RequestError(pending.method, code, typeof error.message === 'string' ? error.message : 'request failed'));
  }

  #protocolFault(what: string): void {
    this.#logger.warn('ignoring a server frame', { what });
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = { code, reason };
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(code, reason));
    }
    this.#pending.clear();
    this.safeEmit('closed', { code, reason });
  }
}
