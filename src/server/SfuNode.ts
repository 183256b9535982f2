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
import { effectiveWorkerCount, pipeAnnouncedAddress, pipeListenIp } from './config/loadConfig.ts';
import type { Logger } from '../common/lib/logger.ts';
import { DevAdmission, type Admission } from './auth/Admission.ts';
import { SfuError } from '../common/lib/errors.ts';
import { maxSyncLagMs, startMatrixAdmission, type MatrixAdmissionStack } from './matrix/startMatrixAdmission.ts';
import { WorkerPool } from './media/WorkerPool.ts';
import { routeMediasoupLogs } from './media/mediasoupLogs.ts';
import { watchIoUring } from './media/ioUring.ts';
import { WorkerLoadMonitor } from './media/WorkerLoadMonitor.ts';
import { ConferenceRegistry } from './conference/ConferenceRegistry.ts';
import { SignallingServer } from './signalling/SignallingServer.ts';
import { createHttpServer, redirectRoute, type RouteHandler, type StaticHeaders } from './http/HttpServer.ts';
import { CLOSE_CODES } from '../common/protocol/closeCodes.ts';
import { SfuMetrics } from './metrics/SfuMetrics.ts';
import { METRICS_PATH, createMetricsRoute } from './metrics/metricsRoute.ts';
import { widgetResponseHeaders } from './http/widgetCsp.ts';
import { createHomeserverDiscoveryRoute } from './matrix/homeserverDiscovery.ts';
import { clientAddress, parseTrustedProxies } from './http/clientAddress.ts';
import type { IncomingMessage } from 'node:http';
import { LiveKitServer } from './livekit/LiveKitServer.ts';
import { TurnService } from './turn/TurnService.ts';
import { DevLiveKitAdmission, MatrixLiveKitAdmission, type LiveKitAdmission } from './livekit/LiveKitAdmission.ts';
import { DelayedLeaveKeeper } from './livekit/DelayedLeaveKeeper.ts';
import { ClusterNode, defaultNodeId, parseDelegation } from './cluster/ClusterNode.ts';
import { ClusterJtis } from './cluster/ClusterJtis.ts';
import { Cascade } from './cluster/Cascade.ts';
import type { DelayDelegation } from './auth/liveKitToken.ts';
import type { RoomTarget } from './auth/tokenEndpoint.ts';

/** Directory of the bundled browser client (built by `npm run build:client`). */
export const CLIENT_DIST_DIR = fileURLToPath(new URL('../../dist/client/', import.meta.url));

/** Directory of the bundled call widget (built by `npm run build:client`), served at /widget/. */
export const WIDGET_DIST_DIR = fileURLToPath(new URL('../../dist/widget/', import.meta.url));

/** Options of SfuNode.start(). */
export interface SfuNodeOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Admission override (tests); default: DevAdmission for auth.mode none, Matrix admission otherwise. */
  readonly admission?: Admission;
  /** Extra HTTP routes. */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
  /** Extra static directories `[urlPrefix, dir]` (tests serve their test page this way). */
  readonly staticDirs?: ReadonlyArray<readonly [prefix: string, dir: string]>;
  /** Metrics (e.g. built early by main.ts); default a new SfuMetrics. stop() closes it either way. */
  readonly metrics?: SfuMetrics;
  /** Admission of the livekit edge (tests); default by auth.mode (with an `admission` override: none, answered 503). */
  readonly liveKitAdmission?: LiveKitAdmission;
}

