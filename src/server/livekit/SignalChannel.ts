// The signalling socket of one LiveKit session, replaceable: livekit-client resumes a dropped
// socket by connecting again with `reconnect=1`, and the session lives on across the swap.
// This collaborator owns the current socket (its listeners, sends, the ping-timeout watch) and
// the grace period between an unexpected drop and either a resume (attach()) or its expiry.
// Events of a replaced socket are ignored, so a late close of the old one cannot end the session.

import type { WebSocket } from 'ws';
import type { SignalResponse } from '@livekit/protocol';
import type { Logger } from '../../common/lib/logger.ts';
import { encodeResponse } from './wire.ts';

/** Options of a SignalChannel. */
export interface SignalChannelOptions {
  readonly socket: WebSocket;
  readonly pingIntervalS: number;
  readonly pingTimeoutS: number;
  readonly logger: Logger;
  readonly onFrame: (data: Buffer, isBinary: boolean) => void;
  /** The current socket closed without the session closing it (client vanished, network, ping timeout). */
  readonly onDropped: () => void;
  /** A grace period started by hold() ran out without a resume. */
  readonly onGraceExpired: () => void;
}

/** One session's current signalling socket. */
export class SignalChannel {
  readonly #options: SignalChannelOptions;
  readonly #log: Logger;
  #socket: WebSocket | undefined;
  #lastPingMs = Date.now();
  #pingWatch: NodeJS.Timeout | undefined;
  #grace: NodeJS.Timeout | undefined;
  #droppedAtMs: number | undefined;
  #closed = false;

  constructor(options: SignalChannelOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#use(options.socket);
  }

  /** Whether a socket is attached (false during a grace period). */
  get attached(): boolean {
    return this.#socket !== undefined;
  }

  /** When the last socket dropped (performance.now()), while detached. */
  get droppedAtMs(): number | undefined {
    return this.#droppedAtMs;
  }

  /** A ping arrived: the link is alive. */
  touch(): void {
    this.#lastPingMs = Date.now();
  }

  /** Sends one response on the current socket; nothing while detached or closed. */
  send(message: SignalResponse['message']): void {
    const socket = this.#socket;
    if (this.#closed || !socket || socket.readyState !== socket.OPEN) return;
    socket.send(encodeResponse(message), { binary: true }, (error) => {
      if (error) this.#log.debug('livekit send failed', { error });
    });
  }

  /** Starts the grace period after a drop; onGraceExpired runs unless attach() comes first. */
  hold(graceMs: number): void {
    if (this.#closed || this.#socket) return;
    clearTimeout(this.#grace);
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      if (!this.#closed && !this.#socket) this.#options.onGraceExpired();
    }, graceMs);
    this.#grace.unref();
  }

  /** Attaches a new socket (a resume); a still-open previous socket is closed without ending anything. */
  attach(socket: WebSocket): void {
    if (this.#closed) return;
    clearTimeout(this.#grace);
    this.#grace = undefined;
    const previous = this.#socket;
    this.#use(socket);
    if (previous) this.#closeSocket(previous, 1000, 'replaced by a resumed connection');
  }

  /** Closes the current socket and stops every timer; later sends are dropped. Idempotent. */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#grace);
    clearInterval(this.#pingWatch);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) this.#closeSocket(socket, code, reason);
  }

  #use(socket: WebSocket): void {
    this.#socket = socket;
    this.#droppedAtMs = undefined;
    this.#lastPingMs = Date.now();
    socket.on('message', (data, isBinary) => {
      if (this.#socket === socket) this.#options.onFrame(data as Buffer, isBinary);
    });
    socket.on('close', () => this.#onClose(socket));
    socket.on('error', (error) => this.#log.debug('livekit socket error', { error }));
    clearInterval(this.#pingWatch);
    const { pingIntervalS, pingTimeoutS } = this.#options;
    this.#pingWatch = setInterval(() => {
      if (this.#socket !== socket || Date.now() - this.#lastPingMs <= pingTimeoutS * 1000) return;
      this.#log.info('livekit client stopped pinging');
      socket.terminate();
    }, pingIntervalS * 1000);
    this.#pingWatch.unref();
  }

  #onClose(socket: WebSocket): void {
    if (this.#closed || this.#socket !== socket) return;
    this.#socket = undefined;
    this.#droppedAtMs = performance.now();
    clearInterval(this.#pingWatch);
    this.#pingWatch = undefined;
    this.#options.onDropped();
  }

  #closeSocket(socket: WebSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason.slice(0, 120));
    } catch (error) {
      this.#log.debug('socket close failed', { error });
    }
  }
}
