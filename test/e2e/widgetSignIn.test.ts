// The standalone widget's sign-in in Chromium against the test Synapse and a real SFU node,
// in English and Swedish: a user id without a server address finds the homeserver (the node's
// /widget/homeserver), a homeserver the widget's CSP does not allow is named as the cause
// (not "could not reach the server"), a room the SFU cannot see says so (not "you are not
// allowed"), and a second password sign-in in the same browser reuses the Matrix device.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
import { en } from '../../src/browser/widget/i18n/en.ts';
import { sv } from '../../src/browser/widget/i18n/sv.ts';

const synapse = inject('synapse');
const PASSWORD = 'signin-password';
const suffix = Date.now().toString(36);
const serverLog: string[] = [];
const consoleLines: string[] = [];
const pids: number[] = [];
let node: SfuNode;
let context: BrowserContext;
let profileDir: string | undefined;
let visibleRoom: string;
let hiddenRoom: string;
let users: Record<'anna' | 'bo' | 'cai', RegisteredUser>;

async function openWidget(lang: 'en' | 'sv', query: Record<string, string> = {}): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => consoleLines.push(`[${lang}] ${message.type()}: ${message.text()}`));
  await page.goto(`${node.publicUrl}/widget/?${new URLSearchParams({ lang, ...query })}`);
  await page.waitForSelector('#login-user');
  return page;
}

async function signIn(page: Page, server: string, user: string): Promise<void> {
  await page.fill('#login-homeserver', server);
  await page.fill('#login-user', user);
  await page.fill('#login-password', PASSWORD);
  await page.click('button[type="submit"]');
}

async function formError(page: Page): Promise<string> {
  await page.waitForSelector('.form-error:not([hidden])', { timeout: 20_000 });
  return (await page.textContent('.form-error')) ?? '';
}

function devices(user: RegisteredUser): Promise<Array<{ device_id: string; display_name?: string }>> {
  return new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user })
    .request<{ devices: Array<{ device_id: string; display_name?: string }> }>('GET', '/_matrix/client/v3/devices')
    .then((answer) => answer.devices);
}

beforeAll(async () => {
  await buildWidget();
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfus${suffix}`, 'bot-password');
  const [anna, bo, cai] = await Promise.all(['anna', 'bo', 'cai'].map((name) => registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}s${suffix}`, PASSWORD)));
  users = { anna: anna!, bo: bo!, cai: cai! };
  const annaHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users.anna });
  const power = { events: { 'org.matrix.msc3401.call.member': 0 } };
  visibleRoom = await annaHttp.createRoom({ invite: [bot.userId, users.bo.userId, users.cai.userId], powerLevelContentOverride: power });
  hiddenRoom = await annaHttp.createRoom({ invite: [users.bo.userId, users.cai.userId], powerLevelContentOverride: power });
  await annaHttp.sendState(hiddenRoom as never, 'm.room.name', '', { name: 'Room without the SFU' });
  for (const user of [users.bo, users.cai]) {
    const http = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...user });
    await http.join(visibleRoom as never);
    await http.join(hiddenRoom as never);
  }
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-signin-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }) });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(visibleRoom)?.getMyMembership() === 'join', { timeoutMs: 15_000, description: 'SFU account joined' });
  profileDir = await mkdtemp(join(tmpdir(), 'sfu-e2e-signin-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await node?.stop();
  await waitForExit(pids);
});

function dumpOnFailure<T>(run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    console.log(`--- browser console (last 40) ---\n${consoleLines.slice(-40).join('\n')}`);
    console.log(`--- server log (last 30) ---\n${serverLog.slice(-30).join('\n')}`);
    throw error;
  });
}

describe('the standalone widget sign-in', () => {
  it('a user id without a server address finds the homeserver; a homeserver outside the CSP is named as the cause (en, sv)', () =>
    dumpOnFailure(async () => {
      const page = await openWidget('en');
      await signIn(page, '', users.anna.userId);
      await page.waitForSelector(`button[data-room-id="${visibleRoom}"]`, { timeout: 20_000 });
      await page.close();

      for (const [lang, messages] of [['en', en], ['sv', sv]] as const) {
        const blocked = await openWidget(lang);
        // A homeserver this node does not list in widget.homeserverUrls.
        await signIn(blocked, 'https://matrix.elsewhere.example', users.anna.userId);
        expect(await formError(blocked)).toBe(messages['err.login.blocked']);
        expect(messages['err.login.blocked']).not.toBe(messages['err.login.unreachable']);
        await blocked.close();
      }
    }), 120_000);

  it('a room the SFU cannot see says so, in English and Swedish', () =>
    dumpOnFailure(async () => {
      for (const [lang, messages, user] of [['en', en, users.bo], ['sv', sv, users.cai]] as const) {
        const page = await openWidget(lang, { roomId: hiddenRoom });
        await signIn(page, synapse.baseUrl, user.userId);
        await page.waitForSelector('.screen-error .error-sentence', { timeout: 60_000 });
        expect(await page.textContent('.screen-error .error-sentence')).toBe(messages['err.admission.roomNotVisible']);
        expect(await page.getAttribute('.screen-error', 'data-code')).toContain('ORG.MATRIX_SFU.ROOM_NOT_VISIBLE');
        await page.close();
      }
    }), 180_000);

  it('a second password sign-in in the same browser reuses the Matrix device', () =>
    dumpOnFailure(async () => {
      const before = (await devices(users.anna)).length;
      for (let round = 0; round < 2; round++) {
        const page = await openWidget('en');
        await signIn(page, synapse.baseUrl, users.anna.userId);
        await page.waitForSelector(`button[data-room-id="${visibleRoom}"]`, { timeout: 20_000 });
        await page.close();
      }
      const after = await devices(users.anna);
      const callDevices = after.filter((device) => device.display_name === 'SFU call');
      console.log(`[e2e] devices of ${users.anna.userId}: ${before} before, ${after.length} after (the first test's sign-in included)`);
      expect(callDevices).toHaveLength(1);
    }), 120_000);
});
