// A 60 s homeserver outage drops no call. Two Chromium pages are in a call through Matrix
// admission (fetch flow: delayed leave of 5 s, restarted every 2 s) on a real SFU node and a
// Synapse of this file's own (so freezing it touches no other test). Synapse is frozen with
// SIGSTOP for 60 s, far longer than the delayed leaves, then resumed with SIGCONT: it sends
// the overdue delayed leaves at once, emptying both memberships. The clients must publish
// them again (CallMembership `restored`) within the SFU's membership grace, so that both
// sessions stay open, both pages keep decoding, and the server evicts nobody.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { startSynapse, type SynapseInstance } from '../../src/server/dev/synapse/SynapseProcess.ts';
import { registerUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { loopbackMatrixOverrides } from '../../src/server/dev/devHomeserver.ts';
import { buildTestPage, TEST_PAGE_DIR, TEST_PAGE_PREFIX } from './pages/buildTestPage.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { openParticipant, receivesFrom, type Participant } from '../tools/callPage.ts';
import { dumpLogsOnFailure, tearDown } from '../tools/e2eHarness.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const OUTAGE_MS = 60_000;
const PASSWORD = 'outage-password';
const serverLog: string[] = [];
let synapse: SynapseInstance;
let synapseDir: string;
let node: SfuNode;
let browser: BrowserHandle | undefined;
let roomId: string;
let roomObserver: MatrixTestClient;
const workerPids: number[] = [];
const suffix = `${Date.now()}`;

dumpLogsOnFailure(serverLog, () => browser);

beforeAll(async () => {
  synapseDir = await mkdtemp(join(tmpdir(), 'matrix-sfu-outage-synapse-'));
  [synapse] = await Promise.all([startSynapse({ dataDir: synapseDir }), buildTestPage()]);
  const bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfuoutage${suffix}`, 'bot-password');
  const alice = await registerUser(synapse.baseUrl, synapse.sharedSecret, `aliceoutage${suffix}`, PASSWORD);
  const bob = await registerUser(synapse.baseUrl, synapse.sharedSecret, `boboutage${suffix}`, PASSWORD);
  roomObserver = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...bot });
  roomId = await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...alice }).createRoom({
    invite: [bot.userId, bob.userId],
    powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } },
  });
  await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...bob }).join(roomId as never);
  const config = loadConfig({
    overrides: {
      server: { port: 0, dataDir: `/tmp/sfu-e2e-outage-${process.pid}` },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...loopbackMatrixOverrides(synapse, { userId: bot.userId, password: 'bot-password' }, 5000),
    },
  });
  node = await SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  workerPids.push(...node.pool.slots.map((slot) => slot.worker.pid));
  await waitFor(() => node.matrix!.account.client.getRoom(roomId)?.getMyMembership() === 'join', {
    timeoutMs: 15_000,
    description: 'SFU account joined the room on invite',
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  // Never leave Synapse frozen, whatever failed.
  if (synapse) process.kill(synapse.pid, 'SIGCONT');
  await tearDown(browser, node, workerPids, serverLog);
  await synapse?.stop();
  if (synapseDir) await rm(synapseDir, { recursive: true, force: true });
}, 60_000);

/** Frames of `publisher`'s video that `receiver` has decoded so far (0 if none). */
async function framesFrom(receiver: Participant, publisher: string): Promise<number> {
  const video = (await receiver.stats()).find((s) => s.participantId === publisher && s.kind === 'video');
  return video?.framesDecoded ?? 0;
}

/** The room's call membership events, oldest first, with times relative to `zeroMs` (diagnostics). */
async function membershipTimeline(zeroMs: number): Promise<string[]> {
  const page = await roomObserver.request<{ chunk?: Array<{ type: string; sender: string; origin_server_ts: number; content: Record<string, unknown> }> }>(
    'GET',
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`,
  );
  return (page.chunk ?? [])
    .filter((event) => event.type === 'org.matrix.msc3401.call.member')
    .reverse()
    .map((event) => `${event.origin_server_ts - zeroMs} ms ${event.sender.slice(1, event.sender.indexOf('outage'))}: ${'application' in event.content ? `membership created_ts ${Number(event.content['created_ts']) - zeroMs}` : 'empty'}`);
}

describe('a 60 s homeserver outage', () => {
  it('drops no call: memberships are restored within the grace, nobody is evicted, media keeps flowing', async () => {
    const pageUrl = `${node.publicUrl}${TEST_PAGE_PREFIX}test.html`;
    const matrix = (user: string) => ({ homeserverUrl: synapse.baseUrl, user: `${user}outage${suffix}`, password: PASSWORD, roomId, sfuServiceUrl: node.publicUrl });
    const alice = await openParticipant(browser!, pageUrl, 'alice');
    const bob = await openParticipant(browser!, pageUrl, 'bob');
    const [aliceId, bobId] = await Promise.all([
      alice.join({ conference: 'unused', matrix: matrix('alice'), video: { width: 320, height: 180 } }),
      bob.join({ conference: 'unused', matrix: matrix('bob'), video: { width: 320, height: 180 } }),
    ]);
    await waitFor(() => receivesFrom(alice, bobId), { timeoutMs: 45_000, description: 'alice decodes bob' });
    await waitFor(() => receivesFrom(bob, aliceId), { timeoutMs: 45_000, description: 'bob decodes alice' });
    const logFrom = serverLog.length;
    const consoleFrom = browser!.consoleLines.length;

    // What the SFU's Matrix client hands the membership watcher (diagnostics for the report).
    let resumedWallMs = 0;
    const sfuSaw: string[] = [];
    node.matrix!.account.client.on('RoomState.events' as never, ((event: { getType(): string; getSender(): string; getContent(): Record<string, unknown>; getId(): string }) => {
      if (event.getType() !== 'org.matrix.msc3401.call.member') return;
      sfuSaw.push(`${Date.now() - (resumedWallMs || Date.now())} ms ${event.getSender().slice(1, event.getSender().indexOf('outage'))}: ${'application' in event.getContent() ? 'membership' : 'empty'} ${event.getId()}`);
    }) as never);
    process.kill(synapse.pid, 'SIGSTOP');
    const stoppedAt = performance.now();
    const framesAtStop = [await framesFrom(alice, bobId), await framesFrom(bob, aliceId)];
    // Media does not need the homeserver: it keeps flowing during the outage.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS / 2));
    const framesMidway = [await framesFrom(alice, bobId), await framesFrom(bob, aliceId)];
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (performance.now() - stoppedAt)));
    process.kill(synapse.pid, 'SIGCONT');
    const resumedAt = performance.now();
    resumedWallMs = Date.now();

    // Both clients see their membership emptied by the overdue delayed leave and publish it again.
    const restoredLines = (): string[] => browser!.consoleLines.slice(consoleFrom).filter((line) => line.includes('call membership restored'));
    await waitFor(() => (restoredLines().some((l) => l.startsWith('[alice]')) && restoredLines().some((l) => l.startsWith('[bob]')) ? true : undefined), {
      timeoutMs: 30_000,
      description: 'both pages restored their call membership',
    });
    const restoredAfterMs = performance.now() - resumedAt;
    // Outlast the SFU's grace (15 s by default) and a reconcile, then look at what happened.
    await new Promise((resolve) => setTimeout(resolve, 25_000));

    const after = serverLog.slice(logFrom);
    const evictions = after.filter((line) => line.includes('"msg":"membership ended"') || line.includes('evicted'));
    const graceLines = after.filter((line) => /grace/i.test(line));
    const closedEvents = [...(await alice.events()), ...(await bob.events())].filter((event) => event.name === 'closed');
    console.log(
      `[e2e] outage ${OUTAGE_MS} ms: frames at stop ${framesAtStop.join('/')}, midway ${framesMidway.join('/')}; ` +
        `both memberships restored ${restoredAfterMs.toFixed(0)} ms after SIGCONT (${restoredLines().length} restores); ` +
        `server grace lines: ${graceLines.length}; evictions: ${evictions.length}`,
    );
    for (const line of graceLines) console.log(`[e2e] ${line}`);
    for (const line of await membershipTimeline(resumedWallMs)) console.log(`[e2e] homeserver: ${line}`);
    for (const line of sfuSaw) console.log(`[e2e] SFU client saw: ${line}`);
    const framesAfter = [await framesFrom(alice, bobId), await framesFrom(bob, aliceId)];
    await waitFor(async () => ((await framesFrom(alice, bobId)) > (framesAfter[0] as number) + 30 && (await framesFrom(bob, aliceId)) > (framesAfter[1] as number) + 30 ? true : undefined), {
      timeoutMs: 15_000,
      description: 'both pages still decoding after the outage',
    });
    expect(framesMidway[0]).toBeGreaterThan(framesAtStop[0] as number);
    expect(framesMidway[1]).toBeGreaterThan(framesAtStop[1] as number);
    expect(evictions).toEqual([]);
    expect(closedEvents).toEqual([]);
    // Each device has exactly one live membership again on the homeserver (one state key each).
    const memberships = (await roomObserver.roomState(roomId as never)).filter((event) => event.type === 'org.matrix.msc3401.call.member');
    const live = memberships.filter((event) => (event.content as { application?: unknown }).application === 'm.call');
    expect(live.map((event) => event.sender).sort()).toEqual([aliceId, bobId].map((id) => id.slice(0, id.lastIndexOf(':'))).sort());

    await bob.leave();
    await alice.leave();
  });
});
