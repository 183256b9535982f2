// Element Call's host protocol in our widget, in Chromium against the test Synapse and a real
// SFU node, with a real matrix-widget-api ClientWidgetApi host (test/e2e/widgetHost): the host
// launches the widget the way Element Web launches Element Call (`<sfu>/room#?…`, call
// parameters in the fragment, widgetId and parentUrl in the query, `intent`, `theme`), and
// observes, in order, what Element Web's call handling waits for: io.element.join and
// set_always_on_screen(true) after joining, io.element.device_mute on every mute change (and
// as the reply to its own device_mute), and on every leave im.vector.hangup,
// set_always_on_screen(false), then io.element.close (also when the host started it). The
// lobby appears for `intent=join_existing` and is skipped with `skipLobby`. The membership the
// widget writes names this SFU as a `livekit` focus first, and the SFU admits it.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import '../integration/synapse/context.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { buildWidget } from '../../src/build/buildWidget.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../tools/browser.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { buildHost, serveHost } from './widgetHost/hostServer.ts';
import type { HostGlobal, WidgetHostApi } from './widgetHost/hostApi.ts';
import { clickControl, controlState, seesVideoOf, tiles, widgetFrame } from './widgetHost/widgetPage.ts';

const synapse = inject('synapse');
const ARTIFACTS = join(import.meta.dirname, '..', '.artifacts');
const suffix = Date.now().toString(36);
const serverLog: string[] = [];
const consoleLines: string[] = [];
const pids: number[] = [];
let node: SfuNode;
let hostServer: Awaited<ReturnType<typeof serveHost>>;
let context: BrowserContext;
let profileDir: string | undefined;
let roomId: string;
let anna: RegisteredUser;
let bengt: RegisteredUser;

interface Hosted {
  readonly page: Page;
  readonly frame: Frame;
}

/** Opens the host page; `extra` are widget parameters (in the fragment with `fragment`). */
async function openHosted(label: string, user: RegisteredUser, options: { widget: string; fragment: boolean; extra: string; theme?: string; widgetBaseUrl?: string }): Promise<Hosted> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'debug' && !message.text().startsWith('[PostmessageTransport]')) consoleLines.push(`[${label}] ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleLines.push(`[${label}] pageerror: ${error.message}`));
  await page.setViewportSize({ width: 1000, height: 700 });
  const query = new URLSearchParams({
    hs: synapse.baseUrl,
    user: user.userId,
    device: user.deviceId,
    token: user.accessToken,
    room: roomId,
    widget: options.widget,
    sfu: node.publicUrl,
    lang: 'en',
    crypto: '0',
    e2ee: '0',
    fragment: options.fragment ? '1' : '0',
    extra: options.extra,
    ...(options.theme ? { theme: options.theme } : {}),
    ...(options.widgetBaseUrl ? { widgetBaseUrl: options.widgetBaseUrl } : {}),
  });
  await page.goto(`${hostServer.url}/?${query}`);
  await waitFor(async () => {
    const state = await page.evaluate(() => ({ ready: (globalThis as unknown as HostGlobal).widgetHost.ready, error: (globalThis as unknown as HostGlobal).widgetHost.error }));
    if (state.error) throw new Error(`host failed: ${state.error}`);
    return state.ready;
  }, { timeoutMs: 30_000, description: `${label}'s host ready` });
  return { page, frame: await widgetFrame(page) };
}

function hostState(page: Page): Promise<Pick<WidgetHostApi, 'fromWidget' | 'fromWidgetData' | 'widgetUrl' | 'approved'>> {
  return page.evaluate(() => {
    const host = (globalThis as unknown as HostGlobal).widgetHost;
    return { fromWidget: [...host.fromWidget], fromWidgetData: JSON.parse(JSON.stringify(host.fromWidgetData)) as WidgetHostApi['fromWidgetData'], widgetUrl: host.widgetUrl, approved: [...host.approved] };
  });
}

