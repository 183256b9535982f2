// Response headers of the widget's static files, computed by the SFU node (src/server/SfuNode.ts)
// per request: a strict Content-Security-Policy and cache headers. Pure and DOM-free, so the
// server imports it. The policy allows scripts, styles and workers only from our own origin
// (no inline script, no eval), and network connections only to our origin, our WebSocket
// (and, in a cluster, the WebSockets of the live nodes, where token replies send it) and the
// homeservers the node knows (the dev/loopback homeserver, configured overrides).

/** What the policy needs to know about the deployment. */
export interface WidgetPolicyInput {
  /** The node's public base URL (server.publicUrl or the bound address). */
  readonly publicUrl: string;
  /**
   * Homeserver client-API bases the widget may call: in widget mode js-sdk reads
   * /_matrix/client/versions there; in standalone mode the whole client API. Non-URLs are skipped.
   */
  readonly homeserverUrls: readonly string[];
  /**
   * Base URLs (http(s)) of the cluster's nodes: a token reply sends the widget's WebSocket to
   * the node serving its room, whose origin is not the service URL's. Empty on a single node.
   */
  readonly nodeUrls?: readonly string[];
}

/** Hashed asset names written by the build (`name-HASH.js`, esbuild's `[name]-[hash]`). */
export const HASHED_ASSET = /-[A-Z0-9]{8}\.(?:js|css|map)$/;

/** One year: hashed names change with their content, so a cached copy is never stale. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The WebSocket origin matching an http(s) origin (`https:` → `wss:`). */
function wsOriginOf(origin: string): string {
  return origin.replace(/^http/, 'ws');
}

/** The Content-Security-Policy of the widget's pages. */
export function widgetContentSecurityPolicy(input: WidgetPolicyInput): string {
  const self = originOf(input.publicUrl);
  const connect = new Set<string>(["'self'"]);
  if (self) connect.add(wsOriginOf(self));
  for (const url of input.nodeUrls ?? []) {
    const origin = originOf(url);
    if (origin) connect.add(wsOriginOf(origin));
  }
  for (const url of input.homeserverUrls) {
    const origin = originOf(url);
    if (origin) connect.add(origin);
  }
  return [
    "default-src 'none'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob: mediastream:",
    `connect-src ${[...connect].join(' ')}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Headers for one widget file: the policy on every response, long caching for hashed assets. */
export function widgetResponseHeaders(file: string, input: WidgetPolicyInput): Record<string, string> {
  return {
    'content-security-policy': widgetContentSecurityPolicy(input),
    'cache-control': HASHED_ASSET.test(file) ? IMMUTABLE_CACHE_CONTROL : 'no-cache',
    'referrer-policy': 'no-referrer',
    'permissions-policy': 'camera=(self), microphone=(self), display-capture=(self), autoplay=(self)',
  };
}
