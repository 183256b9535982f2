// Dynacast and resume with the real livekit-client 2.22.3 in Chromium against the livekit edge
// of a real SfuNode (development admission). Dynacast: the publisher's RTCRtpSender encodings
// (what livekit-client switches on SubscribedQualityUpdate) follow what the only subscriber
// asks for, a LiveKit one or one of our own client, and all go off when nobody subscribes. Resume: the node drops a client's
// signalling TCP connection; the client resumes (Reconnected without a full reconnect: same
// track sids), media keeps decoding both ways, and the other participant never sees it leave.
// Waits are bounded polls; timings are printed, never asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import type { Page } from 'playwright-core';
import type { SfuNode } from '../../src/server/SfuNode.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { dumpLogsOnFailure, startDevNode, tearDown } from '../tools/e2eHarness.ts';
import { openParticipant } from '../tools/callPage.ts';
import { buildLiveKitFlowPage, LIVEKIT_FLOW_PAGE_PATHS } from './pages/livekit/buildLiveKitFlowPage.ts';
import type { LiveKitFlowApi, LiveKitFlowConnectOptions } from './pages/livekit/liveKitFlowApi.ts';

const MEDIA_TIMEOUT_MS = 45_000;
/** Short dynacast pause so the test does not wait the production 3 s for every decrease. */
const DYNACAST_PAUSE_MS = 1000;
const serverLog: string[] = [];
let workerPids: number[] = [];
let node: SfuNode | undefined;
let browser: BrowserHandle | undefined;
let pageUrl = '';
/** The latest raw /rtc connection of each identity, so a test can drop it like a broken network. */
const rtcSockets = new Map<string, Socket>();

type PageGlobal = { lkFlow: LiveKitFlowApi };

/** An unsigned development token (auth.mode none reads the payload only). */
function devToken(room: string, identity: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: identity, name: identity, nbf: now, exp: now + 600, iss: 'dev', video: { room, roomJoin: true, canPublish: true, canSubscribe: true } })}.`;
}

interface FlowParticipant {
  readonly name: string;
  readonly page: Page;
  connect(room: string, options?: Partial<LiveKitFlowConnectOptions>): Promise<{ identity: string; sid: string }>;
  encodings(): Promise<Array<{ rid: string; active: boolean }>>;
  videoFrom(identity: string): Promise<{ framesDecoded: number; frameWidth: number }>;
  events(): Promise<string[]>;
  trackSids(): Promise<string[]>;
  disconnect(): Promise<void>;
}

async function open(name: string, flavour: keyof typeof LIVEKIT_FLOW_PAGE_PATHS = 'shipped'): Promise<FlowParticipant> {
  const page = await browser!.newPage(name);
  await page.goto(`http://127.0.0.1:${node!.port}${LIVEKIT_FLOW_PAGE_PATHS[flavour]}`);
  await page.waitForFunction(() => 'lkFlow' in globalThis, undefined, { timeout: 10_000 });
  return {
    name,
    page,
    connect: (room, options = {}) =>
      page.evaluate((o) => (globalThis as unknown as PageGlobal).lkFlow.connect(o), {
        url: `ws://127.0.0.1:${node!.port}`,
        token: devToken(room, name),
        camera: true,
        microphone: true,
        dynacast: true,
        ...options,
      }),
    encodings: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.cameraEncodings()),
    videoFrom: (identity) => page.evaluate((i) => (globalThis as unknown as PageGlobal).lkFlow.videoFrom(i), identity),
    events: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.events()),
    trackSids: () => page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.localTrackSids()),
    disconnect: async () => {
      await page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.disconnect()).catch(() => undefined);
      await page.close();
    },
  };
}

/** Identity (`sub`) of the token in an /rtc upgrade URL. */
function identityOf(url: string | undefined): string | undefined {
  const token = new URL(url ?? '/', 'http://localhost').searchParams.get('access_token');
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  const sub = (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub?: unknown }).sub;
  return typeof sub === 'string' ? sub : undefined;
}

