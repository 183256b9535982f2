// Drives one test page (test/e2e/pages/testPage.ts) from Node: typed calls into
// its `window.sfuTest`, and the media check every browser test uses.

import type { Page } from 'playwright-core';
import type { ConsumerStat, ProducerStat, SfuTestApi, TestEvent, TestJoinOptions } from '../e2e/pages/testApi.ts';
import type { BrowserHandle } from './browser.ts';

/** A test page and typed calls into its `window.sfuTest`. */
export interface Participant {
  readonly name: string;
  readonly page: Page;
  join(options: Omit<TestJoinOptions, 'participant'>): Promise<string>;
  stats(): Promise<ConsumerStat[]>;
  publisherStats(): Promise<ProducerStat[]>;
  events(): Promise<TestEvent[]>;
  transformCounts(): Promise<{ sent: number; received: number }>;
  setPreferredLayers(consumerId: string, spatialLayer: number, temporalLayer?: number): Promise<void>;
  leave(): Promise<void>;
}

/** The test page's global; page.evaluate() callbacks are serialised, so each names it inline. */
type PageGlobal = { sfuTest: SfuTestApi };

export async function openParticipant(browser: BrowserHandle, pageUrl: string, name: string): Promise<Participant> {
  const page = await browser.newPage(name);
  await page.goto(pageUrl);
  await page.waitForFunction(() => 'sfuTest' in globalThis, undefined, { timeout: 10_000 });
  return {
    name,
    page,
    join: async (options) => {
      const joined = await page.evaluate((o) => (globalThis as unknown as PageGlobal).sfuTest.join(o), { ...options, participant: name });
      return joined.participantId;
    },
    stats: () => page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.stats()),
    publisherStats: () => page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.publisherStats()),
    events: () => page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.events()),
    transformCounts: () => page.evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.transformCounts()),
    setPreferredLayers: (consumerId, spatialLayer, temporalLayer) =>
      page.evaluate(
        ([id, spatial, temporal]) => (globalThis as unknown as PageGlobal).sfuTest.setPreferredLayers(id, spatial, temporal ?? undefined),
        [consumerId, spatialLayer, temporalLayer ?? null] as const,
      ),
    leave: async () => {
      // The page may already be gone (crashed or closed by a failing test); closing it below still ends its session.
      await page
        .evaluate(() => (globalThis as unknown as PageGlobal).sfuTest.leave())
        .catch((error: unknown) => console.log(`[e2e] ${name}: leave failed: ${String(error)}`));
      await page.close();
    },
  };
}

/** Throws (so waitFor reports it) unless `receiver` decodes video and receives audio from `publisher`. */
export async function receivesFrom(receiver: Participant, publisher: string, after: ReadonlySet<string> = new Set()): Promise<ConsumerStat> {
  const stats = (await receiver.stats()).filter((s) => s.participantId === publisher && !after.has(s.consumerId));
  const video = stats.find((s) => s.kind === 'video');
  const audio = stats.find((s) => s.kind === 'audio');
  if (!video || video.framesDecoded === 0 || !audio || audio.packetsReceived === 0) {
    throw new Error(`${receiver.name} from ${publisher}: ${JSON.stringify(stats)}`);
  }
  return video;
}

