// Bundles the e2e test page (testPage.ts → dist/test-page/test.js + test.html) with the E2EE
// frame-transform worker beside it (the page loads `e2ee-worker.js` relative to itself).
// Tests serve this directory from their SfuNode through `staticDirs`; the production build
// (src/build/buildClient.ts) never includes it, so no deployed node serves a test page.

import { build, type BuildOptions } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { E2EE_WORKER_ENTRY, E2EE_WORKER_FILE } from '../../../src/build/buildClient.ts';

/** Where the test page is built. */
export const TEST_PAGE_DIR = join(import.meta.dirname, '..', '..', '..', 'dist', 'test-page');

/** URL prefix under which tests serve TEST_PAGE_DIR. */
export const TEST_PAGE_PREFIX = '/test-page/';

const TEST_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>sfu test page</title></head>
<body><script type="module" src="test.js"></script></body>
</html>
`;

/** Builds the test page and its worker into TEST_PAGE_DIR; resolves with the directory. */
export async function buildTestPage(): Promise<string> {
  await mkdir(TEST_PAGE_DIR, { recursive: true });
  const common: BuildOptions = {
    bundle: true,
    platform: 'browser',
    target: ['chrome111'],
    sourcemap: 'linked',
    logLevel: 'warning',
  };
  await Promise.all([
    build({ ...common, format: 'esm', entryPoints: [join(import.meta.dirname, 'testPage.ts')], outfile: join(TEST_PAGE_DIR, 'test.js') }),
    build({ ...common, format: 'iife', entryPoints: [E2EE_WORKER_ENTRY], outfile: join(TEST_PAGE_DIR, E2EE_WORKER_FILE) }),
  ]);
  await writeFile(join(TEST_PAGE_DIR, 'test.html'), TEST_HTML);
  return TEST_PAGE_DIR;
}
