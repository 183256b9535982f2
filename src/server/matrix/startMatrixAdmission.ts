// Assembles Matrix admission for one SFU node: the signing key, the used-jti
// store, the token service, the membership watcher fed by the SFU account's
// sync, the WebSocket admission and the HTTP routes (/sfu/get, JWKS).

import type { Config } from '../config/types.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { IncomingMessage } from 'node:http';
import type { RouteHandler } from '../http/HttpServer.ts';
import { sendJson } from '../http/HttpServer.ts';
import { loadSigningKey, jwks } from '../auth/JwtKeys.ts';
import { SfuTokenService } from '../auth/SfuToken.ts';
import { MatrixAdmission } from '../auth/MatrixAdmission.ts';
import { createTokenEndpoint, type RoomTarget, type TokenEndpointObserver, type TokenEndpointOptions } from '../auth/tokenEndpoint.ts';
import { createGetTokenEndpoint, type DelayDelegation } from '../auth/liveKitToken.ts';
import type { EvictionReason } from '../auth/Admission.ts';
import { JtiStore, type UsedJtis } from '../auth/JtiStore.ts';
import { MembershipWatcher, type GraceOutcome } from './MembershipWatcher.ts';
import { SfuAccount } from './SfuAccount.ts';
import { OUR_FOCUS_TYPE } from './callMembership.ts';
import { AdminStateSource } from './AdminStateSource.ts';
import { roomVisibility } from './RoomVisibility.ts';
import { readFile } from 'node:fs/promises';

/** Everything Matrix admission consists of, for the node to wire and stop. */
export interface MatrixAdmissionStack {
  readonly admission: MatrixAdmission;
  readonly watcher: MembershipWatcher;
  readonly account: SfuAccount;
  readonly tokens: SfuTokenService;
  readonly jtis: UsedJtis;
  /** Reads rooms the account did not join through the Synapse admin API (matrix.adminTokenFile), if configured. */
  readonly adminSource: AdminStateSource | undefined;
  readonly routes: ReadonlyMap<string, RouteHandler>;
  /** Our transport object, as clients put it in foci_preferred. */
  readonly focus: { type: string; sfu_service_url: string };
  stop(): void;
}

/** Options of startMatrixAdmission(). */
export interface StartMatrixAdmissionOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** This SFU's public base URL (service URL, JWT issuer and audience). */
  readonly publicUrl: string;
  /** ws(s) URL returned by /sfu/get. */
  readonly signallingUrl: string;
  readonly observer?: TokenEndpointObserver & { eviction?(reason: EvictionReason): void; grace?(outcome: GraceOutcome): void };
  /** Admissions of the livekit edge's token endpoint (/get_token); default `observer`. */
  readonly liveKitObserver?: TokenEndpointObserver;
  /** The client's address of an HTTP request (src/server/http/clientAddress.ts); default the TCP peer. */
  readonly clientAddress?: (request: IncomingMessage) => string | undefined;
  /** Receives /get_token delay delegations (the livekit edge), when livekit.enabled. */
  readonly onDelegation?: (delegation: DelayDelegation, target?: RoomTarget) => void;
  /** Cluster mode: the used-jti store shared by every node (default: this node's file). */
  readonly jtis?: UsedJtis;
  /** Cluster mode: the node serving a room; the token endpoints return its URLs. */
  readonly route?: TokenEndpointOptions['route'];
  /** Cluster mode: the token endpoints' rate limits, shared by every node. */
  readonly sharedLimit?: TokenEndpointOptions['sharedLimit'];
}

/** Largest sync lag that still counts as fresh: one long-poll plus slack. */
export function maxSyncLagMs(config: Config): number {
  return config.matrix.syncTimeoutMs + 15_000;
}

