// End to end: a real SfuNode (one mediasoup worker) in-process, the browser
// client bundle served from it, and real Chromium pages with a fake camera
// and microphone. Media is judged from the receivers' getStats(); every wait
// is a bounded poll; timings are printed, never asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';

const MEDIA_TIMEOUT_MS = 45_000;

const serverLog: string[] = [];
/** elapsedMs of every reportFirstMedia the server accepted. */
const reportedFirstMedia: number[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';

/** Prints each page's client-measured consumerCreated → first decoded frame times (skipping consumers in `except`). */
async function printFirstMedia(
  label: string,
  participants: readonly Participant[],
  except: ReadonlySet<string> = new Set(),
): Promise<void> {
  for (const participant of participants) {
    const events = await participant.events();
    for (const event of events.filter((e) => e.name === 'firstMedia' && !except.has(String(e.data['consumerId'])))) {
      const { participantId, elapsedMs } = event.data;
      console.log(`[e2e] ${label}: ${participant.name} first frame of ${String(participantId)} after ${String(elapsedMs)} ms`);
    }
  }
}

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog));
  node.registry.observer.on('conferenceCreated', (conference) =>
    conference.observer.on('firstMediaReported', (elapsedMs) => reportedFirstMedia.push(elapsedMs)),
  );
  browser = await launchBrowser();
});


afterAll(() => tearDown(browser, node, workerPids, serverLog));


dumpLogsOnFailure(serverLog, () => browser);


