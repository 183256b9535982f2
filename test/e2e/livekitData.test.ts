// End to end: data packets between real livekit-client participants (2.22.3, the version
// Element Call ships, and the newest) in Chromium through the livekit edge of a real SfuNode
// (development admission). Reliable and lossy channels both ways with topics and sender
// identities, destinationIdentities among three, a spoofed sender overwritten, a sender
// who reconnected fully still heard, and garbage and oversized messages faulting only their
// sender. Waits are bounded polls; nothing
// about timing is asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { buildLiveKitDataPage, LIVEKIT_DATA_PAGE_PATHS } from './pages/livekit/buildLiveKitDataPage.ts';
import type { LiveKitDataTestApi, PublishOptions, ReceivedData } from './pages/livekit/liveKitDataApi.ts';

const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;

type PageGlobal = { lkData: LiveKitDataTestApi };

/** An unsigned development token (auth.mode none reads the payload only). */
function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, name: identity, nbf: now, exp: now + 600, iss: 'dev', video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

interface DataParticipant {
  readonly name: string;
  readonly page: Page;
  publish(text: string, options: PublishOptions): Promise<number>;
  received(): Promise<ReceivedData[]>;
  state(): Promise<string>;
  close(): Promise<void>;
}

async function join(flavour: keyof typeof LIVEKIT_DATA_PAGE_PATHS, room: string, name: string, others: readonly string[] = []): Promise<DataParticipant> {
  const page = await browser!.newPage(name);
  await page.goto(`http://127.0.0.1:${node!.port}${LIVEKIT_DATA_PAGE_PATHS[flavour]}`);
  await page.waitForFunction(() => 'lkData' in globalThis, undefined, { timeout: 10_000 });
  await page.evaluate((a) => (globalThis as unknown as PageGlobal).lkData.connect(a.url, a.token), { url: `ws://127.0.0.1:${node!.port}`, token: devToken(room, name) });
  const ids = await page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.channelsOpen());
  console.log(`[e2e] ${name} (${flavour}) publisher data channel stream ids: ${JSON.stringify(ids)}`);
  await waitFor(async () => {
    const seen = await page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.remoteIdentities());
    return others.every((other) => seen.includes(other));
  }, { timeoutMs: 20_000, description: `${name} to see ${others.join(', ')}` });
  return {
    name,
    page,
    publish: (text, options) => page.evaluate((a) => (globalThis as unknown as PageGlobal).lkData.publish(a.text, a.options), { text, options }),
    received: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.received()),
    state: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.state()),
    close: async () => {
      await page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.disconnect()).catch(() => undefined);
      await page.close();
    },
  };
}

/** Waits until `participant` received a message with `text`; returns it. */
async function receivedText(participant: DataParticipant, text: string): Promise<ReceivedData> {
  return waitFor(async () => (await participant.received()).find((message) => message.text === text), { timeoutMs: 20_000, description: `${participant.name} to receive "${text}"` });
}

beforeAll(async () => {
  ({ node, workerPids } = await startDevNode(serverLog, {}, 'debug'));
  await buildLiveKitDataPage();
  browser = await launchBrowser();
}, 120_000);

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