/** Logs the SFU account in with its password (when no access token is configured). */
async function loginWithPassword(config: Config): Promise<string> {
  if (!config.matrix.password) throw new Error('matrix.accessToken or matrix.password is required');
  const response = await fetch(`${config.matrix.homeserverUrl.replace(/\/$/, '')}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: config.matrix.userId },
      password: config.matrix.password,
      initial_device_display_name: 'matrix-sfu',
    }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; errcode?: unknown };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new Error(`SFU account login failed: HTTP ${response.status} ${String(body.errcode ?? '')}`);
  }
  return body.access_token;
}

/** Reads the admin access token file (matrix.adminTokenFile); a clear error if it is unreadable or empty. */
async function readAdminToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new Error(`matrix.adminTokenFile ${file} cannot be read: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (token === '' || /\s/.test(token)) throw new Error(`matrix.adminTokenFile ${file} must hold one access token`);
  return token;
}

/** Starts the SFU account's sync and builds the admission stack around it. */
export async function startMatrixAdmission(options: StartMatrixAdmissionOptions): Promise<MatrixAdmissionStack> {
  const { config, logger } = options;
  const { key, generated } = await loadSigningKey({
    algorithm: config.auth.jwtAlgorithm,
    keyFile: config.auth.jwtPrivateKeyFile,
    dataDir: config.server.dataDir,
  });
  const log = logger.child({ component: 'auth' });
  if (generated) log.warn('generated a development JWT signing key; set auth.jwtPrivateKeyFile in production', { kid: key.kid });
  const tokens = new SfuTokenService({ key, issuer: options.publicUrl, audience: options.publicUrl, lifetimeMs: config.auth.jwtLifetimeMs });
  const jtis: UsedJtis = options.jtis ?? (await JtiStore.open({ dataDir: config.server.dataDir, logger }));
  const watcher = new MembershipWatcher({
    focus: {
      type: OUR_FOCUS_TYPE,
      serviceUrl: options.publicUrl,
      ...(config.livekit.enabled ? { liveKitServiceUrl: options.publicUrl } : {}),
    },
    logger,
    graceMs: config.matrix.membershipGraceMs,
    ...(options.observer?.eviction ? { onEviction: options.observer.eviction } : {}),
    ...(options.observer?.grace ? { onGrace: options.observer.grace } : {}),
  });
  if (!config.matrix.homeserverUrl || !config.matrix.userId) {
    throw new Error('auth.mode matrix needs matrix.homeserverUrl and matrix.userId (or the embedded dev homeserver of npm start)');
  }
  const accessToken = config.matrix.accessToken || (await loginWithPassword(config));
  const account = await SfuAccount.start({
    homeserverUrl: config.matrix.homeserverUrl,
    userId: config.matrix.userId,
    accessToken,
    inviteAllowList: config.matrix.inviteAllowList,
    syncTimeoutMs: config.matrix.syncTimeoutMs,
    reconcileIntervalMs: config.matrix.reconcileIntervalMs,
    watcher,
    logger,
  });
  const joinedBySfu = (roomId: string): boolean => account.client.getRoom(roomId)?.getMyMembership() === 'join';
  const adminSource = config.matrix.adminTokenFile
    ? new AdminStateSource({
        homeserverUrl: config.matrix.homeserverUrl,
        adminToken: await readAdminToken(config.matrix.adminTokenFile),
        watcher,
        joinedBySfu,
        pollIntervalMs: config.matrix.adminPollIntervalMs,
        holdMs: config.auth.jwtLifetimeMs,
        requestTimeoutMs: 10_000,
        logger,
      })
    : undefined;
  if (adminSource) logger.child({ component: 'matrix' }).info('rooms the SFU account has not joined are read through the homeserver admin API', { pollIntervalMs: config.matrix.adminPollIntervalMs });
  const roomVisible = roomVisibility({ joinedBySfu, admin: adminSource, sfuUserId: config.matrix.userId, logger });
  const admission = new MatrixAdmission({
    tokens,
    membership: watcher,
    jtis,
    sync: {
      isFresh: () => account.isFresh(maxSyncLagMs(config)),
      get lastSyncAtMs() {
        return account.lastSyncAtMs;
      },
    },
    staleAdmissionMs: config.matrix.staleAdmissionMs,
    logger,
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const sfuGet = createTokenEndpoint({
    tokens,
    membership: watcher,
    signallingUrl: options.signallingUrl,
    allowedServers: config.auth.allowedServers,
    serverUrlOverrides: config.auth.serverUrlOverrides,
    federationTimeoutMs: config.auth.federationTimeoutMs,
    maxBodyBytes: config.auth.maxBodyBytes,
    logger,
    ...(options.observer ? { observer: options.observer } : {}),
    isReady: () => account.isFresh(maxSyncLagMs(config)),
    ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
    ...(options.route ? { route: options.route } : {}),
    ...(options.sharedLimit ? { sharedLimit: options.sharedLimit } : {}),
    roomVisible,
  });
  const routes = new Map<string, RouteHandler>([
    ['/sfu/get', sfuGet],
    ['/.well-known/jwks.json', (_request, response) => sendJson(response, 200, jwks([key]))],
  ]);
  if (config.livekit.enabled) {
    routes.set(
      '/get_token',
      createGetTokenEndpoint({
        tokens,
        membership: watcher,
        liveKitUrl: options.publicUrl.replace(/^http/, 'ws'),
        allowedServers: config.auth.allowedServers,
        serverUrlOverrides: config.auth.serverUrlOverrides,
        federationTimeoutMs: config.auth.federationTimeoutMs,
        maxBodyBytes: config.auth.maxBodyBytes,
        logger,
        ...((options.liveKitObserver ?? options.observer) ? { observer: options.liveKitObserver ?? options.observer } : {}),
        isReady: () => account.isFresh(maxSyncLagMs(config)),
        ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
        ...(options.onDelegation ? { onDelegation: options.onDelegation } : {}),
        ...(options.route ? { route: options.route } : {}),
        ...(options.sharedLimit ? { sharedLimit: options.sharedLimit } : {}),
        roomVisible,
      }),
    );
  }
  return {
    admission,
    watcher,
    account,
    tokens,
    jtis,
    adminSource,
    routes,
    focus: { type: OUR_FOCUS_TYPE, sfu_service_url: options.publicUrl },
    stop() {
      adminSource?.stop();
      account.stop();
      watcher.close();
    },
  };
}
