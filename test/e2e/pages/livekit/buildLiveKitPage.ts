// Bundles the livekit-client test page (liveKitPage.ts → lk.js + lk.html) into the test
// page directory (dist/test-page), which the e2e harness already serves at /test-page/.

import { build } from 'esbuild';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TEST_PAGE_DIR, TEST_PAGE_PREFIX } from '../buildTestPage.ts';

/** Where the page is built: beside the native test page. */
export const LIVEKIT_PAGE_DIR = TEST_PAGE_DIR;

/** URL of the page relative to the node: TEST_PAGE_PREFIX + this. */
export const LIVEKIT_PAGE_PATH = `${TEST_PAGE_PREFIX}lk.html`;

/** The same page bundled with the newest livekit-client (npm alias `livekit-client-latest`). */
export const LIVEKIT_LATEST_PAGE_PATH = `${TEST_PAGE_PREFIX}lk-latest.html`;

const html = (script: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>livekit-client test page</title></head>
<body><script type="module" src="${script}"></script></body>
</html>
`;

/** Builds the page; resolves with its directory. */
export async function buildLiveKitPage(): Promise<string> {
  await mkdir(LIVEKIT_PAGE_DIR, { recursive: true });
  const common = {
    bundle: true,
    platform: 'browser' as const,
    target: ['chrome111'],
    format: 'esm' as const,
    sourcemap: 'linked' as const,
    logLevel: 'warning' as const,
    entryPoints: [join(import.meta.dirname, 'liveKitPage.ts')],
  };
  await Promise.all([
    build({ ...common, outfile: join(LIVEKIT_PAGE_DIR, 'lk.js') }),
    build({ ...common, outfile: join(LIVEKIT_PAGE_DIR, 'lk-latest.js'), alias: { 'livekit-client': 'livekit-client-latest' } }),
  ]);
  // livekit-client's E2EE worker (2.22.3), loaded by the page as a module worker.
  const require = createRequire(import.meta.url);
  const worker = join(dirname(require.resolve('livekit-client')), 'livekit-client.e2ee.worker.mjs');
  await copyFile(worker, join(LIVEKIT_PAGE_DIR, 'lk-e2ee-worker.js'));
  await writeFile(join(LIVEKIT_PAGE_DIR, 'lk.html'), html('lk.js'));
  await writeFile(join(LIVEKIT_PAGE_DIR, 'lk-latest.html'), html('lk-latest.js'));
  return LIVEKIT_PAGE_DIR;
}
