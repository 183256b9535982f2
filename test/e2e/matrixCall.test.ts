// The browser call through the real Matrix flow: demo users on the test
// Synapse log in from Chromium pages, publish their call membership
// (delayed leave first), trade OpenID tokens for SFU JWTs at /sfu/get,
// connect, and decode each other; leaving the membership ends the session.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../integration/synapse/context.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { buildTestPage, TEST_PAGE_DIR, TEST_PAGE_PREFIX } from './pages/buildTestPage.ts';
import { registerUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { openParticipant, receivesFrom } from '../tools/callPage.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const synapse = inject('synapse');
const serverLog: string[] = [];
let node: SfuNode;
let browser: BrowserHandle;
let roomId: string;
const pids: number[] = [];
const suffix = `${Date.now()}`;
const PASSWORD = 'e2e-password';

beforeAll(async () => {
  await buildTestPage();
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfue2e${suffix}`, 'bot-password');
  const alice = await registerUser(synapse.baseUrl, synapse.sharedSecret, `alicee2e${suffix}`, PASSWORD);
  const bob = await registerUser(synapse.baseUrl, synapse.sharedSecret, `bobe2e${suffix}`, PASSWORD);
  const aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...alice });
  roomId = await aliceHttp.createRoom({
    invite: [bot.userId, bob.userId],
    powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } },
  });
  await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...bob }).join(roomId as never);
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-matrix-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  pids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', {
    timeoutMs: 15_000,
    description: 'SFU account joined the room on invite',
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await node?.stop();
  await waitForExit(pids);
});

describe('a browser call through Matrix admission', () => {
  it('two pages log in, publish memberships, get JWTs, decode each other; a leave ends the session', async () => {
    const pageUrl = `${node.publicUrl}${TEST_PAGE_PREFIX}test.html`;
    const matrix = (user: string) => ({ homeserverUrl: synapse.baseUrl, user: `${user}e2e${suffix}`, password: PASSWORD, roomId, sfuServiceUrl: node.publicUrl });
    const alice = await openParticipant(browser, pageUrl, 'alice');
    const bob = await openParticipant(browser, pageUrl, 'bob');
    const started = performance.now();
    const [aliceId, bobId] = await Promise.all([
      alice.join({ conference: 'unused', matrix: matrix('alice'), video: { width: 640, height: 360 } }),
      bob.join({ conference: 'unused', matrix: matrix('bob'), video: { width: 640, height: 360 } }),
    ]);
    expect(aliceId).toMatch(/^@alicee2e\d+:synapse\.test:/);
    await waitFor(() => receivesFrom(alice, bobId), { timeoutMs: 45_000, description: 'alice decodes bob' });
    await waitFor(() => receivesFrom(bob, aliceId), { timeoutMs: 45_000, description: 'bob decodes alice' });
    console.log(`[e2e] Matrix flow: login → membership → JWT → both decoding in ${(performance.now() - started).toFixed(0)} ms`);

    await bob.leave();
    await waitFor(async () => (await alice.events()).find((e) => e.name === 'peerLeft'), { timeoutMs: 10_000, description: 'alice sees bob leave' });
    await alice.leave();
    const reasons = serverLog.filter((line) => line.includes('"msg":"token issued"'));
    expect(reasons.length).toBeGreaterThanOrEqual(2);
  });
});
