// The world of an Element Call e2e file: a Synapse whose MatrixRTC transports name this SFU
// (the SFU's port is chosen first so the homeserver can name it), registered users with
// display names in one encrypted room that the SFU account joined, the SFU node (debug logs
// kept), the host server and a persistent Chromium context. open() loads one user's host page
// with Element Call (or, with `widget`, another call widget launched the same way) and waits
// for the host; dumpOnFailure() keeps the page consoles and the SFU log of a failed test.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Frame, type Page } from 'playwright-core';
import { SfuNode } from '../../../src/server/SfuNode.ts';
import { loadConfig } from '../../../src/server/config/loadConfig.ts';
import { createLogger } from '../../../src/common/lib/logger.ts';
import { waitFor } from '../../../src/common/lib/waitFor.ts';
import { findFreePort, startSynapse, type RtcTransportConfig, type SynapseInstance } from '../../../src/server/dev/synapse/SynapseProcess.ts';
import { registerUser, type RegisteredUser } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../../src/server/dev/devHomeserver.ts';
import { buildClient } from '../../../src/build/buildClient.ts';
import { MatrixTestClient } from '../../tools/synapse/MatrixTestClient.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../tools/browser.ts';
import { waitForExit } from '../../tools/workerPid.ts';
import { freeMediaBasePort } from '../../tools/ports.ts';
import { buildElementCallHost, serveElementCallHost } from './hostServer.ts';
import type { ElementCallHostGlobal } from './hostApi.ts';
import { elementCallFrame } from './callPage.ts';
import { widgetFrame } from '../widgetHost/widgetPage.ts';

const ARTIFACTS = join(import.meta.dirname, '..', '..', '.artifacts');

/** Options of startCallWorld(). */
export interface CallWorldOptions<W extends string> {
  /** Users by short name, with their display names; the first creates the room. */
  readonly names: Readonly<Record<W, string>>;
  /** The homeserver's MatrixRTC transports, given the SFU's base URL. */
  readonly transports: (sfuUrl: string) => RtcTransportConfig[];
  readonly roomName: string;
  /** Names temporary directories and failure logs. */
  readonly tag: string;
  /** Build our widget too (served by the SFU at /widget/). */
  readonly withWidget?: boolean;
  /** Where the SFU's log lines go (tests read them). */
  readonly serverLog: string[];
  /** Where the pages' console lines go. */
  readonly consoleLines: string[];
}

/** One user's opened host page. */
export interface OpenedCall {
  readonly page: Page;
  readonly frame: Frame;
  readonly openedAtMs: number;
}

