// HTTP routes of the SFU node: health, readiness and static client files. The
// same node:http server carries the signalling WebSocket (upgrade on /ws).
// Routes are a small table; unknown paths get a JSON 404.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Logger } from '../../common/lib/logger.ts';

/** A route handler; returns true when it answered. */
export type RouteHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => Promise<void> | void;

/** Readiness inputs: each check names what is not ready, or undefined. */
export type ReadinessCheck = () => string | undefined;

/** Options of createHttpServer(). */
export interface HttpServerOptions {
  readonly logger: Logger;
  /** Checks behind /readyz; all must pass. */
  readonly readiness: readonly ReadinessCheck[];
  /** Extra routes by exact path (e.g. /metrics, /sfu/get). */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
  /** Directories served under a URL prefix, e.g. ['/demo/', dir], optionally with their own headers. */
  readonly staticDirs?: ReadonlyArray<readonly [prefix: string, dir: string, headers?: StaticHeaders]>;
}

/** Extra headers of a static directory's files, by path relative to the directory (a CSP, cache rules); they override the defaults. */
export type StaticHeaders = (file: string) => Readonly<Record<string, string>>;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Sends a JSON body. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(text);
}

/**
 * A route that redirects (302) to `target`, keeping the query. The browser keeps the URL
 * fragment across the redirect, so `/room#?roomId=…` (how hosts open Element Call) reaches
 * `target#?roomId=…`.
 */
export function redirectRoute(target: string): RouteHandler {
  return (request, response, url) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response, 405, { errcode: 'M_UNRECOGNIZED', error: 'Use GET.' });
      return;
    }
    response.writeHead(302, { location: `${target}${url.search}`, 'cache-control': 'no-cache' });
    response.end();
  };
}

/** Creates the node:http server with the routes above. */
export function createHttpServer(options: HttpServerOptions): Server {
  const log = options.logger.child({ component: 'http' });
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    handle(request, response, url).catch((error: unknown) => {
      log.error('HTTP handler failed', { path: url.pathname, error });
      if (!response.headersSent) sendJson(response, 500, { errcode: 'M_UNKNOWN', error: 'internal error' });
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (path === '/healthz') {
      sendJson(response, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      const problems = options.readiness.map((check) => check()).filter((p): p is string => p !== undefined);
      sendJson(response, problems.length === 0 ? 200 : 503, { ready: problems.length === 0, problems });
      return;
    }
    const route = options.routes?.get(path);
    if (route) {
      await route(request, response, url);
      return;
    }
    for (const [prefix, dir, headers] of options.staticDirs ?? []) {
      if (path === prefix.slice(0, -1)) {
        response.writeHead(301, { location: `${prefix}${url.search}` });
        response.end();
        return;
      }
      if (path.startsWith(prefix) && (request.method === 'GET' || request.method === 'HEAD')) {
        await serveFile(response, dir, path.slice(prefix.length) || 'index.html', headers);
        return;
      }
    }
    sendJson(response, 404, { errcode: 'M_NOT_FOUND', error: 'not found' });
  }
  return server;
}

async function serveFile(response: ServerResponse, dir: string, relative: string, headers?: StaticHeaders): Promise<void> {
  const root = normalize(dir + sep);
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    sendJson(response, 400, { errcode: 'M_BAD_JSON', error: 'bad path' });
    return;
  }
  const file = normalize(join(root, decoded));
  if (!file.startsWith(root)) {
    sendJson(response, 404, { errcode: 'M_NOT_FOUND', error: 'not found' });
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    sendJson(response, 404, { errcode: 'M_NOT_FOUND', error: 'not found' });
    return;
  }
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...headers?.(relative),
  });
  response.end(body);
}
