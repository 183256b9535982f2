// The livekit edge's HTTP surface on the node's shared server:
// - WebSocket upgrades at /rtc (two-PeerConnection mode), admitted before the
//   upgrade completes: a refused token gets an HTTP 401 (livekit-client then asks
//   /rtc/validate for the reason), an unready node 503;
// - /rtc/validate: the same checks without spending the token (200 or 401, CORS);
// - /rtc/v1 and /rtc/v1/validate: 404 with CORS headers, which is what makes
//   livekit-client 2.x fall back from single-PeerConnection mode to /rtc (without
//   the CORS headers the browser reports "Failed to fetch" and the client gives up);
// - /delegate_delayed_leave: 404 with CORS headers (Element Call's probe: "no delegation").
// The same four paths also answer under the native signalling path (`/ws/rtc`, ...):
// /sfu/get replies with the native URL `…/ws`, and Element Call in its default
// ("compatibility") mode takes its publishing token from /sfu/get and hands that URL to
// livekit-client, which appends /rtc.
// Frames are bounded by ws maxPayload before any decoding.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../common/lib/logger.ts';
import { errorMessage } from '../../common/lib/errors.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import type { RouteHandler } from '../http/HttpServer.ts';
import { AdmissionError, REFUSAL_TABLE } from '../auth/errors.ts';
import { DisconnectReason, LeaveRequest, LeaveRequest_Action } from '@livekit/protocol';
import { encodeResponse } from './wire.ts';
import type { LiveKitAdmission } from './LiveKitAdmission.ts';
import { LiveKitSession } from './LiveKitSession.ts';
import type { LiveKitSessionSettings } from './policy.ts';
import { TrackDirectory } from './TrackDirectory.ts';
import { DataRelay, type DataRelayObserver } from './DataRelay.ts';
import type { DelayedLeaveKeeper } from './DelayedLeaveKeeper.ts';

/** Paths of the livekit edge. */
export const LIVEKIT_PATHS = { rtc: '/rtc', validate: '/rtc/validate', v1: '/rtc/v1', v1Validate: '/rtc/v1/validate' } as const;

/** The native signalling path: /sfu/get's `url`, under which livekit-client may also land (`/ws/rtc`). */
const NATIVE_URL_PATH = '/ws';

/** The edge path a request path names: itself, or with the native `/ws` prefix removed from `/ws/rtc…`. */
function edgePath(path: string): string {
  return path.startsWith(`${NATIVE_URL_PATH}${LIVEKIT_PATHS.rtc}`) ? path.slice(NATIVE_URL_PATH.length) : path;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type',
};

/** Options of the LiveKitServer. */
export interface LiveKitServerOptions {
  readonly server: Server;
  readonly registry: ConferenceRegistry;
  /** The current admission (undefined until admission started: answered 503). */
  readonly admission: () => LiveKitAdmission | undefined;
  readonly settings: LiveKitSessionSettings;
  readonly logger: Logger;
  /** Whether the node refuses new sessions (draining). */
  readonly isDraining?: () => boolean;
  readonly observer?: { sessionsChanged?(open: number): void; resume?(outcome: 'resumed' | 'expired'): void } & DataRelayObserver;
  /** Keeps delegated delayed leaves alive while their member is connected. */
  readonly keeper?: DelayedLeaveKeeper;
}

