// POST /sfu/get: lk-jwt-service's request shape, our stricter checks. The steps up to
// the verified user are createOpenIdRoute(), shared with the livekit edge's /get_token
// (liveKitToken.ts). Steps:
// strict body → server allow-list → federation userinfo (sub must belong to
// matrix_server_name) → sub joined to the room with a live call membership
// for device_id naming this SFU, or without any membership for device_id yet
// (a pending token, bound at connect: pendingMembership.ts) → {url, jwt}. Refusals use the Matrix
// envelope with a generic message; the precise reason is logged and counted.
// Concurrency: each request is independent; the only shared state is the
// rate limiters (per client address before any work, per user after userinfo)
// and the read-only MembershipView. The client address comes from the one
// parser in src/server/http/clientAddress.ts (trusted proxies only).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/lib/logger.ts';
import { num, obj, opt, parseWith, str, type Schema } from '../../common/protocol/schema.ts';
import { RateLimiter } from '../signalling/RateLimiter.ts';
import { AdmissionError, REFUSAL_TABLE, type AdmissionRefusal } from './errors.ts';
import { verifyOpenIdToken, type FederationDeps } from './openid.ts';
import type { SfuTokenService } from './SfuToken.ts';
import type { MembershipView } from './types.ts';
import { PENDING_MEMBERSHIP, tokenMembershipFor } from './pendingMembership.ts';

/** Body of POST /sfu/get (lk-jwt-service shape; delay_* accepted and ignored: we evict ourselves). */
export const sfuGetBodySchema = obj({
  // Room version 12 ids have no server part (!opaque), older ones do (!opaque:server).
  room: str({ minLength: 2, maxLength: 255, pattern: /^![^\s]+$/ }),
  openid_token: obj({
    access_token: str({ minLength: 1, maxLength: 1024 }),
    token_type: opt(str({ maxLength: 32 })),
    matrix_server_name: str({ minLength: 1, maxLength: 255 }),
    expires_in: opt(num({ int: true, min: 0, max: 86_400 })),
  }),
  device_id: str({ minLength: 1, maxLength: 255, pattern: /^\S+$/ }),
  delay_id: opt(str({ maxLength: 255 })),
  delay_timeout: opt(num({ int: true, min: 0, max: 86_400_000 })),
  delay_cs_api_url: opt(str({ maxLength: 1024 })),
});

/** Hooks for metrics. */
export interface TokenEndpointObserver {
  admission(outcome: 'granted' | 'refused', reason: AdmissionRefusal | 'ok', durationMs: number): void;
}

/** Options of createTokenEndpoint(). */
export interface TokenEndpointOptions {
  readonly tokens: SfuTokenService;
  readonly membership: MembershipView;
  /** ws(s) URL returned to clients. */
  readonly signallingUrl: string;
  /**
   * Cluster mode: the node serving a room (its URLs replace signallingUrl / liveKitUrl).
   * Rejects when the cluster cannot place the room; the request is refused with
   * `cluster_unavailable` (503).
   */
  readonly route?: (roomId: string) => Promise<RoomTarget>;
  /**
   * Cluster mode: a rate limit shared by every node (a token bucket of `rate` per key in
   * Redis). Resolves true when `key` is over its limit; rejects when the shared store cannot
   * answer, and this node's own limiter decides instead.
   */
  readonly sharedLimit?: (scope: 'address' | 'user', key: string, rate: { ratePerSecond: number; burst: number }) => Promise<boolean>;
  readonly allowedServers: readonly string[];
  readonly serverUrlOverrides: Readonly<Record<string, string>>;
  readonly federationTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  readonly observer?: TokenEndpointObserver;
  readonly federationDeps?: FederationDeps;
  /** Whether the Matrix view is usable (initial sync done, sync fresh). */
  readonly isReady: () => boolean;
  /** The client's address (behind trusted proxies: the forwarded one). Default: the TCP peer. */
  readonly clientAddress?: (request: IncomingMessage) => string | undefined;
  /**
   * Whether some source of room state sees the room (src/server/matrix/RoomVisibility.ts),
   * asked before the membership check; false refuses with `room_not_visible`. Absent: every room counts.
   */
  readonly roomVisible?: (roomId: string) => Promise<boolean>;
}