describe('a three-party call', () => {
  const opened: Participant[] = [];
  afterAll(async () => {
    for (const participant of opened.splice(0)) await participant.leave();
  });

  it('two participants publishing camera and microphone decode each other', async () => {
    const started = performance.now();
    const alice = await openParticipant(browser!, pageUrl, 'alice');
    const bob = await openParticipant(browser!, pageUrl, 'bob');
    opened.push(alice, bob);
    // 1280x720: libwebrtc sends all three simulcast layers only from 960x540 up (two at 640x480).
    await alice.join({ conference: 'call', video: { width: 1280, height: 720 } });
    await bob.join({ conference: 'call' });
    await waitFor(() => receivesFrom(alice, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'alice to decode bob' });
    await waitFor(() => receivesFrom(bob, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'bob to decode alice' });
    await printFirstMedia('two-party', [alice, bob]);
    // Each page reports its video consumer's first frame once (reportFirstMedia).
    await waitFor(() => reportedFirstMedia.length >= 2, { timeoutMs: 10_000, description: 'two reportFirstMedia requests' });
    console.log(`[e2e] two-party call up in ${Math.round(performance.now() - started)} ms`);
  });

  it('a participant joining later receives both publishers', async () => {
    const carol = await openParticipant(browser!, pageUrl, 'carol');
    opened.push(carol);
    await carol.join({ conference: 'call', video: false, audio: false });
    await waitFor(() => receivesFrom(carol, 'alice'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to decode alice' });
    await waitFor(() => receivesFrom(carol, 'bob'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to decode bob' });
    await printFirstMedia('late joiner', [carol]);
  });

  it('setPreferredLayers(0) makes the SFU forward the smallest simulcast layer', async () => {
    const carol = opened.find((p) => p.name === 'carol')!;
    const wide = await waitFor(
      async () => {
        const video = await receivesFrom(carol, 'alice');
        if (video.frameWidth < 1280) throw new Error(`frameWidth still ${video.frameWidth}`);
        return video;
      },
      { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to receive a higher layer of alice' },
    );
    await carol.setPreferredLayers(wide.consumerId, 0);
    const narrow = await waitFor(
      async () => {
        const video = (await carol.stats()).find((s) => s.consumerId === wide.consumerId);
        if (!video || video.frameWidth >= wide.frameWidth) throw new Error(`frameWidth ${video?.frameWidth}`);
        return video;
      },
      { timeoutMs: MEDIA_TIMEOUT_MS, description: 'carol to receive the lowest layer of alice' },
    );
    console.log(
      `[e2e] simulcast: ${wide.frameWidth}x${wide.frameHeight} at the top layer, ${narrow.frameWidth}x${narrow.frameHeight} at layer 0`,
    );
    const alice = opened.find((p) => p.name === 'alice')!;
    const layers = (await alice.publisherStats()).filter((s) => s.kind === 'video');
    console.log(`[e2e] simulcast: alice sends ${layers.map((l) => `${l.rid}=${l.frameWidth}px/${l.framesEncoded}f`).join(', ')}`);
    expect(narrow.frameWidth).toBeLessThan(wide.frameWidth);
  });
});

describe('VP8 temporal layers', () => {
  it('the subscriber decodes at each temporal layer it asks for, and the SFU reports the switch', async () => {
    const frank = await openParticipant(browser!, pageUrl, 'frank');
    const gina = await openParticipant(browser!, pageUrl, 'gina');
    try {
      await frank.join({ conference: 'temporal' });
      await gina.join({ conference: 'temporal' });
      // The client's default simulcast encodings are L1T3: three temporal layers per rid. The
      // lowest spatial layer is always there; mediasoup applies a temporal preference only once
      // the consumer is at the preferred spatial layer (above it, bandwidth may not reach).
      const video = await waitFor(() => receivesFrom(gina, 'frank'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'gina to decode frank' });
      const framesPerLayer: string[] = [];
      for (const temporalLayer of [2, 0, 1, 2]) {
        const eventsBefore = (await gina.events()).length;
        await gina.setPreferredLayers(video.consumerId, 0, temporalLayer);
        await waitFor(
          async () =>
            (await gina.events())
              .slice(eventsBefore)
              .some((event) => event.name === 'layersChanged' && event.data['consumerId'] === video.consumerId && event.data['temporalLayer'] === temporalLayer) ||
            undefined,
          { timeoutMs: MEDIA_TIMEOUT_MS, description: `the SFU to switch gina to temporal layer ${temporalLayer}` },
        );
        const decodedAt = async (): Promise<number> => (await gina.stats()).find((stat) => stat.consumerId === video.consumerId)?.framesDecoded ?? 0;
        const before = await decodedAt();
        const decoded = await waitFor(
          async () => {
            const now = await decodedAt();
            return now > before + 5 ? now - before : undefined;
          },
          { timeoutMs: MEDIA_TIMEOUT_MS, description: `gina to decode frames at temporal layer ${temporalLayer}` },
        );
        const windowStart = await decodedAt();
        await new Promise((resolve) => setTimeout(resolve, 2000));
        framesPerLayer.push(`T${temporalLayer}: ${(await decodedAt()) - windowStart} frames in 2 s`);
        expect(decoded).toBeGreaterThan(5);
      }
      console.log(`[e2e] temporal layers (spatial 0): ${framesPerLayer.join(', ')}`);
    } finally {
      await frank.leave();
      await gina.leave();
    }
  });
});

describe('encoded transforms', () => {
  it('transforms attached through the hooks see frames on both sides and media still decodes', async () => {
    const dave = await openParticipant(browser!, pageUrl, 'dave');
    const erin = await openParticipant(browser!, pageUrl, 'erin');
    try {
      await dave.join({ conference: 'transforms', transform: true });
      await erin.join({ conference: 'transforms', transform: true });
      await waitFor(() => receivesFrom(dave, 'erin'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'dave to decode erin' });
      await waitFor(() => receivesFrom(erin, 'dave'), { timeoutMs: MEDIA_TIMEOUT_MS, description: 'erin to decode dave' });
      for (const participant of [dave, erin]) {
        const counts = await waitFor(
          async () => {
            const c = await participant.transformCounts();
            if (c.sent === 0 || c.received === 0) throw new Error(`${participant.name} transform counts ${JSON.stringify(c)}`);
            return c;
          },
          { timeoutMs: 10_000, description: `${participant.name}'s transforms to see frames` },
        );
        console.log(`[e2e] transforms: ${participant.name} sent ${counts.sent}, received ${counts.received} frames`);
      }
    } finally {
      await dave.leave();
      await erin.leave();
    }
  });
});

describe('demo page', () => {
  it('shows a tile with live video for each remote participant', async () => {
    const pages: Page[] = [];
    try {
      for (const name of ['heidi', 'ivan']) {
        const page = await browser!.newPage(`demo-${name}`);
        pages.push(page);
        await page.goto(`${pageUrl.replace('/test-page/test.html', '/demo/')}?conference=demo-page&participant=${name}&name=${name}`);
      }
      for (const [page, other] of [[pages[0]!, 'ivan'], [pages[1]!, 'heidi']] as const) {
        // A string expression: this file is type-checked without the DOM library.
        await page.waitForFunction(
          `(() => {
            const tile = document.getElementById('tile-${other}');
            const video = tile && tile.querySelector('video');
            return tile !== null && tile.textContent === '${other}' && video !== null && video.videoWidth > 0;
          })()`,
          undefined,
          { timeout: MEDIA_TIMEOUT_MS, polling: 100 },
        );
      }
    } finally {
      for (const page of pages) await page.close();
    }
  });
});

describe('worker restart', () => {
  it('media flows again after the mediasoup worker is killed mid-call', async () => {
    const frank = await openParticipant(browser!, pageUrl, 'frank');
    const grace = await openParticipant(browser!, pageUrl, 'grace');
    try {
      await frank.join({ conference: 'restart' });
      await grace.join({ conference: 'restart' });
      const before = new Set<string>();
      for (const [receiver, publisher] of [[frank, 'grace'], [grace, 'frank']] as const) {
        await waitFor(() => receivesFrom(receiver, publisher), {
          timeoutMs: MEDIA_TIMEOUT_MS,
          description: `${receiver.name} to decode ${publisher}`,
        });
        for (const s of await receiver.stats()) before.add(s.consumerId);
      }

      const pid = node!.pool.slots[0]!.worker.pid;
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');

      for (const participant of [frank, grace]) {
        await waitFor(async () => (await participant.events()).some((e) => e.name === 'reconnected'), {
          timeoutMs: MEDIA_TIMEOUT_MS,
          description: `${participant.name} to rebuild its media`,
        });
      }
      for (const [receiver, publisher] of [[frank, 'grace'], [grace, 'frank']] as const) {
        const first = await waitFor(() => receivesFrom(receiver, publisher, before), {
          timeoutMs: MEDIA_TIMEOUT_MS,
          description: `${receiver.name} to decode ${publisher} on a new consumer`,
        });
        const sinceKillMs = Math.round(performance.now() - killedAt);
        console.log(`[e2e] worker restart: ${receiver.name} decodes ${publisher} again ${sinceKillMs} ms after the kill`);
        await waitFor(
          async () => {
            const now = (await receiver.stats()).find((s) => s.consumerId === first.consumerId);
            if (!now || now.framesDecoded <= first.framesDecoded) throw new Error(`framesDecoded ${now?.framesDecoded}`);
            return true;
          },
          { timeoutMs: 10_000, description: `${receiver.name}'s framesDecoded to keep increasing` },
        );
      }
      expect(node!.pool.slots[0]!.worker.pid).not.toBe(pid);
      await printFirstMedia('after restart', [frank, grace], before);
    } finally {
      await frank.leave();
      await grace.leave();
    }
  });
});
