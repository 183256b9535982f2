// The generator's end of one signalling WebSocket (protocol v1), for Node: Node's own
// WebSocket with subprotocol matrix-sfu.v1, request/response correlation by id with a
// deadline each, outgoing data checked against the protocol catalogue (as the browser
// client does), error responses as the browser client's RequestError with the wire code,
// and notifications handed to one listener. The browser client's Signalling class is not
// reused because its module graph needs DOM types (MediaStreamTrack) Node lacks.

import { PROTOCOL_NAME, REQUESTS, WIRE_ERROR_CODES, type NotificationDataMap, type NotificationName, type RequestData, type RequestMethod, type ResponseDataMap, type WireErrorCode } from '../../src/common/protocol/messages.ts';
import { parseWith } from '../../src/common/protocol/schema.ts';
import { ConnectionClosedError, RequestError, RequestTimeoutError, SfuClientError } from '../../src/browser/client/errors.ts';

/** A notification as received. */
export type LoadNotification = { [N in NotificationName]: { method: N; data: NotificationDataMap[N] } }[NotificationName];

interface Pending {
  readonly method: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const WIRE_CODES = new Set<string>(WIRE_ERROR_CODES);

/** One signalling connection of a synthetic participant. */
export class LoadSignalling {
  readonly #socket: WebSocket;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: { code: number; reason: string } | undefined;
  onNotification: (notification: LoadNotification) => void = () => undefined;
  onClosed: (code: number, reason: string) => void = () => undefined;

  /** Opens the socket; rejects with ConnectionClosedError when it closes or times out first. */
  static open(url: string, timeoutMs: number): Promise<LoadSignalling> {
    const socket = new WebSocket(url, [PROTOCOL_NAME]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.close();
        reject(new ConnectionClosedError(1006, 'connect timeout', 'CONNECT_FAILED'));
      }, timeoutMs);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(new LoadSignalling(socket, timeoutMs));
      }, { once: true });
      socket.addEventListener('close', (event) => {
        clearTimeout(timer);
        reject(new ConnectionClosedError(event.code, event.reason, 'CONNECT_FAILED'));
      }, { once: true });
    });
  }

  private constructor(socket: WebSocket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('close', (event) => this.#onClose(event.code, event.reason));
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Sends a request; resolves with the reply data, rejects with RequestError (wire code), a timeout or a close. */
  request<M extends RequestMethod>(method: M, data: RequestData<M>, timeoutMs = this.#timeoutMs): Promise<ResponseDataMap[M]> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError(this.#closed.code, this.#closed.reason));
    const parsed = parseWith(REQUESTS[method], data);
    if (!parsed.ok) return Promise.reject(new SfuClientError('BAD_REQUEST', `${method}: ${parsed.faults.join('; ')}`));
    const id = this.#nextId++;
    return new Promise<ResponseDataMap[M]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RequestTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (data: unknown) => void, reject, timer });
      this.#socket.send(JSON.stringify({ type: 'request', id, method, data: parsed.value }));
    });
  }

  close(code = 1000): void {
    if (this.#closed) return;
    this.#socket.close(code);
    this.#onClose(code, '');
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return;
    }
    if (frame['type'] === 'notification') {
      if (typeof frame['method'] === 'string' && typeof frame['data'] === 'object' && frame['data'] !== null) {
        this.onNotification({ method: frame['method'], data: frame['data'] } as LoadNotification);
      }
      return;
    }
    const id = frame['id'];
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (!pending) return;
    this.#pending.delete(id as number);
    clearTimeout(pending.timer);
    if (frame['ok'] === true) {
      pending.resolve(frame['data'] ?? {});
      return;
    }
    const error = (frame['error'] ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof error.code === 'string' && WIRE_CODES.has(error.code) ? (error.code as WireErrorCode) : 'INTERNAL';
    pending.reject(new RequestError(pending.method, code, typeof error.message === 'string' ? error.message : 'request failed'));
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = { code, reason };
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(code, reason));
    }
    this.#pending.clear();
    this.onClosed(code, reason);
  }
}