/** Token-bucket sizes: per client address (before the federation request) and per Matrix user (after). */
const PER_ADDRESS = { ratePerSecond: 5, burst: 20 } as const;
const PER_USER = { ratePerSecond: 1, burst: 10 } as const;
/** Entries per limiter table; past it the table starts over (bounded memory under address spraying). */
const MAX_LIMITER_ENTRIES = 10_000;

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': 'content-type, authorization',
  'access-control-max-age': '86400',
};

function send(response: ServerResponse, status: number, body: unknown, retryAfterS?: number): void {
  response.writeHead(status, {
    ...CORS_HEADERS,
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...(retryAfterS !== undefined ? { 'retry-after': String(retryAfterS) } : {}),
  });
  response.end(JSON.stringify(body));
}

/** A table of token buckets by key, bounded in size. */
function limiterTable(ratePerSecond: number, burst: number): (key: string) => boolean {
  const limiters = new Map<string, RateLimiter>();
  return (key) => {
    let limiter = limiters.get(key);
    if (!limiter) {
      // Bounded: forget everyone when the table grows past MAX_LIMITER_ENTRIES keys.
      if (limiters.size >= MAX_LIMITER_ENTRIES) limiters.clear();
      limiter = new RateLimiter(ratePerSecond, burst);
      limiters.set(key, limiter);
    }
    return !limiter.take();
  };
}

async function readBody(request: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > maxBytes) throw new AdmissionError('body_too_large', `content-length ${declared}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new AdmissionError('body_too_large', `body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** What an OpenID-authenticated token route does with a parsed body once its sender is known. */
export interface OpenIdRouteSpec<B> {
  /** Strict body schema. */
  readonly schema: Schema<B>;
  readonly openIdToken: (body: B) => { access_token: string; matrix_server_name: string };
  /**
   * Called with the verified Matrix user id (`sub` of userinfo, on the allow-list, within
   * the per-user limit). Returns the reply body and fields for the "token issued" log line;
   * throws AdmissionError to refuse.
   */
  readonly issue: (body: B, userId: string) => Promise<{ reply: unknown; log: Record<string, unknown> }>;
}

/**
 * An OpenID-authenticated token route: CORS, method, per-address limit, readiness, bounded
 * strict JSON body, server allow-list, federation userinfo, per-user limit, then `spec.issue`;
 * refusals in the Matrix envelope from REFUSAL_TABLE. /sfu/get and /get_token are both this.
 */
export function createOpenIdRoute<B>(options: Omit<TokenEndpointOptions, 'tokens' | 'membership' | 'signallingUrl'>, spec: OpenIdRouteSpec<B>) {
  const log = options.logger.child({ component: 'auth' });
  const allowAll = options.allowedServers.includes('*');
  const localAddressLimited = limiterTable(PER_ADDRESS.ratePerSecond, PER_ADDRESS.burst);
  const localUserLimited = limiterTable(PER_USER.ratePerSecond, PER_USER.burst);
  const limited = async (scope: 'address' | 'user', key: string): Promise<boolean> => {
    const local = scope === 'address' ? localAddressLimited : localUserLimited;
    if (!options.sharedLimit) return local(key);
    try {
      return await options.sharedLimit(scope, key, scope === 'address' ? PER_ADDRESS : PER_USER);
    } catch (error) {
      log.debug('shared rate limit unavailable; this node decides', { scope, error });
      return local(key);
    }
  };
  const addressOf = options.clientAddress ?? ((request: IncomingMessage) => request.socket.remoteAddress);

  return async function handleTokenRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method === 'OPTIONS') {
      response.writeHead(204, CORS_HEADERS);
      response.end();
      return;
    }
    if (request.method !== 'POST') {
      send(response, 405, { errcode: 'M_UNRECOGNIZED', error: 'Use POST.' });
      return;
    }
    const started = performance.now();
    try {
      if (await limited('address', addressOf(request) ?? '?')) throw new AdmissionError('rate_limited', 'per-address limit');
      if (!options.isReady()) throw new AdmissionError('sync_stale', 'Matrix sync not ready or stale');
      const text = await readBody(request, options.maxBodyBytes);
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new AdmissionError('bad_body', 'body is not JSON');
      }
      const parsed = parseWith(spec.schema, raw, 'body');
      if (!parsed.ok) throw new AdmissionError('bad_body', parsed.faults.slice(0, 5).join('; '));
      const body = parsed.value;
      const openIdToken = spec.openIdToken(body);
      const serverName = openIdToken.matrix_server_name;
      if (!allowAll && !options.allowedServers.includes(serverName)) {
        throw new AdmissionError('server_not_allowed', `server ${serverName} not on the allow-list`);
      }
      const userId = await verifyOpenIdToken(serverName, openIdToken.access_token, {
        overrides: options.serverUrlOverrides,
        timeoutMs: options.federationTimeoutMs,
        ...(options.federationDeps ? { deps: options.federationDeps } : {}),
      });
      if (await limited('user', userId)) throw new AdmissionError('rate_limited', 'per-user limit');
      const { reply, log: fields } = await spec.issue(body, userId);
      const durationMs = performance.now() - started;
      log.info('token issued', { userId, ...fields, durationMs: Math.round(durationMs) });
      options.observer?.admission('granted', 'ok', durationMs);
      send(response, 200, reply);
    } catch (error) {
      const refusal = error instanceof AdmissionError ? error : new AdmissionError('bad_body', 'unexpected', { cause: error });
      if (!(error instanceof AdmissionError)) log.error('token endpoint failed', { error });
      const row = REFUSAL_TABLE[refusal.reason];
      log.info('token refused', { reason: refusal.reason, detail: refusal.message });
      options.observer?.admission('refused', refusal.reason, performance.now() - started);
      send(response, row.status, { errcode: row.errcode, error: row.message }, row.retryAfterS);
    }
  };
}

