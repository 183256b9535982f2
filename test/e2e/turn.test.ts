// TURN relay end to end: a real coturn on loopback (its own config, relaying from 127.0.0.2
// to the SFU's 127.0.0.1 only), SFU nodes that hand its URLs out with fresh credentials in
// every join reply, and real Chromium pages. With iceTransportPolicy 'relay' the pages can
// only use TURN candidates: over UDP, over TCP and over TLS (a self-signed certificate the
// test makes), two pages decode each other, the pages see a relayed candidate pair, and the
// SFU sees the relay's address as every transport's remote address. A browser in its own
// network namespace, which reaches only the SFU's HTTP port and coturn's TCP port (no UDP,
// no media port), still gets media with ICE policy 'all', through TURN over TCP. Timings
// are printed, never asserted.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';
import { coturnInstalled, startTestCoturn, startTurnNode, type CoturnInstance, type TurnNode } from '../tools/coturn.ts';
import { buildTestPage } from './pages/buildTestPage.ts';
import { buildClient } from '../../src/build/buildClient.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { canUnshareNetwork, launchBrowserBehindFirewall } from '../tools/blockedNetwork.ts';

const MEDIA_TIMEOUT_MS = 60_000;
const serverLog: string[] = [];
let coturn: CoturnInstance | undefined;
let browser: BrowserHandle | undefined;

beforeAll(async () => {
  if (!coturnInstalled()) throw new Error('coturn is missing: apt-get install coturn (native-config/packages/debian-test.txt)');
  await Promise.all([buildTestPage(), buildClient()]);
  coturn = await startTestCoturn({ tls: true });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await coturn?.stop();
});

/** The media paths a page's client reported (`mediaPath` events). */
async function pathsOf(participant: Participant): Promise<string[]> {
  return (await participant.events()).filter((event) => event.name === 'mediaPath').map((event) => `${String(event.data['direction'])}:${String(event.data['path'])}`);
}

/** Two pages in one conference decoding each other; prints the time to first frame. */
async function twoPageCall(turnNode: TurnNode, label: string, policy: 'all' | 'relay', onBrowser: BrowserHandle): Promise<Participant[]> {
  const alice = await openParticipant(onBrowser, turnNode.pageUrl, `alice-${label}`);
  const bob = await openParticipant(onBrowser, turnNode.pageUrl, `bob-${label}`);
  const started = performance.now();
  await alice.join({ conference: label, iceTransportPolicy: policy, simulcast: false });
  await bob.join({ conference: label, iceTransportPolicy: policy, simulcast: false });
  await waitFor(() => receivesFrom(alice, bob.name), { timeoutMs: MEDIA_TIMEOUT_MS, description: `alice to decode bob (${label})` });
  await waitFor(() => receivesFrom(bob, alice.name), { timeoutMs: MEDIA_TIMEOUT_MS, description: `bob to decode alice (${label})` });
  console.log(`[e2e] ${label}: both pages decoding ${Math.round(performance.now() - started)} ms after the first join`);
  return [alice, bob];
}

async function stopNode(turnNode: TurnNode | undefined): Promise<void> {
  if (!turnNode) return;
  await turnNode.node.stop();
  await waitForExit(turnNode.workerPids);
}

/** The relay-path checks every relayed call shares: pages, SFU tuples and the metric. */
async function expectRelayed(turnNode: TurnNode, participants: readonly Participant[]): Promise<void> {
  for (const participant of participants) {
    const paths = await waitFor(
      async () => {
        const seen = await pathsOf(participant);
        return seen.includes('send:relay') && seen.includes('recv:relay') ? seen : undefined;
      },
      { timeoutMs: 15_000, description: `${participant.name} to report relayed send and receive paths` },
    );
    expect(paths.filter((path) => !path.endsWith(':relay'))).toEqual([]);
  }
  // Two transports per page, each selecting a tuple whose remote end is coturn's relay address.
  expect(turnNode.remoteAddresses.length).toBeGreaterThanOrEqual(4);
  expect(new Set(turnNode.remoteAddresses)).toEqual(new Set([coturn!.relayIp]));
  const scrape = await turnNode.node.metrics.scrape();
  const relayed = Number(/sfu_transport_ice_paths_total\{path="relay"\} (\d+)/.exec(scrape)?.[1]);
  expect(relayed).toBeGreaterThanOrEqual(4);
  expect(scrape).toContain('sfu_transport_ice_paths_total{path="direct"} 0');
}

