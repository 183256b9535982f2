// Bench: join → first remote video frame, direct vs relayed through a real coturn over UDP,
// TCP and TLS. One coturn on loopback (test/tools/coturn.ts, self-signed certificate for
// TLS, accepted by Chromium through --ignore-certificate-errors-spki-list), one SFU node per
// path (dev admission, one worker) handing out only that path's TURN URL; a publisher page
// sends its fake camera, then each join opens a fresh page that joins without publishing
// (ICE policy `relay` for the relayed paths) and the time from the join call to the first
// decoded frame of the publisher is measured (getStats polled every 50 ms). Prints
// p50/p95/max per path; asserts nothing.
//
// Run: node test/bench/turnJoin.ts [joins per path, at least 10]   (Node 24; Debian chromium and coturn)

import { launchBrowser } from '../tools/browser.ts';
import { openParticipant } from '../tools/callPage.ts';
import { coturnInstalled, startTestCoturn, startTurnNode } from '../tools/coturn.ts';
import { buildTestPage } from '../e2e/pages/buildTestPage.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { waitForExit } from '../tools/workerPid.ts';

const joins = Math.max(10, Number(process.argv[2] ?? 10));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

if (!coturnInstalled()) {
  console.log('coturn is not installed (apt-get install coturn): skipped');
  process.exit(0);
}
await buildTestPage();
const coturn = await startTestCoturn({ tls: true });
const browser = await launchBrowser([`--ignore-certificate-errors-spki-list=${coturn.certificateSpkiSha256!}`]);
const paths: ReadonlyArray<readonly [label: string, urls: string[], policy: 'all' | 'relay']> = [
  ['direct (UDP to the SFU)', [], 'all'],
  ['relayed: TURN over UDP', [coturn.urls.udp], 'relay'],
  ['relayed: TURN over TCP', [coturn.urls.tcp], 'relay'],
  ['relayed: TURN over TLS', [coturn.urls.tls!], 'relay'],
];
const results: Array<readonly [string, number[]]> = [];
try {
  for (const [label, urls, policy] of paths) {
    const log: string[] = [];
    const turnNode = await startTurnNode(log, coturn, urls, 'warn');
    try {
      const publisher = await openParticipant(browser, turnNode.pageUrl, 'publisher');
      await publisher.join({ conference: 'bench-turn', audio: false, simulcast: false, iceTransportPolicy: policy });
      const samples: number[] = [];
      for (let i = 0; i < joins; i++) {
        const viewer = await openParticipant(browser, turnNode.pageUrl, `viewer${i}`);
        const started = performance.now();
        await viewer.join({ conference: 'bench-turn', video: false, audio: false, iceTransportPolicy: policy });
        await waitFor(async () => (await viewer.stats()).some((s) => s.participantId === 'publisher' && s.kind === 'video' && s.framesDecoded > 0) || undefined, {
          timeoutMs: 60_000,
          intervalMs: 50,
          description: `${label}: viewer ${i} decodes the publisher`,
        });
        samples.push(Math.round(performance.now() - started));
        await viewer.leave();
      }
      await publisher.leave();
      const relayed = turnNode.remoteAddresses.filter((address) => address === coturn.relayIp).length;
      console.log(`${label}: ${relayed} of ${turnNode.remoteAddresses.length} selected tuples came from the relay address`);
      results.push([label, samples]);
    } finally {
      await turnNode.node.stop();
      await waitForExit(turnNode.workerPids);
    }
  }
} finally {
  await browser.close();
  await coturn.stop();
}
console.log('\njoin → first decoded frame of the publisher (loopback, 2 cores shared with other jobs):');
for (const [label, samples] of results) {
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(`${label.padEnd(26)} n=${sorted.length}  p50=${percentile(sorted, 50)} ms  p95=${percentile(sorted, 95)} ms  max=${sorted[sorted.length - 1]} ms`);
}
