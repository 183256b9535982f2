// Builds the Element Call host page (page/host.ts → one ES module, plus the Rust crypto wasm
// its matrix-js-sdk loads) and serves it together with the installed Element Call build
// (@element-hq/element-call-embedded) from one loopback origin: the host at `/`, Element Call
// at `/widgets/element-call/`, the path Element Web serves its embedded copy from.

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildHostPage } from '../widgetHost/hostServer.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

/** Where the host page is built. */
export const EC_HOST_OUT_DIR = join(ROOT, 'dist', 'element-call-host');
/** The installed Element Call build. */
export const ELEMENT_CALL_DIR = join(ROOT, 'node_modules', '@element-hq', 'element-call-embedded', 'dist');
/** Where Element Call is served on the host's origin. */
export const ELEMENT_CALL_PREFIX = '/widgets/element-call/';

/** Bundles the host page into EC_HOST_OUT_DIR. */
export async function buildElementCallHost(): Promise<void> {
  await buildHostPage(join(HERE, 'page', 'host.ts'), EC_HOST_OUT_DIR, 'Element Call host');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
};

/**
 * What the served `config.json` adds to the package's own (settings an Element Call deployment
 * may set), for a shared 2-core machine whose load average passed 30 (up to 80) while other
 * suites ran:
 * - the delayed leave that keeps a membership alive gets 60 s instead of 18 s and each restart
 *   15 s to answer instead of 2 s: a restart through widget API, host and Synapse sometimes
 *   took longer than 2 s, Element Call then paused its tracks ("probably left") and Synapse
 *   fired the leave, ending the call for reasons unrelated to the SFU;
 * - the camera is captured at 360p and 15 fps instead of 720p and 30 fps: three Element Call
 *   pages encoding simulcast and encrypting every frame in JavaScript otherwise starve.
 */
export const ELEMENT_CALL_CONFIG_OVERRIDES = {
  matrix_rtc_session: { delayed_leave: { delay_ms: 60_000, restart_ms: 4_000, restart_timeout_ms: 15_000 } },
  media_quality: { video: { max_resolution: 360, max_framerate: 15 } },
} as const;

async function elementCallConfig(): Promise<Buffer> {
  const shipped = JSON.parse(await readFile(join(ELEMENT_CALL_DIR, 'config.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
  const merged = {
    ...shipped,
    matrix_rtc_session: { ...shipped['matrix_rtc_session'], ...ELEMENT_CALL_CONFIG_OVERRIDES.matrix_rtc_session },
    media_quality: { ...shipped['media_quality'], ...ELEMENT_CALL_CONFIG_OVERRIDES.media_quality },
  };
  return Buffer.from(JSON.stringify(merged));
}

/** Resolves a URL path inside `root`, or undefined when it escapes it. */
function inside(root: string, path: string): string | undefined {
  const file = normalize(join(root, decodeURIComponent(path)));
  return file.startsWith(root) ? file : undefined;
}

/** A static server of the host page and Element Call on 127.0.0.1; `url` is its base. */
export async function serveElementCallHost(): Promise<{ url: string; close(): Promise<void> }> {
  const hostRoot = normalize(EC_HOST_OUT_DIR + sep);
  const callRoot = normalize(ELEMENT_CALL_DIR + sep);
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = path.startsWith(ELEMENT_CALL_PREFIX)
      ? inside(callRoot, path.slice(ELEMENT_CALL_PREFIX.length) || 'index.html')
      : inside(hostRoot, path === '/' ? 'index.html' : path);
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    const body = path === `${ELEMENT_CALL_PREFIX}config.json` ? elementCallConfig() : readFile(file);
    body.then(
      (body) => response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
