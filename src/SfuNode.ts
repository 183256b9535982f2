// Composition of one SFU node: worker pool → conference registry → signalling
// and HTTP on one server. main.ts builds it from the config; tests build it
// in-process with overrides. Graceful drain: readiness false at once, new
// sessions refused (4006), joined ones told to move, everything closed after
// the grace period.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from './config/types.ts';
import { effectiveWorkerCount } from './config/loadConfig.ts';
import type { Logger } from './lib/logger.ts';
import type { Admission } from './auth/Admission.ts';
import { DevAdmission } from './auth/Admission.ts';
import { WorkerPool } from './media/WorkerPool.ts';
import { routeMediasoupLogs } from './media/mediasoupLogs.ts';
import { ConferenceRegistry } from './conference/ConferenceRegistry.ts';
import { SignallingServer } from './signalling/SignallingServer.ts';
import { createHttpServer, type RouteHandler } from './http/HttpServer.ts';
import { CLOSE_CODES } from './protocol/closeCodes.ts';

/** Directory of the bundled browser client (built by `npm run build:client`). */
export const CLIENT_DIST_DIR = fileURLToPath(new URL('../dist/client/', import.meta.url));

/** Options of SfuNode.start(). */
export interface SfuNodeOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Admission; default DevAdmission when config.auth.mode is 'none'. */
  readonly admission?: Admission;
  /** Extra HTTP routes. */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
}

/** A running SFU node. */
export class SfuNode {
  readonly config: Config;
  readonly pool: WorkerPool;
  readonly registry: ConferenceRegistry;
  readonly signalling: SignallingServer;
  readonly server: Server;
  readonly #logger: Logger;
  #draining = false;
  #stopped = false;

  /** Starts workers, then the HTTP/WebSocket server; resolves once listening. */
  static async start(options: SfuNodeOptions): Promise<SfuNode> {
    const { config, logger } = options;
    routeMediasoupLogs(logger, config.log.level === 'debug' ? 'debug' : 'warn');
    const admission = options.admission ?? (config.auth.mode === 'none' ? new DevAdmission() : undefined);
    if (!admission) throw new Error(`auth.mode ${config.auth.mode} needs an admission implementation`);
    if (admission.mode === 'none') {
      logger.warn(
        'AUTH DISABLED: auth.mode is "none"; anyone who can reach this server may join any conference. Development only.',
        { component: 'main' },
      );
    }
    const pool = await WorkerPool.create({
      numWorkers: effectiveWorkerCount(config),
      listenIp: config.media.listenIp,
      announcedAddress: config.media.announcedAddress,
      basePort: config.media.basePort,
      workerLogLevel: config.media.workerLogLevel,
      logger,
    });
    try {
      return await new Promise<SfuNode>((resolve, reject) => {
        const node = new SfuNode(options, admission, pool);
        node.server.once('error', reject);
        node.server.listen(config.server.port, config.server.host, () => {
          node.server.off('error', reject);
          resolve(node);
        });
      });
    } catch (error) {
      pool.close();
      throw error;
    }
  }

  private constructor(options: SfuNodeOptions, admission: Admission, pool: WorkerPool) {
    this.config = options.config;
    this.#logger = options.logger.child({ component: 'node' });
    this.pool = pool;
    this.registry = new ConferenceRegistry({
      pool,
      conference: {
        maxParticipants: this.config.conference.maxParticipants,
        maxProducersPerParticipant: this.config.conference.maxProducersPerParticipant,
        initialAvailableOutgoingBitrate: this.config.media.initialAvailableOutgoingBitrate,
        maxIncomingBitrate: this.config.media.maxIncomingBitrate,
        activeSpeakerIntervalMs: this.config.media.activeSpeakerIntervalMs,
      },
      logger: options.logger,
    });
    const staticDirs: Array<readonly [string, string]> = [];
    if (existsSync(CLIENT_DIST_DIR)) staticDirs.push(['/demo/', CLIENT_DIST_DIR]);
    this.server = createHttpServer({
      logger: options.logger,
      readiness: [
        () => (this.#draining ? 'draining' : undefined),
        () => (this.pool.slots.length === 0 ? 'no mediasoup worker up' : undefined),
      ],
      ...(options.routes ? { routes: options.routes } : {}),
      staticDirs,
    });
    this.signalling = new SignallingServer({
      server: this.server,
      admission,
      registry: this.registry,
      maxFrameBytes: this.config.signalling.maxFrameBytes,
      pingIntervalMs: this.config.signalling.pingIntervalMs,
      settings: this.config.signalling,
      logger: options.logger,
    });
  }

  /** Port the server listens on (useful with server.port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** ws:// URL of the signalling endpoint on the bound address. */
  get wsUrl(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `ws://${host}:${address.port}/ws`;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Graceful drain: readiness false at once, new sessions refused, joined
   * sessions told to move; after `gracePeriodMs` everything is stopped.
   */
  async drain(gracePeriodMs = this.config.drain.gracePeriodMs): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#logger.info('draining', { gracePeriodMs, sessions: this.signalling.sessionCount });
    this.signalling.startDrain();
    const deadline = Date.now() + gracePeriodMs;
    while (Date.now() < deadline && this.signalling.joinedCount > 0) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(1, deadline - Date.now()))));
    }
    await this.stop(CLOSE_CODES.DRAINING, 'server draining');
  }

  /** Closes sessions, conferences, workers and the server. Idempotent. */
  async stop(code: number = CLOSE_CODES.GOING_AWAY, reason = 'server shutting down'): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.signalling.close(code, reason);
    this.registry.close();
    this.pool.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.#logger.info('stopped');
  }
}