/** Creates the /sfu/get route handler. */
export function createTokenEndpoint(options: TokenEndpointOptions) {
  return createOpenIdRoute(options, {
    schema: sfuGetBodySchema,
    openIdToken: (body) => body.openid_token,
    issue: async (body, userId) => {
      if (options.roomVisible && !(await options.roomVisible(body.room))) {
        throw new AdmissionError('room_not_visible', `no source of room state sees ${body.room}`);
      }
      const check = options.membership.check(body.room, userId, body.device_id);
      // A joined member whose device has no membership yet gets a pending token (pendingMembership.ts).
      const membershipId = tokenMembershipFor(check);
      if (membershipId === undefined) throw new AdmissionError(check.ok ? 'no_membership' : check.reason, `membership check failed for ${userId} ${body.device_id}`);
      const url = options.route ? (await routeOrRefuse(options.route, body.room)).signallingUrl : options.signallingUrl;
      const { jwt } = await options.tokens.mint({
        userId,
        deviceId: body.device_id,
        roomId: body.room,
        membershipId,
      });
      return { reply: { url, jwt }, log: { deviceId: body.device_id, roomId: body.room, pending: membershipId === PENDING_MEMBERSHIP } };
    },
  });
}

/** Where a cluster serves a room: the serving node's URLs, and which node. */
export interface RoomTarget {
  readonly signallingUrl: string;
  readonly liveKitUrl: string;
  readonly nodeId: string;
  /** This node serves it. */
  readonly local: boolean;
}

/** The cluster route of a room, or the `cluster_unavailable` refusal. */
export async function routeOrRefuse(route: NonNullable<TokenEndpointOptions['route']>, roomId: string): Promise<RoomTarget> {
  try {
    return await route(roomId);
  } catch (error) {
    throw new AdmissionError('cluster_unavailable', 'the cluster could not place the room', { cause: error });
  }
}