describe.each(['shipped', 'latest'] as const)('livekit-client (%s) data packets through the livekit edge', (flavour) => {
  const room = `lk-data-${flavour}`;
  const opened: DataParticipant[] = [];
  afterAll(async () => {
    for (const participant of opened.splice(0)) await participant.close();
  });

  it('relays reliable and lossy messages both ways with their topic and the sender identity', async () => {
    const alice = await join(flavour, room, 'alice');
    opened.push(alice);
    const bob = await join(flavour, room, 'bob', ['alice']);
    opened.push(bob);
    await alice.publish('a→b reliable', { reliable: true, topic: 'chat' });
    await bob.publish('b→a reliable', { reliable: true, topic: 'chat' });
    expect(await receivedText(bob, 'a→b reliable')).toMatchObject({ from: 'alice', text: 'a→b reliable', topic: 'chat', kind: 'reliable' });
    expect(await receivedText(alice, 'b→a reliable')).toMatchObject({ from: 'bob', text: 'b→a reliable', topic: 'chat', kind: 'reliable' });
    // Lossy: loopback loses nothing in practice, but allow a few tries rather than assert on one datagram.
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const text = `${from.name}→${to.name} lossy`;
      await waitFor(
        async () => {
          await from.publish(text, { reliable: false, topic: 'cursor' });
          return (await to.received()).find((message) => message.text === text);
        },
        { timeoutMs: 20_000, intervalMs: 500, description: `${to.name} to receive "${text}"` },
      );
      expect((await to.received()).find((message) => message.text === text)).toMatchObject({ from: from.name, text, topic: 'cursor', kind: 'lossy' });
    }
    // Reported, not asserted: publish → DataReceived across the SFU, 20 reliable messages.
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const sentAt = await alice.publish(`timed ${i}`, { reliable: true, topic: 'timing' });
      latencies.push((await receivedText(bob, `timed ${i}`)).atMs - sentAt);
    }
    latencies.sort((x, y) => x - y);
    console.log(`[e2e] ${flavour} reliable publishData → DataReceived: p50 ${latencies[10]} ms, max ${latencies[19]} ms over 20`);
    expect((await alice.received()).some((message) => message.from === 'alice')).toBe(false);
  });

  it('delivers a message with destinationIdentities only to its target among three', async () => {
    const [alice, bob] = opened;
    const carol = await join(flavour, room, 'carol', ['alice', 'bob']);
    opened.push(carol);
    await waitFor(async () => (await alice!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.remoteIdentities())).includes('carol'), {
      timeoutMs: 20_000,
      description: 'alice to see carol',
    });
    await alice!.publish('for carol only', { reliable: true, topic: 'dm', destinationIdentities: ['carol'] });
    await alice!.publish('for everyone', { reliable: true, topic: 'all' });
    expect(await receivedText(carol, 'for carol only')).toMatchObject({ from: 'alice', topic: 'dm' });
    // Reliable and ordered: once bob has the later broadcast, the earlier direct message would have arrived too.
    await receivedText(bob!, 'for everyone');
    await receivedText(carol, 'for everyone');
    expect((await bob!.received()).some((message) => message.text === 'for carol only')).toBe(false);
  });

  it('overwrites a spoofed sender identity with the real one', async () => {
    const [alice, bob, carol] = opened;
    await carol!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.publishSpoofed('spoofed by carol', 'bob', 'PA_fake', '_reliable'));
    expect(await receivedText(alice!, 'spoofed by carol')).toMatchObject({ from: 'carol', text: 'spoofed by carol', topic: 'spoof', kind: 'reliable' });
    expect(await receivedText(bob!, 'spoofed by carol')).toMatchObject({ from: 'carol' });
  });

  it('delivers reliable messages of a participant who reconnected fully (same sid, its sequence restarted)', async () => {
    const [alice, bob] = opened;
    for (let i = 0; i < 3; i++) await alice!.publish(`before ${i}`, { reliable: true });
    await receivedText(bob!, 'before 2');
    await alice!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.disconnect());
    await waitFor(async () => !(await bob!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.remoteIdentities())).includes('alice'), {
      timeoutMs: 20_000,
      description: 'bob to see alice leave',
    });
    await alice!.page.evaluate((a) => (globalThis as unknown as PageGlobal).lkData.connect(a.url, a.token), { url: `ws://127.0.0.1:${node!.port}`, token: devToken(room, 'alice') });
    await alice!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.channelsOpen());
    await waitFor(async () => (await bob!.page.evaluate(() => (globalThis as unknown as PageGlobal).lkData.remoteIdentities())).includes('alice'), {
      timeoutMs: 20_000,
      description: 'bob to see alice again',
    });
    await alice!.publish('after reconnect', { reliable: true, topic: 'again' });
    expect(await receivedText(bob!, 'after reconnect')).toMatchObject({ from: 'alice', topic: 'again' });
  });

  it('faults a sender of garbage and oversized messages and leaves the others untouched', async () => {
    const [alice, bob] = opened;
    const mallory = await join(flavour, room, 'mallory', ['alice', 'bob']);
    opened.push(mallory);
    await mallory.page.evaluate(() => {
      const api = (globalThis as unknown as PageGlobal).lkData;
      api.sendRaw('_reliable', { fill: 0x41, length: 20_000 });
      for (let i = 0; i < 30; i++) api.sendRaw(i % 2 === 0 ? '_reliable' : '_lossy', [0xff, 0xff, 0xff, 0xff, i]);
    });
    await waitFor(async () => (await mallory.state()).startsWith('disconnected'), { timeoutMs: 30_000, description: 'mallory to be disconnected for its faults' });
    expect(serverLog.some((line) => line.includes('data packet refused') && line.includes('over 16384'))).toBe(true);
    expect(await alice!.state()).toBe('connected');
    expect(await bob!.state()).toBe('connected');
    expect((await alice!.received()).some((message) => message.from === 'mallory')).toBe(false);
    await alice!.publish('still here', { reliable: true, topic: 'after' });
    expect(await receivedText(bob!, 'still here')).toMatchObject({ from: 'alice' });
    const scrape = await node!.metrics.scrape();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(scrape)?.[1] ?? 0);
    const refused = value('sfu_livekit_data_messages_total{channel="reliable",outcome="refused"}') + value('sfu_livekit_data_messages_total{channel="lossy",outcome="refused"}');
    expect(refused).toBeGreaterThanOrEqual(21);
    expect(value('sfu_livekit_data_messages_total{channel="reliable",outcome="relayed"}')).toBeGreaterThan(0);
    expect(value('sfu_livekit_data_bytes_total{channel="lossy"}')).toBeGreaterThan(0);
    expect(value('sfu_livekit_data_deliveries_total{channel="reliable",outcome="sent"}')).toBeGreaterThan(0);
  });
});
