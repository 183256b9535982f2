// Bundles the livekit-client dynacast/resume test page (liveKitFlowPage.ts) with livekit-client 2.22.3 and with the
// newest (npm alias `livekit-client-latest`) into the test page directory the e2e harness
// serves at /test-page/.

import { TEST_PAGE_PREFIX } from '../buildTestPage.ts';
import { buildLiveKitClientPages } from './buildLiveKitPage.ts';

/** Page paths relative to the node, by livekit-client flavour. */
export const LIVEKIT_FLOW_PAGE_PATHS = { shipped: `${TEST_PAGE_PREFIX}lk-flow.html`, latest: `${TEST_PAGE_PREFIX}lk-flow-latest.html` } as const;

/** Builds both pages. */
export async function buildLiveKitFlowPage(): Promise<void> {
  await buildLiveKitClientPages('liveKitFlowPage.ts', 'lk-flow', 'livekit-client dynacast and resume test page');
}
