// Bench: join → first remote video frame, for livekit-client 2.22.3 (the livekit edge,
// /rtc/v1 refused then /rtc) and for our own client (protocol v1 at /ws), on one
// in-process SfuNode (development admission, one worker) with Chromium and a fake camera.
// A publisher of each kind stays in the room; each join opens a fresh page, joins without
// publishing, and the time from the join call to the first decoded frame of the publisher
// is measured in the page (polling getStats every 50 ms). Prints p50/p95/max; asserts nothing.
//
// Run: node test/bench/liveKitJoin.ts [joins]   (Node 24; Debian chromium)

import { startDevNode } from '../tools/e2eHarness.ts';
import { launchBrowser } from '../tools/browser.ts';
import { openParticipant } from '../tools/callPage.ts';
import { buildLiveKitPage, LIVEKIT_PAGE_PATH } from '../e2e/pages/livekit/buildLiveKitPage.ts';
import type { LiveKitTestApi } from '../e2e/pages/livekit/liveKitApi.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { waitForExit } from '../tools/workerPid.ts';

const joins = Math.max(20, Number(process.argv[2] ?? 20));
type PageGlobal = { lkTest: LiveKitTestApi };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(label: string, samples: number[]): void {
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} n=${sorted.length}  p50=${percentile(sorted, 50)} ms  p95=${percentile(sorted, 95)} ms  max=${sorted[sorted.length - 1]} ms`);
}

function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

const log: string[] = [];
const { node, workerPids, pageUrl } = await startDevNode(log, {}, 'warn');
await buildLiveKitPage();
const browser = await launchBrowser();
const liveKitUrl = `http://127.0.0.1:${node.port}${LIVEKIT_PAGE_PATH}`;
const signalUrl = `ws://127.0.0.1:${node.port}`;
try {
  // livekit-client: a publisher, then `joins` subscribers one after another.
  const publisher = await browser.newPage('lk-publisher');
  await publisher.goto(liveKitUrl);
  await publisher.waitForFunction(() => 'lkTest' in globalThis);
  await publisher.evaluate((o) => (globalThis as unknown as PageGlobal).lkTest.connect(o), { url: signalUrl, token: devToken('bench-lk', 'publisher'), camera: true, microphone: false });
  const liveKit: number[] = [];
  for (let i = 0; i < joins; i++) {
    const page = await browser.newPage(`lk-${i}`);
    await page.goto(liveKitUrl);
    await page.waitForFunction(() => 'lkTest' in globalThis);
    await page.evaluate((o) => (globalThis as unknown as PageGlobal).lkTest.connect(o), { url: signalUrl, token: devToken('bench-lk', `viewer${i}`), camera: false, microphone: false });
    const firstMs = await waitFor(async () => (await page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.firstFrames()))['publisher'], {
      timeoutMs: 30_000,
      description: `viewer ${i} decodes the publisher`,
    });
    liveKit.push(firstMs);
    await page.evaluate(() => (globalThis as unknown as PageGlobal).lkTest.disconnect());
    await page.close();
  }

  // Our own client, measured from the join call in Node to the first decoded frame (50 ms polls).
  const native = await openParticipant(browser, pageUrl, 'native-publisher');
  await native.join({ conference: 'bench-native', audio: false });
  const ours: number[] = [];
  for (let i = 0; i < joins; i++) {
    const viewer = await openParticipant(browser, pageUrl, `viewer${i}`);
    const started = performance.now();
    await viewer.join({ conference: 'bench-native', video: false, audio: false });
    await waitFor(async () => (await viewer.stats()).some((s) => s.participantId === 'native-publisher' && s.kind === 'video' && s.framesDecoded > 0) || undefined, {
      timeoutMs: 30_000,
      description: `native viewer ${i} decodes the publisher`,
    });
    ours.push(Math.round(performance.now() - started));
    await viewer.leave();
  }
  await native.leave();

  report('livekit-client 2.22.3: connect → first frame', liveKit);
  report('our client: join → first frame', ours);
} finally {
  await browser.close();
  await node.stop();
  await waitForExit(workerPids);
}