/** What startCallWorld() set up. */
export interface CallWorld<W extends string> {
  readonly synapse: SynapseInstance;
  readonly node: SfuNode;
  readonly roomId: string;
  readonly users: Record<W, RegisteredUser>;
  readonly hostUrl: string;
  open(who: W, options: { intent: 'start_call' | 'join_existing'; widget?: string }): Promise<OpenedCall>;
  dumpOnFailure<T>(run: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Sets up the world (see the header comment). */
export async function startCallWorld<W extends string>(options: CallWorldOptions<W>): Promise<CallWorld<W>> {
  const { serverLog, consoleLines } = options;
  const who = Object.keys(options.names) as W[];
  const sfuPort = await findFreePort();
  const sfuUrl = `http://127.0.0.1:${sfuPort}`;
  const synapseDir = await mkdtemp(join(tmpdir(), `sfu-e2e-${options.tag}-synapse-`));
  const startedAt = performance.now();
  const [synapse] = await Promise.all([
    startSynapse({ dataDir: synapseDir, rtcTransports: options.transports(sfuUrl) }),
    buildElementCallHost(),
    options.withWidget ? buildClient() : Promise.resolve(),
  ]);
  console.log(`[e2e] Synapse with transports naming ${sfuUrl} ready in ${Math.round(performance.now() - startedAt)} ms`);

  const suffix = Date.now().toString(36);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfu${suffix}`, 'bot-password');
  const users = {} as Record<W, RegisteredUser>;
  for (const name of who) users[name] = await registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}${suffix}`, `pw-${name}`);
  const creator = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users[who[0]!] });
  const roomId = await creator.createRoom({
    invite: [bot.userId, ...who.slice(1).map((name) => users[name].userId)],
    powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } },
  });
  await creator.sendState(roomId as never, 'm.room.name', '', { name: options.roomName });
  await creator.sendState(roomId as never, 'm.room.encryption', '', { algorithm: 'm.megolm.v1.aes-sha2' });
  for (const name of who) {
    const http = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users[name] });
    if (name !== who[0]) await http.join(roomId as never);
    await http.request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(users[name].userId)}/displayname`, { displayname: options.names[name] });
  }

  const config = loadConfig({
    overrides: {
      server: { port: sfuPort, dataDir: `/tmp/sfu-e2e-${options.tag}-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...(options.withWidget ? { widget: { homeserverUrls: [synapse.baseUrl] } } : {}),
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  // Debug lines of the SFU's own components (livekit, conference, auth); the Matrix SDK's request lines stay out.
  const node = await SfuNode.start({ config, logger: createLogger({ level: 'debug', sink: (line) => void (line.includes('"component":"matrix-sdk"') || serverLog.push(line)) }) });
  if (node.publicUrl !== sfuUrl) throw new Error(`SFU at ${node.publicUrl}, expected ${sfuUrl}`);
  const pids = node.pool.slots.map((slot) => slot.worker.pid);
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', { timeoutMs: 30_000, description: 'SFU account joined' });
  const hostServer = await serveElementCallHost();
  const profileDir = await mkdtemp(join(tmpdir(), `sfu-e2e-${options.tag}-chromium-`));
  const context: BrowserContext = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'],
  });

  return {
    synapse,
    node,
    roomId,
    users,
    hostUrl: hostServer.url,
    async open(name, { intent, widget }) {
      const user = users[name];
      const page = await context.newPage();
      page.on('console', (message) => {
        const text = message.text();
        if (message.type() === 'debug' || text.startsWith('[PostmessageTransport]')) return;
        consoleLines.push(`${new Date().toISOString().slice(11, 23)} [${name}] ${message.type()}: ${text.slice(0, 400)}`);
      });
      page.on('pageerror', (error) => consoleLines.push(`[${name}] pageerror: ${error.message}`));
      page.on('response', (response) => {
        if (response.status() >= 400) consoleLines.push(`${new Date().toISOString().slice(11, 23)} [${name}] HTTP ${response.status()} ${response.request().method()} ${response.url().replace(/access_token=[^&]*/, 'access_token=…')}`);
      });
      await page.setViewportSize({ width: 1000, height: 700 });
      const query = new URLSearchParams({ hs: synapse.baseUrl, user: user.userId, device: user.deviceId, token: user.accessToken, room: roomId, intent, lang: 'en', theme: 'dark' });
      if (widget) query.set('widget', widget);
      const openedAtMs = performance.now();
      await page.goto(`${hostServer.url}/?${query}`);
      await waitFor(
        async () => {
          const state = await page.evaluate(() => ({ ready: (globalThis as unknown as ElementCallHostGlobal).elementCallHost.ready, error: (globalThis as unknown as ElementCallHostGlobal).elementCallHost.error }));
          if (state.error) throw new Error(`host failed: ${state.error}`);
          return state.ready;
        },
        { timeoutMs: 60_000, intervalMs: 200, description: `${name}'s host ready` },
      );
      return { page, frame: widget ? await widgetFrame(page, 30_000) : await elementCallFrame(page), openedAtMs };
    },
    dumpOnFailure(run) {
      return run().catch(async (error: unknown) => {
        // Everything, for reading afterwards: the pages' consoles and the SFU's debug lines.
        await mkdir(ARTIFACTS, { recursive: true });
        const file = join(ARTIFACTS, `${options.tag}-${Date.now()}.log`);
        await writeFile(file, [...consoleLines, '--- server log ---', ...serverLog].join('\n'));
        console.log(`--- full logs in ${file} ---`);
        console.log(`--- browser console (last 150) ---\n${consoleLines.slice(-150).join('\n')}`);
        console.log(`--- server log (last 200) ---\n${serverLog.slice(-200).map((line) => line.slice(0, 400)).join('\n')}`);
        throw error;
      });
    },
    async close() {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
      await hostServer.close();
      await node.stop();
      await waitForExit(pids);
      await synapse.stop();
      await rm(synapseDir, { recursive: true, force: true });
    },
  };
}
