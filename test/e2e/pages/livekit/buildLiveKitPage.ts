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

const html = (title: string, script: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title></head>
<body><script type="module" src="${script}"></script></body>
</html>
`;

/**
 * Bundles one livekit-client test page (`entry`, a file beside this one) twice, with
 * livekit-client 2.22.3 as `{name}.js`/`.html` and with the newest (npm alias
 * `livekit-client-latest`) as `{name}-latest.js`/`.html`; resolves with both page paths
 * relative to the node.
 */
export async function buildLiveKitClientPages(entry: string, name: string, title: string): Promise<{ shipped: string; latest: string }> {
  await mkdir(LIVEKIT_PAGE_DIR, { recursive: true });
  const common = {
    bundle: true,
    platform: 'browser' as const,
    target: ['chrome111'],
    format: 'esm' as const,
    sourcemap: 'linked' as const,
    logLevel: 'warning' as const,
    entryPoints: [join(import.meta.dirname, entry)],
  };
  await Promise.all([
    build({ ...common, outfile: join(LIVEKIT_PAGE_DIR, `${name}.js`) }),
    build({ ...common, outfile: join(LIVEKIT_PAGE_DIR, `${name}-latest.js`), alias: { 'livekit-client': 'livekit-client-latest' } }),
    writeFile(join(LIVEKIT_PAGE_DIR, `${name}.html`), html(title, `${name}.js`)),
    writeFile(join(LIVEKIT_PAGE_DIR, `${name}-latest.html`), html(title, `${name}-latest.js`)),
  ]);
  return { shipped: `${TEST_PAGE_PREFIX}${name}.html`, latest: `${TEST_PAGE_PREFIX}${name}-latest.html` };
}

/** Builds the page; resolves with its directory. */
export async function buildLiveKitPage(): Promise<string> {
  await buildLiveKitClientPages('liveKitPage.ts', 'lk', 'livekit-client test page');
  // livekit-client's E2EE worker (2.22.3), loaded by the page as a module worker.
  const require = createRequire(import.meta.url);
  const worker = join(dirname(require.resolve('livekit-client')), 'livekit-client.e2ee.worker.mjs');
  await copyFile(worker, join(LIVEKIT_PAGE_DIR, 'lk-e2ee-worker.js'));
  return LIVEKIT_PAGE_DIR;
}
