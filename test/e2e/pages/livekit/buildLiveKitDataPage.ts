// Bundles the livekit-client data test page (liveKitDataPage.ts) with livekit-client 2.22.3 and with the
// newest (npm alias `livekit-client-latest`) into the test page directory the e2e harness
// serves at /test-page/.

import { TEST_PAGE_PREFIX } from '../buildTestPage.ts';
import { buildLiveKitClientPages } from './buildLiveKitPage.ts';

/** Page paths relative to the node, by livekit-client flavour. */
export const LIVEKIT_DATA_PAGE_PATHS = { shipped: `${TEST_PAGE_PREFIX}lk-data.html`, latest: `${TEST_PAGE_PREFIX}lk-data-latest.html` } as const;

/** Builds both pages. */
export async function buildLiveKitDataPage(): Promise<void> {
  await buildLiveKitClientPages('liveKitDataPage.ts', 'lk-data', 'livekit-client data test page');
}