describe('relay-only pages through a real coturn', () => {
  const cases: ReadonlyArray<readonly [label: string, url: () => string]> = [
    ['udp', () => coturn!.urls.udp],
    ['tcp', () => coturn!.urls.tcp],
    ['tls', () => coturn!.urls.tls!],
  ];
  for (const [label, url] of cases) {
    it(`two pages decode each other through TURN over ${label.toUpperCase()}, and the SFU sees the relay's address`, async () => {
      const turnNode = await startTurnNode(serverLog, coturn!, [url()]);
      // Chromium verifies the TURN server's certificate for turns: URLs; this one is self-signed.
      const pages = label === 'tls' ? await launchBrowser([`--ignore-certificate-errors-spki-list=${coturn!.certificateSpkiSha256!}`]) : browser!;
      const opened: Participant[] = [];
      try {
        opened.push(...(await twoPageCall(turnNode, `relay-${label}`, 'relay', pages)));
        await expectRelayed(turnNode, opened);
      } catch (error) {
        console.log(`--- coturn log ---\n${coturn!.logTail(30)}\n--- browser console ---\n${pages.consoleLines.slice(-40).join('\n')}`);
        throw error;
      } finally {
        for (const participant of opened) await participant.leave();
        await stopNode(turnNode);
        if (pages !== browser) await pages.close();
      }
    });
  }
});

describe('when neither direct nor relay works', () => {
  it('a relay-only page whose TURN credentials coturn refuses reports the media path as failed', async () => {
    // The node signs with another secret than coturn's: every allocation is refused (401), so no relay candidate exists.
    const wrongSecret = join(coturn!.dataDir, 'wrong-secret');
    await writeFile(wrongSecret, 'not-the-secret-of-this-coturn-0001\n', { mode: 0o600 });
    const turnNode = await startTurnNode(serverLog, { ...coturn!, secretFile: wrongSecret }, [coturn!.urls.udp]);
    const page = await openParticipant(browser!, turnNode.pageUrl, 'refused');
    try {
      const started = performance.now();
      await page.join({ conference: 'refused', iceTransportPolicy: 'relay', simulcast: false });
      await waitFor(async () => ((await pathsOf(page)).some((path) => path.endsWith(':failed')) ? true : undefined), {
        timeoutMs: MEDIA_TIMEOUT_MS,
        description: 'the page to report a failed media path',
      });
      console.log(`[e2e] refused credentials: mediaPath failed ${Math.round(performance.now() - started)} ms after the join`);
      expect((await pathsOf(page)).some((path) => path.endsWith(':relay') || path.endsWith(':direct'))).toBe(false);
    } finally {
      await page.leave();
      await stopNode(turnNode);
    }
  });
});

describe('a browser behind a firewall that blocks UDP and every TCP port but the web and TURN ones', () => {
  it('still gets media, through TURN over TCP (Chromium in its own network namespace, ICE policy all)', async (context) => {
    if (!canUnshareNetwork()) context.skip('network namespaces need root (unshare -n)');
    // The node hands out TURN over UDP and over TCP, as in production; only TCP gets through.
    const turnNode = await startTurnNode(serverLog, coturn!, [coturn!.urls.udp, coturn!.urls.tcp]);
    const blocked = await launchBrowserBehindFirewall([turnNode.node.port, coturn!.port]);
    const opened: Participant[] = [];
    try {
      opened.push(...(await twoPageCall(turnNode, 'firewalled', 'all', blocked)));
      await expectRelayed(turnNode, opened);
    } catch (error) {
      console.log(`--- coturn log ---\n${coturn!.logTail(30)}\n--- browser console ---\n${blocked.consoleLines.slice(-40).join('\n')}`);
      throw error;
    } finally {
      for (const participant of opened) await participant.leave();
      await stopNode(turnNode);
      await blocked.close();
    }
  });
});