/** A running SFU node. */
export class SfuNode {
  readonly config: Config;
  readonly pool: WorkerPool;
  readonly registry: ConferenceRegistry;
  readonly signalling: SignallingServer;
  /** The livekit edge (livekit.enabled). */
  readonly liveKit: LiveKitServer | undefined;
  readonly server: Server;
  readonly metrics: SfuMetrics;
  /** Worker CPU load for admission control (media.maxWorkerLoad). */
  readonly workerLoad: WorkerLoadMonitor;
  /** TURN credentials for every admission (turn.urls); undefined while TURN is off. */
  readonly turn: TurnService | undefined;
  /** This node in its cluster (cluster.redisUrl), once started. */
  cluster: ClusterNode | undefined;
  /** Rooms this node shares with other nodes (cluster mode): pipe links and remote participants. */
  cascade: Cascade | undefined;
  readonly #logger: Logger;
  readonly #rootLogger: Logger;
  readonly #routes = new Map<string, RouteHandler>();
  /** The client's address of a request: the TCP peer, or the forwarded one behind server.trustedProxies. */
  readonly #clientAddress: (request: IncomingMessage) => string | undefined;
  #admission: Admission | undefined;
  #liveKitAdmission: LiveKitAdmission | undefined;
  #matrix: MatrixAdmissionStack | undefined;
  #draining = false;
  #stopped = false;

  /**
   * Starts workers, then the HTTP/WebSocket server, then admission (Matrix
   * admission needs the bound address for its service URL); resolves once
   * sessions can be admitted.
   */
  static async start(options: SfuNodeOptions): Promise<SfuNode> {
    const { config, logger } = options;
    // Before any worker starts: an unreadable TURN secret stops the start with its key named.
    const turn = TurnService.fromConfig(config.turn);
    routeMediasoupLogs(logger, config.log.level === 'debug' ? 'debug' : 'warn');
    const pool = await WorkerPool.create({
      numWorkers: effectiveWorkerCount(config),
      listenIp: config.media.listenIp,
      announcedAddress: config.media.announcedAddress,
      basePort: config.media.basePort,
      workerLogLevel: config.media.workerLogLevel,
      requestTimeoutMs: config.media.requestTimeoutMs,
      maxConsumersPerWorker: config.media.maxConsumersPerWorker,
      logger,
    });
    let node: SfuNode | undefined;
    try {
      node = new SfuNode(options, pool, turn);
      await node.#listen();
      node.#startCluster();
      await node.#startAdmission(options);
      return node;
    } catch (error) {
      if (node) await node.stop();
      else pool.close();
      throw error;
    }
  }