beforeAll(async () => {
  ({ node, workerPids, pageUrl } = await startDevNode(serverLog, { livekit: { dynacastPauseMs: DYNACAST_PAUSE_MS, resumeGraceMs: 20_000 } }, 'debug'));
  node.server.on('upgrade', (request, socket: Socket) => {
    if (!new URL(request.url ?? '/', 'http://localhost').pathname.endsWith('/rtc')) return;
    const identity = identityOf(request.url);
    if (identity) rtcSockets.set(identity, socket);
  });
  await buildLiveKitFlowPage();
  browser = await launchBrowser();
}, 120_000);

afterAll(() => tearDown(browser, node, workerPids, serverLog));

dumpLogsOnFailure(serverLog, () => browser);

const activeOf = (encodings: Array<{ rid: string; active: boolean }>) => encodings.map((e) => `${e.rid}:${e.active ? 'on' : 'off'}`).join(' ');

describe('dynacast with livekit-client 2.22.3', () => {
  it('the publisher turns its upper simulcast layers off when the only subscriber asks for LOW, on again for HIGH, every layer off when nobody subscribes, and on for the next subscriber', async () => {
    const pub = await open('dyn-pub');
    const sub = await open('dyn-sub');
    const late = await open('dyn-late');
    try {
      await pub.connect('lk-dynacast');
      await sub.connect('lk-dynacast', { camera: false, microphone: false });
      await waitFor(async () => (await sub.videoFrom('dyn-pub')).framesDecoded > 0 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'sub decodes pub' });
      const initial = await pub.encodings();
      expect(initial.length).toBeGreaterThanOrEqual(2);
      await waitFor(async () => (await pub.encodings()).every((e) => e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer on while the subscriber wants HIGH' });

      let started = performance.now();
      await sub.page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.setVideoQuality('dyn-pub', 'low'));
      await waitFor(
        async () => {
          const encodings = await pub.encodings();
          return (encodings[0]!.active && encodings.slice(1).every((e) => !e.active)) || undefined;
        },
        { timeoutMs: MEDIA_TIMEOUT_MS, description: 'only the lowest layer on' },
      );
      console.log(`[e2e] dynacast LOW: ${activeOf(await pub.encodings())} after ${Math.round(performance.now() - started)} ms (pause ${DYNACAST_PAUSE_MS} ms)`);
      const lowFrames = (await sub.videoFrom('dyn-pub')).framesDecoded;
      await waitFor(async () => (await sub.videoFrom('dyn-pub')).framesDecoded > lowFrames + 15 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'sub still decodes the lowest layer' });

      started = performance.now();
      await sub.page.evaluate(() => (globalThis as unknown as PageGlobal).lkFlow.setVideoQuality('dyn-pub', 'high'));
      await waitFor(async () => (await pub.encodings()).every((e) => e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer on again' });
      console.log(`[e2e] dynacast HIGH: ${activeOf(await pub.encodings())} after ${Math.round(performance.now() - started)} ms`);
      await waitFor(async () => (await sub.videoFrom('dyn-pub')).frameWidth > 320 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'sub receives the upper layer again' });

      started = performance.now();
      await sub.disconnect();
      await waitFor(async () => (await pub.encodings()).every((e) => !e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer off with no subscriber' });
      console.log(`[e2e] dynacast nobody subscribed: ${activeOf(await pub.encodings())} after ${Math.round(performance.now() - started)} ms`);

      // A subscriber who arrives while every layer is off gets them back and decodes.
      started = performance.now();
      await late.connect('lk-dynacast', { camera: false, microphone: false });
      await waitFor(async () => (await pub.encodings()).every((e) => e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'layers on for a new subscriber' });
      await waitFor(async () => (await late.videoFrom('dyn-pub')).framesDecoded > 0 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'the new subscriber decodes' });
      console.log(`[e2e] dynacast new subscriber after all off: decodes ${Math.round(performance.now() - started)} ms after its connect started`);
    } finally {
      await pub.disconnect();
      await sub.disconnect().catch(() => undefined);
      await late.disconnect();
    }
  });
});

describe('dynacast across both edges', () => {
  it('a subscriber of our own client counts like a LiveKit one: its preferred spatial layer sets the publisher\'s layers, its leave turns them off', async () => {
    const pub = await open('dyn-pub2');
    const native = await openParticipant(browser!, pageUrl, 'dyn-native');
    let nativeLeft = false;
    try {
      await pub.connect('lk-dynacast-mixed', { microphone: false });
      await native.join({ conference: 'lk-dynacast-mixed', video: false, audio: false });
      const consumer = await waitFor(
        async () => (await native.stats()).find((s) => s.participantId === 'dyn-pub2' && s.kind === 'video' && s.framesDecoded > 0),
        { timeoutMs: MEDIA_TIMEOUT_MS, description: 'native decodes the LiveKit publisher' },
      );
      await waitFor(async () => (await pub.encodings()).every((e) => e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer on for the native subscriber' });
      await native.setPreferredLayers(consumer.consumerId, 0);
      await waitFor(
        async () => {
          const encodings = await pub.encodings();
          return (encodings[0]!.active && encodings.slice(1).every((e) => !e.active)) || undefined;
        },
        { timeoutMs: MEDIA_TIMEOUT_MS, description: 'only the lowest layer on for the native subscriber' },
      );
      await native.setPreferredLayers(consumer.consumerId, 2);
      await waitFor(async () => (await pub.encodings()).every((e) => e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer on again' });
      nativeLeft = true;
      await native.leave();
      await waitFor(async () => (await pub.encodings()).every((e) => !e.active) || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'every layer off after the native subscriber left' });
    } finally {
      await pub.disconnect();
      if (!nativeLeft) await native.leave();
    }
  });
});

describe.each([
  ['2.22.3', 'shipped'],
  ['newest', 'latest'],
] as const)('resume with livekit-client %s', (_version, flavour) => {
  it('after the node drops a client\'s signalling connection, the client resumes (no full reconnect), media keeps decoding both ways, and the other participant sees no leave', async () => {
    const ana = await open(`res-ana-${flavour}`, flavour);
    const ben = await open(`res-ben-${flavour}`, flavour);
    const [anaId, benId] = [ana.name, ben.name];
    try {
      await ana.connect(`lk-resume-${flavour}`, { dynacast: false });
      await ben.connect(`lk-resume-${flavour}`, { dynacast: false });
      await waitFor(async () => (await ana.videoFrom(benId)).framesDecoded > 0 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'ana decodes ben' });
      await waitFor(async () => (await ben.videoFrom(anaId)).framesDecoded > 0 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'ben decodes ana' });
      const sidsBefore = await ana.trackSids();
      const eventsBefore = (await ana.events()).length;

      const socket = rtcSockets.get(anaId);
      expect(socket).toBeDefined();
      const droppedAt = performance.now();
      socket!.destroy();
      await waitFor(async () => (await ana.events()).slice(eventsBefore).some((e) => e.endsWith(' reconnected')) || undefined, {
        timeoutMs: MEDIA_TIMEOUT_MS,
        intervalMs: 50,
        description: 'ana resumed (Reconnected)',
      });
      console.log(`[e2e] livekit resume (${flavour}): drop → Reconnected ${Math.round(performance.now() - droppedAt)} ms`);
      const after = (await ana.events()).slice(eventsBefore);
      console.log(`[e2e] livekit resume (${flavour}) events: ${after.join(', ')}`);
      expect(after.some((e) => e.endsWith(' signal-reconnecting'))).toBe(true);
      expect(after.some((e) => e.endsWith(' reconnecting'))).toBe(false);
      expect(await ana.trackSids()).toEqual(sidsBefore);
      expect(serverLog.some((l) => l.includes('livekit session resumed'))).toBe(true);

      const [anaFrames, benFrames] = [(await ana.videoFrom(benId)).framesDecoded, (await ben.videoFrom(anaId)).framesDecoded];
      await waitFor(async () => (await ana.videoFrom(benId)).framesDecoded > anaFrames + 30 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'ana keeps decoding ben' });
      await waitFor(async () => (await ben.videoFrom(anaId)).framesDecoded > benFrames + 30 || undefined, { timeoutMs: MEDIA_TIMEOUT_MS, description: 'ben keeps decoding ana' });
      expect((await ben.events()).some((e) => e.endsWith(` left ${anaId}`))).toBe(false);
      expect(rtcSockets.get(anaId)).not.toBe(socket);
    } finally {
      await ana.disconnect();
      await ben.disconnect();
    }
  });
});
