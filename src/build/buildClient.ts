// Build tooling (runs in Node, at build time): bundles the browser code with esbuild. The
// demo page (src/browser/client/demo/main.ts → dist/client/demo.js + index.html) and the
// E2EE frame-transform worker (src/browser/e2ee/worker/worker.ts → dist/client/e2ee-worker.js,
// a classic script so `new Worker(url)` needs no module-worker support); SfuNode serves
// dist/client/ at /demo/. Then the call widget (buildWidget.ts → dist/widget/).
// Run with Node 24: `node src/build/buildClient.ts`. The e2e test page is not part of
// this build: test/e2e/pages/ builds it for the tests only, so no image ever serves it.

import { build, type BuildOptions } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWidget } from './buildWidget.ts';

const SRC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLIENT_DIR = join(SRC_DIR, 'browser', 'client');

/** Where the bundles go by default (SfuNode's CLIENT_DIST_DIR). */
export const DEFAULT_OUT_DIR = join(SRC_DIR, '..', 'dist', 'client');

/** File name of the E2EE worker bundle inside the output directory (pages load it relative to themselves). */
export const E2EE_WORKER_FILE = 'e2ee-worker.js';

/** Entry of the E2EE frame-transform worker (bundled by this file and by the widget build). */
export const E2EE_WORKER_ENTRY = join(SRC_DIR, 'browser', 'e2ee', 'worker', 'worker.ts');

/** Options of buildClient(). */
export interface BuildClientOptions {
  /** Output directory. Default dist/client/. */
  readonly outDir?: string;
  /** Minify the bundles. Default false: this is a dev and test build, and readable stacks help. */
  readonly minify?: boolean;
}

/** Builds every bundle; resolves with the output directory. */
export async function buildClient(options: BuildClientOptions = {}): Promise<string> {
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  await mkdir(outDir, { recursive: true });
  const common: BuildOptions = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox120', 'safari16'],
    sourcemap: 'linked',
    minify: options.minify ?? false,
    logLevel: 'warning',
  };
  await Promise.all([
    build({ ...common, entryPoints: [join(CLIENT_DIR, 'demo', 'main.ts')], outfile: join(outDir, 'demo.js') }),
    build({ ...common, format: 'iife', entryPoints: [E2EE_WORKER_ENTRY], outfile: join(outDir, E2EE_WORKER_FILE) }),
  ]);
  await copyFile(join(CLIENT_DIR, 'demo', 'index.html'), join(outDir, 'index.html'));
  // The call widget (dist/widget/, served at /widget/); only with the default output, so a
  // test building into its own directory does not touch the served widget.
  if (options.outDir === undefined) await buildWidget();
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildClient({ minify: process.argv.includes('--minify') }).then(
    (outDir) => console.log(`client built into ${outDir}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