  private constructor(options: SfuNodeOptions, pool: WorkerPool, turn: TurnService | undefined) {
    this.config = options.config;
    this.turn = turn;
    this.#logger = options.logger.child({ component: 'node' });
    this.#rootLogger = options.logger;
    this.pool = pool;
    const trustedProxies = parseTrustedProxies(this.config.server.trustedProxies);
    this.#clientAddress = (request) => clientAddress(request.socket.remoteAddress, request.headers, trustedProxies);
    this.metrics = options.metrics ?? new SfuMetrics({ logger: options.logger });
    this.metrics.watchWorkerPool(pool);
    if (turn) {
      turn.onIssued((edge) => this.metrics.recordTurnCredentialIssued(edge));
      this.metrics.classifyIcePaths((remoteIp) => turn.isRelayAddress(remoteIp));
      this.#logger.info('TURN relay on: credentials go out with every admission', { urls: turn.urls, relayAddresses: [...turn.relayAddresses] });
    }
    watchIoUring(pool, (slot, status) => this.metrics.setWorkerIoUring(slot, status.enabled), options.logger, this.config.media.requestTimeoutMs);
    this.workerLoad = new WorkerLoadMonitor({
      pool,
      maxLoad: this.config.media.maxWorkerLoad,
      intervalMs: this.config.media.workerLoadIntervalMs,
      logger: options.logger,
      onSample: (loads) => {
        for (const [slot, load] of loads) this.metrics.setWorkerLoad(slot, load);
      },
    });
    this.registry = new ConferenceRegistry({
      pool,
      conference: {
        maxParticipants: this.config.conference.maxParticipants,
        maxProducersPerParticipant: this.config.conference.maxProducersPerParticipant,
        maxConsumersPerParticipant: this.config.conference.maxConsumersPerParticipant,
        maxRebuildAttempts: this.config.conference.maxRebuildAttempts,
        spreadConsumersPerWorker: this.config.conference.spreadConsumersPerWorker,
        spreadWorkerLoad: this.config.conference.spreadWorkerLoad,
        initialAvailableOutgoingBitrate: this.config.media.initialAvailableOutgoingBitrate,
        maxIncomingBitrate: this.config.media.maxIncomingBitrate,
        activeSpeakerIntervalMs: this.config.media.activeSpeakerIntervalMs,
      },
      logger: options.logger,
      load: this.workerLoad,
    });
    this.metrics.watchConferences(this.registry);
    this.metrics.watchConferencesSpanningWorkers(() => this.registry.list().filter((conference) => conference.slotIndexes.length > 1).length);
    this.registry.observer.on('joinRefused', (reason) => this.metrics.recordJoinRefused(reason));
    this.workerLoad.start();
    const staticDirs: Array<readonly [string, string, StaticHeaders?]> = [];
    if (existsSync(CLIENT_DIST_DIR)) staticDirs.push(['/demo/', CLIENT_DIST_DIR]);
    for (const [prefix, dir] of options.staticDirs ?? []) staticDirs.push([prefix, dir]);
    if (existsSync(WIDGET_DIST_DIR)) {
      // Strict CSP per response: the bound address (port 0 in tests) is known only after listen().
      const homeserverUrls = [
        this.config.matrix.homeserverUrl,
        ...Object.values(this.config.auth.serverUrlOverrides),
        ...this.config.widget.homeserverUrls,
      ];
      staticDirs.push([
        '/widget/',
        WIDGET_DIST_DIR,
        (file) => widgetResponseHeaders(file, { publicUrl: this.publicUrl, homeserverUrls, nodeUrls: this.cluster?.liveNodeUrls ?? [] }),
      ]);
      // Element Call's path: a host that opens Element Call as `<base>/room#?…` opens the widget the same way.
      for (const path of ['/room', '/room/']) this.#routes.set(path, redirectRoute('/widget/'));
      // The widget's sign-in: which homeserver a server name or user id means, and whether the CSP above allows it.
      this.#routes.set(
        '/widget/homeserver',
        createHomeserverDiscoveryRoute({
          allowedUrls: homeserverUrls,
          serverUrlOverrides: this.config.auth.serverUrlOverrides,
          timeoutMs: this.config.auth.federationTimeoutMs,
          logger: options.logger,
          clientAddress: this.#clientAddress,
        }),
      );
    }
    this.#routes.set(METRICS_PATH, createMetricsRoute(this.metrics));
    for (const [path, handler] of options.routes ?? []) this.#routes.set(path, handler);
    this.server = createHttpServer({
      logger: options.logger,
      readiness: [
        () => (this.#draining ? 'draining' : undefined),
        () => (this.pool.slots.length === 0 ? 'no mediasoup worker up' : undefined),
        () => (this.#admission ? undefined : 'admission not started'),
        () =>
          this.matrix && !this.matrix.account.isFresh(maxSyncLagMs(this.config)) ? 'Matrix sync not fresh' : undefined,
      ],
      routes: this.#routes,
      staticDirs,
    });
    // Sessions are admitted through whatever admission is current (set once started).
    const admission: Admission = {
      mode: this.config.auth.mode,
      admit: (request) => {
        if (!this.#admission) return Promise.reject(new SfuError('DRAINING', 'admission not started'));
        return this.#admission.admit(request);
      },
    };
    this.signalling = new SignallingServer({
      server: this.server,
      admission,
      registry: this.registry,
      maxFrameBytes: this.config.signalling.maxFrameBytes,
      pingIntervalMs: this.config.signalling.pingIntervalMs,
      settings: this.config.signalling,
      logger: options.logger,
      observer: this.metrics.signallingObserver(),
      clientAddress: this.#clientAddress,
      ...(this.config.livekit.enabled ? { otherEdgePath: (path: string) => LiveKitServer.ownsUpgradePath(path) } : {}),
      ...(turn ? { iceServers: (participantId: string) => turn.issue(participantId, 'native').map((server) => ({ ...server, urls: [...server.urls] })) } : {}),
    });
    this.liveKit = this.config.livekit.enabled
      ? new LiveKitServer({
          server: this.server,
          registry: this.registry,
          observer: { ...this.metrics.liveKitDataObserver(), ...this.metrics.liveKitSessionsObserver() },
          admission: () => this.#liveKitAdmission,
          settings: {
            maxFrameBytes: this.config.livekit.maxFrameBytes,
            pingIntervalS: this.config.livekit.pingIntervalS,
            pingTimeoutS: this.config.livekit.pingTimeoutS,
            maxFaults: this.config.signalling.maxProtocolFaults,
            ratePerSecond: this.config.signalling.ratePerSecond,
            rateBurst: this.config.signalling.rateBurst,
            refreshIntervalMs: Math.floor(this.config.auth.jwtLifetimeMs / 2),
            resumeGraceMs: this.config.livekit.resumeGraceMs,
            dynacastPauseMs: this.config.livekit.dynacastPauseMs,
            ...(turn ? { iceServers: (participantId: string) => turn.issue(participantId, 'livekit') } : {}),
          },
          logger: options.logger,
          isDraining: () => this.#draining,
          keeper: new DelayedLeaveKeeper({
            overrides: this.config.auth.serverUrlOverrides,
            timeoutMs: this.config.auth.federationTimeoutMs,
            logger: options.logger,
          }),
        })
      : undefined;
    for (const [path, handler] of this.liveKit?.routes() ?? []) this.#routes.set(path, handler);
  }

  /** Matrix admission (auth.mode matrix), once started. */
  get matrix(): MatrixAdmissionStack | undefined {
    return this.#matrix;
  }

  /** Base URL clients use: server.publicUrl, or the bound address. */
  get publicUrl(): string {
    if (this.config.server.publicUrl) return this.config.server.publicUrl.replace(/\/$/, '');
    return this.#boundUrl();
  }

  /** http://host:port of the bound address (IPv6 in brackets). */
  #boundUrl(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Cluster mode (cluster.redisUrl): this node's registry entry, room placement and delegations. */
  #startCluster(): void {
    const settings = this.config.cluster;
    if (!settings.redisUrl) return;
    const cluster = ClusterNode.start({
      redisUrl: settings.redisUrl,
      nodeId: settings.nodeId || defaultNodeId(this.port),
      url: (settings.advertisedUrl || this.#boundUrl()).replace(/\/$/, ''),
      keyPrefix: settings.keyPrefix,
      heartbeatMs: settings.heartbeatMs,
      nodeTimeoutMs: settings.nodeTimeoutMs,
      roomClaimMs: settings.roomClaimMs,
      commandTimeoutMs: settings.commandTimeoutMs,
      participantsPerNode: settings.participantsPerNode,
      logger: this.#rootLogger,
      localLoad: () => {
        const conferences = this.registry.list();
        return {
          participants: conferences.reduce((sum, conference) => sum + conference.participantCount, 0),
          conferences: conferences.length,
          workers: this.pool.slots.length,
          draining: this.#draining,
          roomIds: conferences.map((conference) => conference.id),
        };
      },
    });
    cluster.on('delegation', (payload) => {
      const delegation = parseDelegation(payload);
      if (!delegation) {
        this.#logger.warn('malformed delegation from another node ignored');
        return;
      }
      void this.liveKit?.keeper?.offer(delegation);
    });
    const cascade = new Cascade({
      cluster,
      registry: this.registry,
      listen: {
        ip: pipeListenIp(this.config),
        announcedAddress: pipeAnnouncedAddress(this.config),
        portRange: settings.pipeMinPort > 0 ? { min: settings.pipeMinPort, max: settings.pipeMaxPort } : undefined,
      },
      requestTimeoutMs: this.config.media.requestTimeoutMs,
      discoverMs: settings.heartbeatMs,
      logger: this.#rootLogger,
    });
    this.metrics.watchCluster(() => {
      const { roomsSpanningNodes, links } = cascade.summary();
      return { up: cluster.available, nodes: cluster.liveNodeIds.length, roomsSpanningNodes, links };
    });
    this.cluster = cluster;
    this.cascade = cascade;
    this.#logger.info('cluster mode: nodes share placement, used tokens and delegations through Redis', { nodeId: cluster.id });
  }

  /**
   * Hands a /get_token delay delegation to the node serving its room: `target`, the route the
   * token endpoint took (absent without a cluster: this node).
   */
  #delegate(delegation: DelayDelegation, target: RoomTarget | undefined): void {
    if (!this.cluster || !target || target.local) {
      void this.liveKit?.keeper?.offer(delegation);
      return;
    }
    this.cluster
      .sendDelegation(target.nodeId, delegation)
      .catch((error: unknown) => this.#logger.warn('delay delegation not delivered to the node serving its room', { error }));
  }

  #listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.server.port, this.config.server.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  async #startAdmission(options: SfuNodeOptions): Promise<void> {
    if (options.liveKitAdmission) this.#liveKitAdmission = options.liveKitAdmission;
    if (options.admission) {
      this.#admission = options.admission;
    } else if (this.config.auth.mode === 'none') {
      this.#liveKitAdmission ??= new DevLiveKitAdmission();
      this.#logger.warn(
        'AUTH DISABLED: auth.mode is "none"; anyone who can reach this server may join any conference. Development only.',
      );
      this.#admission = new DevAdmission();
    } else {
      this.#matrix = await startMatrixAdmission({
        config: this.config,
        logger: this.#rootLogger,
        publicUrl: this.publicUrl,
        signallingUrl: this.publicUrl.replace(/^http/, 'ws') + '/ws',
        observer: this.metrics.admissionObserver(),
        liveKitObserver: this.metrics.admissionObserver('livekit'),
        clientAddress: this.#clientAddress,
        ...(this.liveKit ? { onDelegation: (delegation, target) => this.#delegate(delegation, target) } : {}),
        ...(this.cluster ? this.#clusterAdmission(this.cluster) : {}),
      });
      const account = this.#matrix.account;
      this.metrics.watchMatrixSyncLag(() => account.syncLagSeconds());
      for (const [path, handler] of this.#matrix.routes) this.#routes.set(path, handler);
      this.#admission = this.#matrix.admission;
      this.#liveKitAdmission ??= new MatrixLiveKitAdmission({
        tokens: this.#matrix.tokens,
        membership: this.#matrix.watcher,
        jtis: this.#matrix.jtis,
        logger: this.#rootLogger,
        observer: this.metrics.admissionObserver('livekit'),
      });
    }
  }

  #clusterAdmission(cluster: ClusterNode) {
    return {
      jtis: new ClusterJtis({
        redis: () => cluster.client,
        available: () => cluster.available,
        keyPrefix: this.config.cluster.keyPrefix,
        nodeId: cluster.id,
      }),
      route: (roomId: string) => cluster.route(roomId),
      sharedLimit: (scope: 'address' | 'user', key: string, rate: { ratePerSecond: number; burst: number }) => cluster.rateLimited(scope, key, rate),
    };
  }

  /** Port the server listens on (useful with server.port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** ws:// URL of the signalling endpoint on the bound address. */
  get wsUrl(): string {
    return `${this.#boundUrl().replace(/^http/, 'ws')}/ws`;
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
    // Cluster: say so at once, so the next token request for our rooms places them elsewhere.
    await this.cluster?.heartbeatNow();
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
    this.liveKit?.close();
    this.#matrix?.stop();
    await this.cascade?.close();
    await this.cluster?.close();
    this.workerLoad.stop();
    this.registry.close();
    this.pool.close();
    this.metrics.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.#logger.info('stopped');
  }
}
