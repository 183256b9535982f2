// The call widget end to end, in Chromium against the test Synapse and a real SFU node: two
// widgets hosted the way Element Web hosts them (matrix-widget-api ClientWidgetApi bridged to
// a matrix-js-sdk client with Rust crypto, on another origin) join, decode each other's
// video and hear each other; a mute shows on the other side; a shared screen arrives; a
// standalone widget signs in, picks the room and joins; a Leave click and a host hang-up
// each remove the tile and empty the membership in room state. Screenshots of the call
// screen in English and Swedish go to test/.artifacts/.

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
import { buildHost, serveHost } from './widgetHost/hostServer.ts';
import type { HostGlobal } from './widgetHost/hostApi.ts';
import { activeElementId, clickControl, controlState, focusedControl, framesKeepComing, loudness, recordCallStates, recordedCallStates, seesVideoOf, sinceWidgetOpenedMs, tiles, widgetFrame } from './widgetHost/widgetPage.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const synapse = inject('synapse');
const ARTIFACTS = join(import.meta.dirname, '..', '.artifacts');
const PASSWORD = 'widget-password';
const suffix = Date.now().toString(36);
const serverLog: string[] = [];
const consoleLines: string[] = [];
const pids: number[] = [];
let node: SfuNode;
let hostServer: Awaited<ReturnType<typeof serveHost>>;
let context: BrowserContext;
let profileDir: string | undefined;
let roomId: string;
let alice: RegisteredUser;
let bob: RegisteredUser;
let carol: RegisteredUser;
let dave: RegisteredUser;
let erin: RegisteredUser;
let aliceHttp: MatrixTestClient;

async function openHosted(label: string, user: RegisteredUser, lang: string, e2ee = false, deny = ''): Promise<{ page: Page; frame: Frame; openedAt: number }> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (process.env['WIDGET_E2E_TRACE']) consoleLines.push(`${new Date().toISOString().slice(14, 23)} [${label}] ${message.type()}: ${message.text().slice(0, 300)} @${message.location().url.replace(/^https?:\/\/[^/]+/, "")}`);
    if (message.type() !== 'debug' && !message.text().startsWith('[PostmessageTransport]')) consoleLines.push(`[${label}] ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleLines.push(`[${label}] pageerror: ${error.message}`));
  await page.setViewportSize({ width: 1100, height: 720 });
  const query = new URLSearchParams({ hs: synapse.baseUrl, user: user.userId, device: user.deviceId, token: user.accessToken, room: roomId, widget: `${node.publicUrl}/widget/`, sfu: node.publicUrl, lang, crypto: '1', e2ee: e2ee ? '1' : '0', deny });
  const openedAt = performance.now();
  await page.goto(`${hostServer.url}/?${query}`);
  await waitFor(async () => {
    const state = await page.evaluate(() => ({ ready: (globalThis as unknown as HostGlobal).widgetHost.ready, error: (globalThis as unknown as HostGlobal).widgetHost.error }));
    if (state.error) throw new Error(`host failed: ${state.error}`);
    return state.ready;
  }, { timeoutMs: 30_000, description: `${label}'s host ready` });
  return { page, frame: await widgetFrame(page), openedAt };
}

function membershipOf(page: Page, user: RegisteredUser): Promise<Record<string, unknown> | null> {
  return page.evaluate(([userId, deviceId]) => (globalThis as unknown as HostGlobal).widgetHost.membership(userId, deviceId), [user.userId, user.deviceId] as const);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name) });
}