function tokenOf(request: IncomingMessage): string | null {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const header = request.headers['authorization'];
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7);
  return url.searchParams.get('access_token');
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  const body = Buffer.from(text);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Service Unavailable'}\r\n` +
      `Access-Control-Allow-Origin: *\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/** Owns every LiveKit session of this node. */
export class LiveKitServer {
  readonly directory = new TrackDirectory();
  /** Data packets between the LiveKit sessions of each conference. */
  readonly dataRelay: DataRelay;
  readonly #options: LiveKitServerOptions;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Set<LiveKitSession>();
  readonly #onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

  /** Delegated delayed leaves (from /get_token). */
  readonly keeper: DelayedLeaveKeeper | undefined;

  constructor(options: LiveKitServerOptions) {
    this.#options = options;
    this.keeper = options.keeper;
    this.dataRelay = new DataRelay(options.observer);
    this.#log = options.logger.child({ component: 'livekit' });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.settings.maxFrameBytes, perMessageDeflate: false });
    this.#onUpgrade = (request, socket, head) => {
      const path = edgePath(new URL(request.url ?? '/', 'http://localhost').pathname);
      if (path === LIVEKIT_PATHS.v1) {
        refuseUpgrade(socket, 404, 'single peer connection mode is not supported; use /rtc');
        return;
      }
      if (path !== LIVEKIT_PATHS.rtc) return;
      socket.on('error', (error) => this.#log.debug('upgrade socket error', { error }));
      this.#upgrade(request, socket, head).catch((error: unknown) => {
        this.#log.warn('livekit upgrade failed', { error: errorMessage(error) });
        socket.destroy();
      });
    };
    options.server.on('upgrade', this.#onUpgrade);
  }

  /** Whether `path` is an upgrade path of this edge (the native edge leaves it alone). */
  static ownsUpgradePath(path: string): boolean {
    const own = edgePath(path);
    return own === LIVEKIT_PATHS.rtc || own === LIVEKIT_PATHS.v1;
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** HTTP routes: validate (both modes), each also under the native `/ws` prefix. */
  routes(): Map<string, RouteHandler> {
    const notFound: RouteHandler = (request, response) => {
      if (request.method === 'OPTIONS') return this.#send(response, 204, '');
      this.#send(response, 404, 'single peer connection mode is not supported; use /rtc');
    };
    const validate: RouteHandler = async (request, response) => {
      if (request.method === 'OPTIONS') return this.#send(response, 204, '');
      const admission = this.#options.admission();
      if (!admission) return this.#send(response, 503, 'not ready');
      try {
        await admission.validate(tokenOf(request));
        this.#send(response, 200, 'success');
      } catch (error) {
        const refusal = error instanceof AdmissionError ? error : new AdmissionError('jwt_malformed', 'unexpected', { cause: error });
        const status = REFUSAL_TABLE[refusal.reason].status === 503 ? 503 : 401;
        this.#log.debug('livekit validate refused', { reason: refusal.reason });
        this.#send(response, status, REFUSAL_TABLE[refusal.reason].message);
      }
    };
    // Element Call probes `POST {focus}/delegate_delayed_leave` without credentials and reads a
    // 404 as "no delegation"; with CORS headers the browser hands it the 404 instead of a CORS
    // failure. Delegation here is the delay_* fields of /get_token.
    const noDelegationEndpoint: RouteHandler = (request, response) => {
      if (request.method === 'OPTIONS') return this.#send(response, 204, '');
      this.#send(response, 404, 'no delegate_delayed_leave endpoint; delegate with the delay_* fields of /get_token');
    };
    const routes: Array<[string, RouteHandler]> = [
      [LIVEKIT_PATHS.validate, validate],
      [LIVEKIT_PATHS.v1Validate, notFound],
      [LIVEKIT_PATHS.v1, notFound],
    ];
    const map = new Map(routes.flatMap(([path, handler]): Array<[string, RouteHandler]> => [[path, handler], [`${NATIVE_URL_PATH}${path}`, handler]]));
    map.set('/delegate_delayed_leave', noDelegationEndpoint);
    return map;
  }

  /** Closes every session (LeaveRequest first) and stops accepting. */
  close(): void {
    this.#options.server.off('upgrade', this.#onUpgrade);
    for (const session of [...this.#sessions]) session.end(DisconnectReason.SERVER_SHUTDOWN);
    this.#options.keeper?.close();
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
  }

  #send(response: ServerResponse, status: number, text: string): void {
    response.writeHead(status, { ...CORS, 'content-type': 'text/plain', 'cache-control': 'no-store' });
    response.end(text);
  }

  /** The open session a resume names (`sid`, when given, must match). */
  #resumable(conferenceId: string, participantId: string, sid: string | null): LiveKitSession | undefined {
    for (const session of this.#sessions) {
      if (session.closed || session.ticket.conferenceId !== conferenceId || session.ticket.participantId !== participantId) continue;
      if (sid && session.sid !== sid) continue;
      return session;
    }
    return undefined;
  }

  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const admission = this.#options.admission();
    if (!admission || this.#options.isDraining?.()) {
      refuseUpgrade(socket, 503, 'not ready');
      return;
    }
    let ticket;
    try {
      ticket = await admission.admit(tokenOf(request));
    } catch (error) {
      const refusal = error instanceof AdmissionError ? error : undefined;
      if (!refusal) this.#log.warn('livekit admission failed', { error: errorMessage(error) });
      const status = refusal && REFUSAL_TABLE[refusal.reason].status === 503 ? 503 : 401;
      refuseUpgrade(socket, status, refusal ? REFUSAL_TABLE[refusal.reason].message : 'not authorised');
      return;
    }
    if (socket.destroyed) {
      ticket.closed(false);
      return;
    }
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    if (query.get('reconnect') === '1') {
      // A resume: the session held since its socket dropped (same conference, identity and
      // sid) takes the new socket. Without one (grace over, never joined) the client is told
      // to reconnect fully (a new join with the same token, which LiveKitAdmission allows).
      const held = this.#resumable(ticket.conferenceId, ticket.participantId, query.get('sid'));
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        if (held?.resume(ws, ticket)) return;
        ws.send(encodeResponse({ case: 'leave', value: new LeaveRequest({ canReconnect: true, reason: DisconnectReason.STATE_MISMATCH, action: LeaveRequest_Action.RECONNECT }) }));
        ws.close(1000, 'resume not supported: reconnect');
        ticket.closed(false);
      });
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      const stopKeeping = this.#options.keeper?.connected(ticket.conferenceId, ticket.identity);
      const session = new LiveKitSession({
        socket: ws,
        ticket,
        registry: this.#options.registry,
        directory: this.directory,
        dataRelay: this.dataRelay,
        settings: this.#options.settings,
        logger: this.#options.logger,
        onResume: (outcome) => this.#options.observer?.resume?.(outcome),
        onClosed: (closed) => {
          // A member gone for good gets its delegated delayed leave sent now (as lk-jwt-service
          // does), not after the delay runs out; any other end only stops the restarts.
          stopKeeping?.({ sendNow: closed.goneForGood });
          this.#sessions.delete(closed);
          this.#options.observer?.sessionsChanged?.(this.#sessions.size);
        },
      });
      this.#sessions.add(session);
      this.#options.observer?.sessionsChanged?.(this.#sessions.size);
    });
  }
}
