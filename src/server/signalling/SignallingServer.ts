// The WebSocket edge: accepts upgrades on `path` of the shared HTTP server
// (the one serving /healthz), requires our versioned subprotocol, bounds frame
// size before anything is parsed (ws maxPayload → close 1009), keeps sessions
// alive with pings, replaces an older session of the same participant, and
// drains on shutdown.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../common/lib/logger.ts';
import type { Admission } from '../auth/Admission.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import { CLOSE_CODES } from '../../common/protocol/closeCodes.ts';
import { PROTOCOL_NAME } from '../../common/protocol/messages.ts';
import { Session, type SessionObserver, type SessionSettings } from './Session.ts';
import type { IceServerInfo } from '../../common/protocol/iceServers.ts';

/** Options of the SignallingServer. */
export interface SignallingServerOptions {
  readonly server: Server;
  /** URL path of the WebSocket endpoint. Default `/ws`. */
  readonly path?: string;
  readonly admission: Admission;
  readonly registry: ConferenceRegistry;
  readonly maxFrameBytes: number;
  readonly pingIntervalMs: number;
  readonly settings: SessionSettings;
  readonly logger: Logger;
  readonly observer?: SessionObserver & { sessionsChanged?(open: number): void };
  /** The client's address behind trusted proxies (src/server/http/clientAddress.ts); default the TCP peer. */
  readonly clientAddress?: (request: IncomingMessage) => string | undefined;
  /** Upgrade paths another edge on the same server answers (left untouched here), e.g. the livekit edge's /rtc. */
  readonly otherEdgePath?: (path: string) => boolean;
  /** TURN relays with fresh credentials for a participant's join reply; absent = none (TurnService off). */
  readonly iceServers?: (participantId: string) => IceServerInfo[];
}

/** Owns every signalling session of this node. */
export class SignallingServer {
  readonly #wss: WebSocketServer;
  readonly #options: SignallingServerOptions;
  readonly #logger: Logger;
  readonly #sessions = new Set<Session>();
  readonly #byParticipant = new Map<string, Session>();
  readonly #alive = new WeakMap<WebSocket, boolean>();
  readonly #pingTimer: NodeJS.Timeout;
  readonly #onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  #draining = false;

  constructor(options: SignallingServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'signalling' });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      // Accept only our protocol version; an absent/unknown one is refused after open with 4008.
      handleProtocols: (protocols) => (protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
    });
    const path = options.path ?? '/ws';
    this.#onUpgrade = (request, socket, head) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== path) {
        if (options.otherEdgePath?.(url.pathname)) return;
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      socket.on('error', (error) => this.#logger.debug('upgrade socket error', { error }));
      this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request, url));
    };
    options.server.on('upgrade', this.#onUpgrade);
    this.#pingTimer = setInterval(() => this.#ping(), options.pingIntervalMs);
    this.#pingTimer.unref();
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Sessions that joined a conference. */
  get joinedCount(): number {
    let count = 0;
    for (const session of this.#sessions) if (session.joined) count++;
    return count;
  }

  /** Refuses new sessions (close 4006) and tells joined ones to move. */
  startDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const session of this.#sessions) session.notify('reconnectRequested', { reason: 'draining' });
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Closes every session with `code`, stops accepting. */
  close(code: number = CLOSE_CODES.GOING_AWAY, reason = 'server shutting down'): void {
    clearInterval(this.#pingTimer);
    this.#options.server.off('upgrade', this.#onUpgrade);
    for (const session of [...this.#sessions]) session.close(code as never, reason);
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }

  #accept(ws: WebSocket, request: IncomingMessage, url: URL): void {
    if (ws.protocol !== PROTOCOL_NAME) {
      ws.close(CLOSE_CODES.UNSUPPORTED_PROTOCOL, `use subprotocol ${PROTOCOL_NAME}`);
      return;
    }
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));
    const session = new Session({
      socket: ws,
      request: { url, headers: request.headers, remoteAddress: this.#options.clientAddress?.(request) ?? request.socket.remoteAddress },
      admission: this.#options.admission,
      registry: this.#options.registry,
      settings: this.#options.settings,
      logger: this.#options.logger,
      ...(this.#options.observer ? { observer: this.#options.observer } : {}),
      isDraining: () => this.#draining,
      ...(this.#options.iceServers ? { iceServers: this.#options.iceServers } : {}),
      onAdmitted: (admitted) => {
        const key = `${admitted.ticket!.conferenceId}\u0000${admitted.ticket!.participantId}`;
        const previous = this.#byParticipant.get(key);
        this.#byParticipant.set(key, admitted);
        previous?.close(CLOSE_CODES.REPLACED, 'replaced by a newer session');
      },
      onClosed: (closed) => {
        this.#sessions.delete(closed);
        const ticket = closed.ticket;
        if (ticket) {
          const key = `${ticket.conferenceId}\u0000${ticket.participantId}`;
          if (this.#byParticipant.get(key) === closed) this.#byParticipant.delete(key);
        }
        this.#options.observer?.sessionsChanged?.(this.#sessions.size);
      },
    });
    this.#sessions.add(session);
    ws.on('close', () => {
      if (this.#sessions.delete(session)) this.#options.observer?.sessionsChanged?.(this.#sessions.size);
    });
    this.#options.observer?.sessionsChanged?.(this.#sessions.size);
  }

  #ping(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      try {
        ws.ping();
      } catch (error) {
        this.#logger.debug('ping failed', { error });
      }
    }
  }
}
