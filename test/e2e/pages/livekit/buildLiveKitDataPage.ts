// Bundles the livekit-client data test page (liveKitDataPage.ts) twice, with livekit-client
// 2.22.3 and with the newest (npm alias `livekit-client-latest`), into the test page
// directory the e2e harness serves at /test-page/.

import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_PAGE_DIR, TEST_PAGE_PREFIX } from '../buildTestPage.ts';

/** Page paths relative to the node, by livekit-client flavour. */
export const LIVEKIT_DATA_PAGE_PATHS = { shipped: `${TEST_PAGE_PREFIX}lk-data.html`, latest: `${TEST_PAGE_PREFIX}lk-data-latest.html` } as const;

const html = (script: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>livekit-client data test page</title></head>
<body><script type="module" src="${script}"></script></body>
</html>
`;

/** Builds both pages. */
export async function buildLiveKitDataPage(): Promise<void> {
  await mkdir(TEST_PAGE_DIR, { recursive: true });
  const common = {
    bundle: true,
    platform: 'browser' as const,
    target: ['chrome111'],
    format: 'esm' as const,
    sourcemap: 'linked' as const,
    logLevel: 'warning' as const,
    entryPoints: [join(import.meta.dirname, 'liveKitDataPage.ts')],
  };
  await Promise.all([
    build({ ...common, outfile: join(TEST_PAGE_DIR, 'lk-data.js') }),
    build({ ...common, outfile: join(TEST_PAGE_DIR, 'lk-data-latest.js'), alias: { 'livekit-client': 'livekit-client-latest' } }),
    writeFile(join(TEST_PAGE_DIR, 'lk-data.html'), html('lk-data.js')),
    writeFile(join(TEST_PAGE_DIR, 'lk-data-latest.html'), html('lk-data-latest.js')),
  ]);
}