/** The actions the host saw, with set_always_on_screen's value and device_mute's state folded into the name. */
async function observed(page: Page): Promise<string[]> {
  return (await hostState(page)).fromWidgetData.map(({ action, data }) => {
    const record = (data ?? {}) as Record<string, unknown>;
    if (action === 'set_always_on_screen') return `${action}:${String(record['value'])}`;
    if (action === 'io.element.device_mute') return `${action}:${record['audio_enabled'] ? 'a' : '-'}${record['video_enabled'] ? 'v' : '-'}`;
    return action;
  });
}

function membership(user: RegisteredUser): Promise<Record<string, unknown> | null> {
  return new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user })
    .request<Record<string, unknown>>('GET', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/org.matrix.msc3401.call.member/${encodeURIComponent(`_${user.userId}_${user.deviceId}_m.call`)}`)
    .catch(() => null);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name) });
}

function dumpOnFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    console.log(`--- browser console (last 60) ---\n${consoleLines.slice(-60).join('\n')}`);
    console.log(`--- server log (last 30) ---\n${serverLog.slice(-30).join('\n')}`);
    throw error;
  });
}

beforeAll(async () => {
  await Promise.all([buildWidget(), buildHost()]);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfuhp${suffix}`, 'bot-password');
  [anna, bengt] = (await Promise.all(['anna', 'bengt'].map((name) => registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}hp${suffix}`, 'hp-password')))) as [RegisteredUser, RegisteredUser];
  const annaHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...anna });
  roomId = await annaHttp.createRoom({ invite: [bot.userId, bengt.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  await annaHttp.sendState(roomId as never, 'm.room.name', '', { name: 'Protocol room' });
  await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...bengt }).join(roomId as never);
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-widget-host-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }) });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 15_000, description: 'SFU account joined' });
  hostServer = await serveHost();
  profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-widget-host-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'] });
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await hostServer?.close();
  await node?.stop();
  await waitForExit(pids);
});

describe('Element Call\'s host protocol in the widget', () => {
  it('serves the widget at /room too, keeping the query (the fragment stays with the browser)', async () => {
    for (const path of ['/room', '/room/']) {
      const response = await fetch(`${node.publicUrl}${path}?widgetId=w1`, { redirect: 'manual' });
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('/widget/?widgetId=w1');
    }
  });

  it('launched like Element Call (/room#?…, intent=join_existing, light theme): lobby, join, mute, host hang-up, each action in order', () =>
    dumpOnFailure(async () => {
      const a = await openHosted('anna', anna, {
        widget: `${node.publicUrl}/room`,
        fragment: true,
        extra: 'intent=join_existing&perParticipantE2EE=false&theme=$org.matrix.msc2873.client_theme',
        theme: 'light',
      });
      const { widgetUrl } = await hostState(a.page);
      const url = new URL(widgetUrl);
      expect(url.pathname).toBe('/room');
      expect(url.searchParams.has('widgetId')).toBe(true);
      expect(url.searchParams.has('roomId')).toBe(false);
      expect(url.hash).toContain(`roomId=${encodeURIComponent(roomId)}`);
      expect(a.frame.url()).toContain('/widget/');

      // intent=join_existing presets skipLobby=false: the lobby, in the light theme; nothing written yet.
      await a.frame.waitForSelector('.screen-lobby', { timeout: 30_000 });
      expect((await hostState(a.page)).approved).toContain('m.always_on_screen');
      expect(await a.frame.evaluate(() => (globalThis as unknown as { document: { documentElement: { dataset: Record<string, string> } } }).document.documentElement.dataset['theme'])).toBe('light');
      await waitFor(async () => (await a.frame.textContent('.screen-lobby h1')) === 'Join the call in Protocol room', { timeoutMs: 10_000, description: 'lobby names the room' });
      await a.frame.waitForSelector('.lobby-has-video', { timeout: 15_000 });
      await screenshot(a.page, 'widget-lobby-light-en.png');
      expect(await membership(anna)).toBeNull();
      // The host turns the camera off before joining (Element Call applies this to its lobby).
      expect(await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.deviceMute({ video_enabled: false }))).toEqual({ audio_enabled: true, video_enabled: false });
      expect(await a.frame.getAttribute('button[data-control="lobby-camera"]', 'aria-pressed')).toBe('false');
      expect(await observed(a.page)).toEqual([]);

      await a.frame.click('button[data-action="join"]');
      await a.frame.waitForSelector('.call', { timeout: 30_000 });
      await waitFor(async () => (await observed(a.page)).length >= 3, { timeoutMs: 20_000, description: 'join actions' });
      expect(await observed(a.page)).toEqual(['io.element.join', 'set_always_on_screen:true', 'io.element.device_mute:a-']);
      expect(await controlState(a.frame, 'camera')).toBe('off');

      // The membership names this SFU as a livekit focus first (Element Call reads that), our transport second; the SFU admitted it.
      expect(await membership(anna)).toMatchObject({
        focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
        foci_preferred: [{ type: 'livekit', livekit_service_url: node.publicUrl }, { type: 'org.matrix_sfu.mediasoup', sfu_service_url: node.publicUrl }],
      });
      expect(serverLog.some((line) => line.includes('"msg":"token issued"'))).toBe(true);

      // A mute the person makes is reported; the host's own device_mute is answered with the resulting state and reported too.
      await clickControl(a.frame, 'microphone');
      await waitFor(async () => (await observed(a.page)).at(-1) === 'io.element.device_mute:--', { timeoutMs: 10_000, description: 'mute reported' });
      expect(await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.deviceMute({ audio_enabled: true, video_enabled: true }))).toEqual({ audio_enabled: true, video_enabled: true });
      await waitFor(async () => (await observed(a.page)).at(-1) === 'io.element.device_mute:av', { timeoutMs: 10_000, description: 'host mute change reported' });

      // theme_change from the host switches the scheme.
      await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.themeChange('dark'));
      expect(await a.frame.evaluate(() => (globalThis as unknown as { document: { documentElement: { dataset: Record<string, string> } } }).document.documentElement.dataset['theme'])).toBe('dark');

      // The host hangs up: the widget leaves (membership emptied before the reply), then tells the host hang-up, release, close.
      const before = (await observed(a.page)).length;
      await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.hangup());
      const content = await membership(anna);
      expect(content === null || !('application' in content)).toBe(true);
      await waitFor(async () => (await observed(a.page)).length >= before + 3, { timeoutMs: 10_000, description: 'leave actions' });
      expect((await observed(a.page)).slice(before)).toEqual(['im.vector.hangup', 'set_always_on_screen:false', 'io.element.close']);
    }), 150_000);

  it('skipLobby in the fragment joins at once; Leave sends hang-up, release and close; the other side sees and loses the tile', () =>
    dumpOnFailure(async () => {
      const b = await openHosted('bengt', bengt, { widget: `${node.publicUrl}/widget/`, fragment: true, extra: 'intent=join_existing&skipLobby=true&perParticipantE2EE=false' });
      await b.frame.waitForSelector('.call', { timeout: 30_000 });
      expect(await b.frame.$('.screen-lobby')).toBeNull();
      await waitFor(async () => (await observed(b.page)).length >= 3, { timeoutMs: 20_000, description: 'join actions' });
      expect(await observed(b.page)).toEqual(['io.element.join', 'set_always_on_screen:true', 'io.element.device_mute:av']);

      // A second widget (query form, no intent: joins at once as before) sees bengt's video.
      const a = await openHosted('anna', anna, { widget: `${node.publicUrl}/widget/`, fragment: false, extra: '' });
      const bengtId = `${bengt.userId}:${bengt.deviceId}`;
      await waitFor(() => seesVideoOf(a.frame, bengtId), { timeoutMs: 60_000, description: 'anna decodes bengt' });

      await clickControl(b.frame, 'leave');
      await waitFor(async () => (await observed(b.page)).length >= 6, { timeoutMs: 15_000, description: 'leave actions' });
      expect((await observed(b.page)).slice(3)).toEqual(['im.vector.hangup', 'set_always_on_screen:false', 'io.element.close']);
      await waitFor(async () => !(await tiles(a.frame)).some((tile) => tile.participant === bengtId), { timeoutMs: 15_000, description: 'bengt\'s tile goes' });
      await clickControl(a.frame, 'leave');
      await waitFor(async () => (await observed(a.page)).includes('io.element.close'), { timeoutMs: 15_000, description: 'anna closes' });
    }), 150_000);

  it('preload: the lobby waits for the host\'s io.element.join, which joins with the devices it names (null = off)', () =>
    dumpOnFailure(async () => {
      const p = await openHosted('bengt-preload', bengt, { widget: `${node.publicUrl}/room`, fragment: true, extra: 'preload=true&skipLobby=true&perParticipantE2EE=false' });
      await p.frame.waitForSelector('.screen-lobby', { timeout: 30_000 });
      expect(await observed(p.page)).toEqual([]);
      expect(await p.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.join({ audioInput: 'Fake Default Audio Input', videoInput: null }))).toEqual({});
      await p.frame.waitForSelector('.call', { timeout: 30_000 });
      await waitFor(async () => (await observed(p.page)).length >= 3, { timeoutMs: 20_000, description: 'join actions' });
      expect(await observed(p.page)).toEqual(['io.element.join', 'set_always_on_screen:true', 'io.element.device_mute:a-']);
      await clickControl(p.frame, 'leave');
      await waitFor(async () => (await observed(p.page)).includes('io.element.close'), { timeoutMs: 15_000, description: 'bengt closes' });
    }), 90_000);

  it('returnToLobby (Element Web\'s video rooms): after Leave the lobby comes back and the host is not asked to close', () =>
    dumpOnFailure(async () => {
      const r = await openHosted('bengt-video-room', bengt, { widget: `${node.publicUrl}/room`, fragment: true, extra: 'skipLobby=true&returnToLobby=true' });
      await r.frame.waitForSelector('.call', { timeout: 30_000 });
      await waitFor(async () => (await observed(r.page)).length >= 3, { timeoutMs: 20_000, description: 'join actions' });
      await clickControl(r.frame, 'leave');
      await r.frame.waitForSelector('.screen-lobby', { timeout: 15_000 });
      await waitFor(async () => (await observed(r.page)).length >= 5, { timeoutMs: 15_000, description: 'leave actions' });
      expect(await observed(r.page)).toEqual(['io.element.join', 'set_always_on_screen:true', 'io.element.device_mute:av', 'im.vector.hangup', 'set_always_on_screen:false']);
      // Joining again from the lobby tells the host again.
      await r.frame.click('button[data-action="join"]');
      await waitFor(async () => (await observed(r.page)).length >= 8, { timeoutMs: 20_000, description: 'second join actions' });
      expect((await observed(r.page)).slice(5)).toEqual(['io.element.join', 'set_always_on_screen:true', 'io.element.device_mute:av']);
      await r.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.hangup());
      await r.frame.waitForSelector('.screen-lobby', { timeout: 15_000 });
    }), 90_000);

  it('says in the embedded widget when its CSP blocks the homeserver (not a 20 s membership timeout), and stays open', () =>
    dumpOnFailure(async () => {
      // The same Synapse under another origin (localhost instead of 127.0.0.1): not in the widget's connect-src.
      const blockedUrl = synapse.baseUrl.replace('127.0.0.1', 'localhost');
      const startedAt = performance.now();
      const c = await openHosted('anna-blocked', anna, { widget: `${node.publicUrl}/widget/`, fragment: true, extra: 'skipLobby=true', widgetBaseUrl: blockedUrl });
      await c.frame.waitForSelector('.screen-error', { timeout: 30_000 });
      console.log(`[e2e] CSP-blocked homeserver reported ${(performance.now() - startedAt).toFixed(0)} ms after opening the host`);
      expect(await c.frame.textContent('.error-sentence')).toBe("This video server is not set up for your homeserver, so your browser blocks the connection. Ask the video server's operator to add your homeserver to widget.homeserverUrls.");
      expect(await c.frame.textContent('.error-details')).toContain(`${new URL(blockedUrl).origin}: not in widget.homeserverUrls`);
      await screenshot(c.page, 'widget-error-csp-embedded-en.png');
      // An error end: hang-up and release, but no close, so the person can read it.
      await waitFor(async () => (await observed(c.page)).includes('set_always_on_screen:false'), { timeoutMs: 15_000, description: 'hang-up told' });
      expect(await observed(c.page)).toEqual(['im.vector.hangup', 'set_always_on_screen:false']);
    }), 90_000);
});