beforeAll(async () => {
  const [built] = await Promise.all([buildWidget(), buildHost()]);
  console.log(`[e2e] widget bundle: start-up JS ${(built.initialJsBytes / 1024).toFixed(0)} KiB, ${(built.initialJsGzipBytes / 1024).toFixed(0)} KiB gzip (${built.script})`);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfuw${suffix}`, 'bot-password');
  [alice, bob, carol, dave, erin] = (await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}w${suffix}`, PASSWORD)))) as [RegisteredUser, RegisteredUser, RegisteredUser, RegisteredUser, RegisteredUser];
  aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...alice });
  roomId = await aliceHttp.createRoom({ invite: [bot.userId, bob.userId, carol.userId, dave.userId, erin.userId], powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  await aliceHttp.sendState(roomId as never, 'm.room.name', '', { name: 'Case 2291 – weekly review' });
  await aliceHttp.sendState(roomId as never, 'm.room.encryption', '', { algorithm: 'm.megolm.v1.aes-sha2' });
  for (const user of [bob, carol, dave, erin]) await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user }).join(roomId as never);
  for (const [user, name] of [[alice, 'Alice Andersson'], [bob, 'Bertil Berg'], [carol, 'Carol Chen'], [dave, 'Dave Dahl'], [erin, 'Erin Ek']] as const) {
    await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user }).request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/displayname`, { displayname: name });
  }
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-widget-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }) });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 15_000, description: 'SFU account joined' });
  hostServer = await serveHost();
  // Screen capture needs no extra flag: with the fake UI and devices Chromium offers a fake 1280×720 monitor.
  profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-widget-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'],
  });
}, 180_000);

afterAll(async () => {
  // WIDGET_E2E_TRACE=1: every page's warnings and errors, for investigating timing and CSP reports.
  if (process.env['WIDGET_E2E_TRACE']) console.log(consoleLines.filter((line) => / (error|warning): /.test(line)).join('\n'));
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await hostServer?.close();
  await node?.stop();
  await waitForExit(pids);
});

function dumpOnFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    console.log(`--- browser console (last 80) ---\n${consoleLines.slice(-80).join('\n')}`);
    console.log(`--- server log (last 40) ---\n${serverLog.slice(-40).join('\n')}`);
    throw error;
  });
}

describe('the call widget', () => {
  it('hosted widgets join and decode and hear each other; mute, screen share, standalone join, leave and host hang-up work', () =>
    dumpOnFailure(async () => {
      const aliceId = `${alice.userId}:${alice.deviceId}`;
      const bobId = `${bob.userId}:${bob.deviceId}`;
      const carolPrefix = `${carol.userId}:`;
      const a = await openHosted('alice', alice, 'en');
      const b = await openHosted('bob', bob, 'sv');

      // Capabilities: exactly what the call uses, approved by the host.
      const requested = await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.requested);
      expect(requested.sort()).toEqual([
        'm.always_on_screen',
        'org.matrix.msc2762.receive.state_event:m.room.create',
        'org.matrix.msc2762.receive.state_event:m.room.member',
        'org.matrix.msc2762.receive.state_event:m.room.name',
        'org.matrix.msc2762.receive.state_event:org.matrix.msc3401.call.member',
        `org.matrix.msc2762.send.state_event:org.matrix.msc3401.call.member#${alice.userId}_${alice.deviceId}_m.call`,
        `org.matrix.msc2762.send.state_event:org.matrix.msc3401.call.member#_${alice.userId}_${alice.deviceId}_m.call`,
        `org.matrix.msc2762.timeline:${roomId}`,
        'org.matrix.msc3819.receive.to_device:io.element.call.encryption_keys',
        'org.matrix.msc3819.send.to_device:io.element.call.encryption_keys',
        'org.matrix.msc4157.send.delayed_event',
        'org.matrix.msc4157.update_delayed_event',
      ]);

      // Time to first frame, from the widget document's start (iframe navigation) to a decoded remote frame (50 ms polls).
      await waitFor(() => seesVideoOf(b.frame, aliceId), { timeoutMs: 60_000, description: 'bob decodes alice' });
      const bobFirstFrameMs = await sinceWidgetOpenedMs(b.frame);
      await waitFor(() => seesVideoOf(a.frame, bobId), { timeoutMs: 60_000, description: 'alice decodes bob' });
      const aliceFirstFrameMs = await sinceWidgetOpenedMs(a.frame);
      console.log(`[e2e] widget opened → first remote frame: bob ${bobFirstFrameMs.toFixed(0)} ms (joined second), alice ${aliceFirstFrameMs.toFixed(0)} ms (waited for bob); host page opened → bob's first frame ${(performance.now() - b.openedAt).toFixed(0)} ms`);
      expect(await loudness(a.frame)).toBeGreaterThan(0.01);
      expect(await loudness(b.frame)).toBeGreaterThan(0.01);
      const bobTile = (await tiles(a.frame)).find((tile) => tile.participant === bobId);
      expect(bobTile?.name).toBe('Bertil Berg');
      expect(bobTile?.e2ee).toBe('off');
      expect(await membershipOf(a.page, bob)).toMatchObject({ application: 'm.call', device_id: bob.deviceId, foci_preferred: [{ type: 'livekit', livekit_service_url: node.publicUrl }, { type: 'org.matrix_sfu.mediasoup', sfu_service_url: node.publicUrl }] });

      // The SFU's active-speaker detection reaches the tiles (the fake microphones beep).
      await waitFor(async () => (await tiles(a.frame)).some((tile) => tile.speaking), { timeoutMs: 20_000, description: 'alice sees someone speaking' });

      // Bob mutes: alice's tile of bob shows the muted mark (consumerPaused).
      await clickControl(b.frame, 'microphone');
      expect(await controlState(b.frame, 'microphone')).toBe('off');
      await waitFor(async () => (await tiles(a.frame)).find((tile) => tile.participant === bobId)?.muted === true, { timeoutMs: 10_000, description: 'alice sees bob muted' });

      // Alice shares her screen: bob decodes it in a screen tile.
      await clickControl(a.frame, 'screen');
      await waitFor(() => seesVideoOf(b.frame, aliceId, 'screen'), { timeoutMs: 30_000, description: 'bob decodes alice\'s screen' });

      // Carol joins standalone: sign in, pick the room.
      const c = await context.newPage();
      c.on('console', (message) => consoleLines.push(`[carol] ${message.type()}: ${message.text()}`));
      await c.setViewportSize({ width: 1100, height: 720 });
      await c.goto(`${node.publicUrl}/widget/?homeserver=${encodeURIComponent(synapse.baseUrl)}&user=${encodeURIComponent(carol.userId)}&lang=en`);
      await c.fill('#login-password', PASSWORD);
      await screenshot(c, 'widget-login-en.png');
      await c.click('button[type="submit"]');
      await c.waitForSelector(`button[data-room-id="${roomId}"]`, { timeout: 20_000 });
      await screenshot(c, 'widget-rooms-en.png');
      await c.click(`button[data-room-id="${roomId}"]`);
      const carolFrame = c.mainFrame();
      await waitFor(() => seesVideoOf(carolFrame, aliceId), { timeoutMs: 60_000, description: 'carol decodes alice' });
      await waitFor(() => seesVideoOf(carolFrame, bobId), { timeoutMs: 30_000, description: 'carol decodes bob' });
      await waitFor(() => seesVideoOf(a.frame, carolPrefix), { timeoutMs: 30_000, description: 'alice decodes carol' });
      await waitFor(() => seesVideoOf(b.frame, carolPrefix), { timeoutMs: 30_000, description: 'bob decodes carol' });
      expect(await loudness(carolFrame)).toBeGreaterThan(0.01);

      await a.page.mouse.move(0, 0);
      await b.page.mouse.move(0, 0);
      await screenshot(a.page, 'widget-call-en.png');
      await screenshot(b.page, 'widget-call-sv.png');

      // Alice stops sharing: the screen tile goes away on bob's side; the grid remains.
      await clickControl(a.frame, 'screen');
      await waitFor(async () => !(await tiles(b.frame)).some((tile) => tile.kind === 'screen'), { timeoutMs: 10_000, description: 'alice\'s screen tile disappears for bob' });
      await a.page.mouse.move(0, 0);
      await screenshot(a.page, 'widget-grid-en.png');
      await screenshot(b.page, 'widget-grid-sv.png');

      // The SFU's worker dies: the widgets show "reconnecting", rebuild their media and decode again.
      await recordCallStates(a.frame);
      const pid = node.pool.slots[0]!.worker.pid;
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');
      await waitFor(async () => {
        const states = await recordedCallStates(a.frame);
        return states.includes('reconnecting') && states.at(-1) === 'connected';
      }, { timeoutMs: 30_000, description: 'alice shows reconnecting, then connected' });
      await waitFor(() => framesKeepComing(a.frame, carolPrefix), { timeoutMs: 30_000, description: 'alice decodes carol again' });
      console.log(`[e2e] worker killed → widget decoding again after ${(performance.now() - killedAt).toFixed(0)} ms`);
      pids.push(...node.pool.slots.map((slot) => slot.worker.pid));

      // Bob leaves with the Leave button: his tile goes, his membership is emptied.
      await clickControl(b.frame, 'leave');
      await waitFor(async () => !(await tiles(a.frame)).some((tile) => tile.participant === bobId), { timeoutMs: 15_000, description: 'bob\'s tile disappears for alice' });
      await waitFor(async () => {
        const content = await membershipOf(a.page, bob);
        return content !== null && !('application' in content);
      }, { timeoutMs: 15_000, description: 'bob\'s membership emptied' });
      await b.frame.waitForSelector('.screen-ended', { timeout: 10_000 });
      await screenshot(b.page, 'widget-ended-sv.png');
      expect(await b.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.fromWidget)).toContain('im.vector.hangup');

      // Alice's host hangs up (im.vector.hangup to the widget): she leaves cleanly before the reply.
      await a.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.hangup());
      const aliceContent = await membershipOf(a.page, alice);
      await waitFor(async () => {
        const content = await membershipOf(a.page, alice);
        return content !== null && !('application' in content);
      }, { timeoutMs: 15_000, description: `alice's membership emptied (was ${JSON.stringify(aliceContent)})` });
      await waitFor(async () => !(await tiles(carolFrame)).some((tile) => tile.participant === aliceId), { timeoutMs: 15_000, description: 'alice\'s tile disappears for carol' });

      await clickControl(carolFrame, 'leave');
      await c.waitForSelector('.screen-ended', { timeout: 10_000 });
      const evictions = serverLog.filter((line) => line.includes('"msg":"token issued"'));
      expect(evictions.length).toBeGreaterThanOrEqual(3);
    }), 240_000);
  it('with perParticipantE2EE, hosted widgets exchange keys over Olm through their hosts and decode each other', () =>
    dumpOnFailure(async () => {
      const daveId = `${dave.userId}:${dave.deviceId}`;
      const erinId = `${erin.userId}:${erin.deviceId}`;
      const d = await openHosted('dave', dave, 'en', true);
      const e = await openHosted('erin', erin, 'sv', true);
      await waitFor(() => seesVideoOf(e.frame, daveId), { timeoutMs: 60_000, description: 'erin decodes dave (encrypted)' });
      const erinFirstFrameMs = await sinceWidgetOpenedMs(e.frame);
      await waitFor(() => seesVideoOf(d.frame, erinId), { timeoutMs: 60_000, description: 'dave decodes erin (encrypted)' });
      const daveFirstFrameMs = await sinceWidgetOpenedMs(d.frame);
      console.log(`[e2e] E2EE widget opened → first remote frame: erin ${erinFirstFrameMs.toFixed(0)} ms (joined second), dave ${daveFirstFrameMs.toFixed(0)} ms`);
      await waitFor(async () => (await tiles(d.frame)).find((tile) => tile.participant === erinId)?.e2ee === 'present', { timeoutMs: 20_000, description: 'dave shows erin encrypted' });
      await waitFor(async () => (await tiles(e.frame)).find((tile) => tile.participant === daveId)?.e2ee === 'present', { timeoutMs: 20_000, description: 'erin shows dave encrypted' });
      expect(await loudness(d.frame)).toBeGreaterThan(0.01);
      const sent = await d.page.evaluate(() => (globalThis as unknown as HostGlobal).widgetHost.toDevice);
      expect(sent.encrypted).toBeGreaterThan(0);
      expect(sent.clear).toBe(0);
      await d.page.mouse.move(0, 0);
      await screenshot(d.page, 'widget-e2ee-en.png');

      // Keyboard only: Tab walks the controls in order; Enter toggles; the dialog opens and closes.
      const order: string[] = [];
      for (let step = 0; step < 8 && order.length < 5; step++) {
        await d.page.keyboard.press('Tab');
        const focused = await focusedControl(d.frame);
        if (focused && !order.includes(focused)) order.push(focused);
      }
      expect(order).toEqual(['microphone', 'camera', 'screen', 'settings', 'leave']);
      await d.frame.focus('button[data-control="microphone"]');
      await d.page.keyboard.press('Enter');
      expect(await controlState(d.frame, 'microphone')).toBe('off');
      await waitFor(async () => (await tiles(e.frame)).find((tile) => tile.participant === daveId)?.muted === true, { timeoutMs: 10_000, description: 'erin sees dave muted' });
      await d.frame.focus('button[data-control="settings"]');
      await d.page.keyboard.press('Enter');
      await d.frame.waitForSelector('dialog.settings[open]');
      expect(await activeElementId(d.frame)).toBe('device-audioinput');
      await screenshot(d.page, 'widget-settings-en.png');
      await d.page.keyboard.press('Escape');
      await d.frame.waitForSelector('dialog.settings:not([open])', { state: 'attached' });
      await clickControl(d.frame, 'leave');
      await waitFor(async () => !(await tiles(e.frame)).some((tile) => tile.participant === daveId), { timeoutMs: 15_000, description: 'dave leaves' });
      await clickControl(e.frame, 'leave');
    }), 180_000);
  it('is served with a strict CSP, long caching for hashed files, and a redirect that keeps the query', async () => {
    const index = await fetch(`${node.publicUrl}/widget/`);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain(`connect-src 'self' ${node.publicUrl.replace(/^http/, 'ws')} ${new URL(synapse.baseUrl).origin}`);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = /src="(widget-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
    const asset = await fetch(`${node.publicUrl}/widget/${script}`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const redirect = await fetch(`${node.publicUrl}/widget?lang=sv`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/widget/?lang=sv');
  });

  it('explains a broken widget URL and refused capabilities in plain words', () =>
    dumpOnFailure(async () => {
      const page = await context.newPage();
      await page.setViewportSize({ width: 900, height: 600 });
      await page.goto(`${node.publicUrl}/widget/?widgetId=w1&parentUrl=${encodeURIComponent(hostServer.url)}&roomId=$matrix_room_id&lang=sv`);
      await page.waitForSelector('.screen-error');
      expect(await page.textContent('.error-sentence')).toBe('Länken till samtalet är ofullständig eller trasig. Kontakta den som ordnade samtalet.');
      expect(await page.textContent('.error-details')).toContain('roomId: missing');
      await screenshot(page, 'widget-error-config-sv.png');
      await page.close();

      const denied = await openHosted('denied', carol, 'en', false, 'org.matrix.msc2762.receive.state_event:org.matrix.msc3401.call.member');
      await denied.frame.waitForSelector('.screen-error', { timeout: 20_000 });
      expect(await denied.frame.textContent('.error-sentence')).toBe('Your chat app did not give the call the permissions it needs. Open the call again and allow them.');
      expect(await denied.frame.getAttribute('.screen-error', 'data-code')).toBe('CAPABILITIES_DENIED');
      await screenshot(denied.page, 'widget-error-capabilities-en.png');
      expect(await membershipOf(denied.page, carol)).toBeNull();
    }), 60_000);
});
