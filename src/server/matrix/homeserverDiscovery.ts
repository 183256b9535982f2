// GET /widget/homeserver?server=…: the widget's sign-in asks the SFU which client-API base
// URL a person means (a URL, a bare server name like `example.org`, or a user id like
// `@anna:example.org`) and whether the widget's Content-Security-Policy lets it connect
// there. The widget cannot do the `.well-known/matrix/client` lookup itself: its CSP allows
// connections only to the homeservers this node lists. So the node does it (one hardened GET:
// byte cap, deadline, no redirects, public addresses only, federationFetch.ts), caches the
// answer, and says `allowed: false` when the homeserver is missing from widget.homeserverUrls,
// so the widget can name that cause instead of "could not reach the server".
// Answers: 200 {base_url, allowed, discovered}; 400 for input that is none of the three.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/lib/logger.ts';
import { sendJson, type RouteHandler } from '../http/HttpServer.ts';
import { RateLimiter } from '../signalling/RateLimiter.ts';
import { federationGet } from '../auth/federationFetch.ts';
import { parseMatrixUserId, parseServerName, serverNameOf } from './types.ts';

/** Cached answers (server name → base URL) and how long they stay. */
const MAX_CACHED = 1000;
const CACHE_TTL_MS = 600_000;
/** Per client address: the sign-in form asks once per attempt. */
const PER_ADDRESS = { ratePerSecond: 2, burst: 10 } as const;
const MAX_LIMITERS = 10_000;
/** Longest input looked at (a URL or a user id). */
const MAX_INPUT = 512;

/** Fetches `/.well-known/matrix/client` of a server name; returns the parsed JSON body, or undefined (404, unreachable, refused). */
export type WellKnownFetch = (serverName: string) => Promise<unknown>;

/** Options of createHomeserverDiscoveryRoute(). */
export interface HomeserverDiscoveryOptions {
  /** Client-API base URLs the widget's CSP allows (the list SfuNode gives widgetResponseHeaders). */
  readonly allowedUrls: readonly string[];
  /** auth.serverUrlOverrides: a server named here is reached at its override (loopback, private DNS). */
  readonly serverUrlOverrides: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** The client's address (trusted proxies), for the rate limit. */
  readonly clientAddress?: (request: IncomingMessage) => string | undefined;
  /** The well-known lookup (tests); default one hardened HTTPS GET. */
  readonly fetchWellKnown?: WellKnownFetch;
}

/** What the route answers. */
export interface DiscoveryAnswer {
  readonly base_url: string;
  /** Whether the widget's CSP lets it connect to base_url. */
  readonly allowed: boolean;
  /** Whether base_url came from `.well-known` (false: typed as a URL, configured, or the fallback https://server). */
  readonly discovered: boolean;
}

function normaliseBaseUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (url.username || url.password || url.search || url.hash) return undefined;
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

function originOf(value: string): string | undefined {
  try {
    return new URL(value).origin;
  } catch {
    return undefined;
  }
}

/** The hardened default lookup: `https://{server}/.well-known/matrix/client`, public addresses only. */
function defaultWellKnown(timeoutMs: number): WellKnownFetch {
  return async (serverName) => {
    const { status, body } = await federationGet(`https://${serverName}/.well-known/matrix/client`, { timeoutMs, allowPrivate: false });
    return status === 200 ? body : undefined;
  };
}

/** Creates the route. */
export function createHomeserverDiscoveryRoute(options: HomeserverDiscoveryOptions): RouteHandler {
  const log = options.logger.child({ component: 'widget' });
  const allowedOrigins = new Set(options.allowedUrls.map(originOf).filter((origin): origin is string => origin !== undefined));
  const configured = new Map<string, string>();
  for (const url of options.allowedUrls) {
    const base = normaliseBaseUrl(url);
    if (base) configured.set(new URL(base).host, base);
  }
  for (const [server, url] of Object.entries(options.serverUrlOverrides)) {
    const base = normaliseBaseUrl(url);
    if (base) configured.set(server, base);
  }
  const fetchWellKnown = options.fetchWellKnown ?? defaultWellKnown(options.timeoutMs);
  const cache = new Map<string, { baseUrl: string; discovered: boolean; expiresAtMs: number }>();
  const limiters = new Map<string, RateLimiter>();
  const addressOf = options.clientAddress ?? ((request: IncomingMessage) => request.socket.remoteAddress);

  const answer = (baseUrl: string, discovered: boolean): DiscoveryAnswer => ({
    base_url: baseUrl,
    allowed: allowedOrigins.has(originOf(baseUrl) ?? ''),
    discovered,
  });

  const resolveServerName = async (serverName: string): Promise<DiscoveryAnswer> => {
    const known = configured.get(serverName);
    if (known) return answer(known, false);
    const cached = cache.get(serverName);
    if (cached && cached.expiresAtMs > Date.now()) return answer(cached.baseUrl, cached.discovered);
    let baseUrl: string | undefined;
    try {
      const body = await fetchWellKnown(serverName);
      const homeserver = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['m.homeserver'] : undefined;
      const raw = typeof homeserver === 'object' && homeserver !== null ? (homeserver as Record<string, unknown>)['base_url'] : undefined;
      baseUrl = typeof raw === 'string' ? normaliseBaseUrl(raw) : undefined;
    } catch (error) {
      log.debug('homeserver discovery failed; falling back to https://server', { serverName, error });
    }
    const result = { baseUrl: baseUrl ?? `https://${serverName}`, discovered: baseUrl !== undefined };
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(serverName, { ...result, expiresAtMs: Date.now() + CACHE_TTL_MS });
    return answer(result.baseUrl, result.discovered);
  };

  return async (request: IncomingMessage, response: ServerResponse, url: URL) => {
    if (request.method !== 'GET') {
      sendJson(response, 405, { errcode: 'M_UNRECOGNIZED', error: 'GET only' });
      return;
    }
    const address = addressOf(request) ?? 'unknown';
    let limiter = limiters.get(address);
    if (!limiter) {
      if (limiters.size >= MAX_LIMITERS) limiters.clear();
      limiter = new RateLimiter(PER_ADDRESS.ratePerSecond, PER_ADDRESS.burst);
      limiters.set(address, limiter);
    }
    if (!limiter.take()) {
      sendJson(response, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests.' });
      return;
    }
    const input = (url.searchParams.get('server') ?? '').trim();
    if (input.length === 0 || input.length > MAX_INPUT) {
      sendJson(response, 400, { errcode: 'M_INVALID_PARAM', error: 'server must be a homeserver URL, a server name or a user id' });
      return;
    }
    if (/^https?:\/\//i.test(input)) {
      const base = normaliseBaseUrl(input);
      if (!base) sendJson(response, 400, { errcode: 'M_INVALID_PARAM', error: 'not a homeserver URL' });
      else sendJson(response, 200, answer(base, false));
      return;
    }
    const userId = parseMatrixUserId(input);
    const serverName = userId ? serverNameOf(userId) : parseServerName(input);
    if (!serverName) {
      sendJson(response, 400, { errcode: 'M_INVALID_PARAM', error: 'server must be a homeserver URL, a server name or a user id' });
      return;
    }
    sendJson(response, 200, await resolveServerName(serverName));
  };
}
