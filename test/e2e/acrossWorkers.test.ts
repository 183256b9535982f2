// End to end: one conference spread over two mediasoup workers. A real SfuNode with two
// workers and a low spread threshold, so the third participant is homed on the second
// worker; real Chromium pages with a fake camera. Everyone decodes everyone (through
// pipe transports between the routers), and when everyone has left no router, transport
// or consumer is left on either worker. Waits are bounded polls; timings are printed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const MEDIA_TIMEOUT_MS = 45_000;

const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog, {
    media: { numWorkers: 2, basePort: await freeMediaBasePort(2) },
    // alice and bob each receive camera + microphone of the other: 4 consumers fill worker 1.
    conference: { spreadConsumersPerWorker: 4 },
  }));
  browser = await launchBrowser();
});

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

describe('a conference across two workers', () => {
  it('participants homed on different workers decode each other, and nothing is left behind after they leave', async () => {
    const started = performance.now();
    const alice = await openParticipant(browser!, pageUrl, 'alice');
    const bob = await openParticipant(browser!, pageUrl, 'bob');
    const carol = await openParticipant(browser!, pageUrl, 'carol');
    const everyone: Participant[] = [alice, bob, carol];
    await alice.join({ conference: 'spread' });
    await bob.join({ conference: 'spread' });
    await waitFor(() => receivesFrom(alice, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice to decode bob' });
    await waitFor(() => receivesFrom(bob, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob to decode alice' });
    const conference = node!.registry.get('spread' as ConferenceId)!;
    await waitFor(() => node!.pool.slots.some((slot) => (node!.pool.load(slot.index)?.consumers ?? 0) >= 4), {
      timeoutMs: 10_000,
      description: 'the first worker carries alice’s and bob’s consumers',
    });

    await carol.join({ conference: 'spread' });
    for (const [viewer, name] of [
      [carol, 'alice'],
      [carol, 'bob'],
      [alice, 'carol'],
      [bob, 'carol'],
    ] as const) {
      await waitFor(() => receivesFrom(viewer, name), { timeoutMs: MEDIA_TIMEOUT_MS, description: `${viewer.name} to decode ${name}` });
    }
    console.log(`[e2e] three participants on two workers decode each other after ${Math.round(performance.now() - started)} ms`);

    const dump = conference.dump();
    const slotOf = (id: string) => dump.participants.find((x) => x.id === id)?.slotIndex;
    expect(slotOf('alice')).toBe(slotOf('bob'));
    expect(slotOf('carol')).not.toBe(slotOf('alice'));
    expect(dump.routers).toHaveLength(2);
    for (const router of dump.routers) expect(router.pipeTransports).toBeGreaterThanOrEqual(1);
    const scraped = await node!.metrics.scrape();
    expect(scraped).toMatch(/^sfu_conferences_spanning_workers 1$/m);
    expect(Number(/^sfu_pipe_transports (\d+)$/m.exec(scraped)?.[1])).toBe(2);
    expect(scraped).toMatch(/^sfu_routers 2$/m);

    for (const participant of everyone) await participant.leave();
    await waitFor(() => conference.closed, { timeoutMs: 10_000, description: 'the emptied conference closed' });
    await waitFor(
      () => node!.pool.slots.every((slot) => node!.pool.load(slot.index)?.routers === 0 && node!.pool.load(slot.index)?.consumers === 0),
      { timeoutMs: 10_000, description: 'no router or consumer left on either worker' },
    );
  });
});
