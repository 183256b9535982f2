// Builds the test widget host (page/host.ts → one ES module, plus the Rust crypto wasm the
// host's matrix-js-sdk loads next to it) and serves it from its own loopback port, so host
// and widget have different origins as with Element Web and a deployed widget.

import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

/** Where the host page is built. */
export const HOST_OUT_DIR = join(ROOT, 'dist', 'widget-host');

const indexHtml = (title: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title><link rel="stylesheet" href="host.css"></head>
<body><div id="frame"></div><script type="module" src="host.js"></script></body>
</html>
`;

const HOST_CSS = `html, body { margin: 0; height: 100%; background: #000; }
#frame, iframe { width: 100%; height: 100%; border: 0; display: block; }
`;

/**
 * Bundles a host page (`entry`: its host.ts, with matrix-js-sdk's Rust crypto) into `outDir`:
 * host.js, index.html, host.css and the crypto WASM where the module fetches it.
 */
export async function buildHostPage(entry: string, outDir: string, title: string): Promise<void> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(join(outDir, 'pkg'), { recursive: true });
  await build({
    entryPoints: [entry],
    outfile: join(outDir, 'host.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111'],
    sourcemap: 'linked',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    logLevel: 'warning',
  });
  // matrix-sdk-crypto-wasm fetches `./pkg/<name>.wasm` relative to the module that loads it.
  const wasm = join(ROOT, 'node_modules', '@matrix-org', 'matrix-sdk-crypto-wasm', 'pkg', 'matrix_sdk_crypto_wasm_bg.wasm');
  await copyFile(wasm, join(outDir, 'pkg', 'matrix_sdk_crypto_wasm_bg.wasm'));
  await writeFile(join(outDir, 'index.html'), indexHtml(title));
  await writeFile(join(outDir, 'host.css'), HOST_CSS);
}

/** Bundles the host page into HOST_OUT_DIR. */
export async function buildHost(): Promise<void> {
  await buildHostPage(join(HERE, 'page', 'host.ts'), HOST_OUT_DIR, 'Test widget host');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

/** A static server of HOST_OUT_DIR on 127.0.0.1; `url` is its base. */
export async function serveHost(): Promise<{ url: string; close(): Promise<void> }> {
  const root = normalize(HOST_OUT_DIR + sep);
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = normalize(join(root, path === '/' ? 'index.html' : decodeURIComponent(path)));
    if (!file.startsWith(root)) {
      response.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
