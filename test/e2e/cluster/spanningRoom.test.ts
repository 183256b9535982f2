// One room spanning three SFU node processes (cluster.participantsPerNode: 1, so each
// participant is placed on another node and the nodes link the room by pipe transports),
// with our call widget in Chromium: everyone decodes everyone across the nodes; when the node
// the room was first placed on is SIGKILLed, the two participants on the other nodes go on
// decoding each other, and the third is back on a live node and decodes them (and they it).
// Times are printed, never asserted.

import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import '../../integration/synapse/context.ts';
import { waitFor } from '../../../src/common/lib/waitFor.ts';
import { buildWidget } from '../../../src/build/buildWidget.ts';
import { registerUser, type RegisteredUser } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { MatrixTestClient } from '../../tools/synapse/MatrixTestClient.ts';
import { launchBrowser, type BrowserHandle } from '../../tools/browser.ts';
import { startClusterNodes, type ClusterNodes } from '../../tools/clusterNodes.ts';
import { longestStallMs, openWidgetParticipant, recoveryMs, type WidgetParticipant } from './widgetParticipant.ts';

const synapse = inject('synapse');
const PASSWORD = 'spanning-password';
const suffix = Date.now().toString(36);
let cluster: ClusterNodes | undefined;
let browser: BrowserHandle | undefined;
let bot: RegisteredUser;
const open: WidgetParticipant[] = [];

/** Waits until `receiver` decodes each of `others` (on a connection newer than `sinceMs`); a terminal screen fails at once. */
async function decodesAll(receiver: WidgetParticipant, others: readonly WidgetParticipant[], description: string, sinceMs = 0): Promise<void> {
  const outcome = await waitFor(
    async () => {
      const terminal = (await receiver.samples()).at(-1)?.terminal;
      if (terminal) return { terminal };
      return receiver.decodes(others.map((other) => other.userId), sinceMs);
    },
    { timeoutMs: 90_000, intervalMs: 500, description: `${receiver.label}: ${description}` },
  );
  if (outcome !== true) throw new Error(`${receiver.label} shows the ${outcome.terminal} screen (${description})`);
}

async function nodeOf(participant: WidgetParticipant): Promise<string | undefined> {
  return cluster!.nodeOfUrl((await participant.sockets()).at(-1)?.url ?? '')?.id;
}

beforeAll(async () => {
  await buildWidget();
  bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfus${suffix}`, 'bot-password');
  cluster = await startClusterNodes({ homeserver: synapse, account: { userId: bot.userId, password: 'bot-password' }, extraConfig: { cluster: { participantsPerNode: 1 } } });
  browser = await launchBrowser(['--autoplay-policy=no-user-gesture-required']);
}, 240_000);

afterAll(async () => {
  for (const participant of open.splice(0)) await participant.close();
  await browser?.close();
  await cluster?.stop();
});

beforeEach(({ onTestFailed }) => {
  const from = new Map((cluster?.nodes ?? []).map((node) => [node.id, node.log.length]));
  const consoleFrom = browser?.consoleLines.length ?? 0;
  onTestFailed(() => {
    for (const node of cluster?.nodes ?? []) console.log(`--- ${node.id} log (last 60 of this test) ---\n${node.log.slice(from.get(node.id) ?? 0).slice(-60).join('\n')}`);
    console.log(`--- browser console (last 80) ---\n${browser?.consoleLines.slice(consoleFrom).slice(-80).join('\n') ?? ''}`);
  });
});

describe('one room spanning three SFU nodes, with the call widget in Chromium', () => {
  it('participants on three nodes decode each other; after the room\'s first node is SIGKILLed the others go on and its participant is back', async () => {
    const users = await Promise.all(['alice', 'bob', 'carol'].map(async (name) => ({ ...(await registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}s${suffix}`, PASSWORD)), password: PASSWORD })));
    const ownerHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...users[0]! });
    const roomId = await ownerHttp.createRoom({ invite: [bot.userId, ...users.slice(1).map((u) => u.userId)] as never, powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
    for (const member of users.slice(1)) await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...member }).join(roomId as never);
    await waitFor(async () => (await ownerHttp.membershipOf(roomId as never, bot.userId)) === 'join', { timeoutMs: 20_000, description: 'the SFU account joined the room' });

    // One after the other: each joins once the previous one is in, so each node's budget is used.
    for (const [index, account] of users.entries()) {
      const participant = await openWidgetParticipant({ browser: browser!, serviceUrl: cluster!.serviceUrl, homeserverUrl: synapse.baseUrl, account, roomId, label: ['alice', 'bob', 'carol'][index]! });
      open.push(participant);
      await waitFor(async () => (await participant.samples()).at(-1)?.state === 'connected', { timeoutMs: 60_000, intervalMs: 250, description: `${participant.label} in the call` });
    }
    const started = Date.now();
    await Promise.all(open.map((receiver) => decodesAll(receiver, open.filter((other) => other !== receiver), 'decodes everyone across the nodes')));
    console.log(`[cluster-e2e] spanning room: everyone decodes everyone ${Date.now() - started} ms after the third participant was in`);
    const placed = await Promise.all(open.map(nodeOf));
    expect(new Set(placed).size).toBe(3);

    const home = (await cluster!.servingNodeOf(roomId))!;
    const moved = open[placed.indexOf(home)]!;
    const stayed = open.filter((participant) => participant !== moved);
    const killedAt = Date.now();
    await cluster!.node(home).kill();
    await decodesAll(moved, stayed, 'decodes the others again after its node was killed', killedAt);
    await Promise.all(stayed.map((receiver) => decodesAll(receiver, open.filter((other) => other !== receiver), 'decodes everyone after the kill')));
    const recoveredAt = Date.now();
    const after = await Promise.all(open.map(nodeOf));
    expect(after).not.toContain(home);

    for (const receiver of open) {
      const samples = await receiver.samples();
      expect(samples.filter((sample) => sample.t >= killedAt && sample.terminal !== '').map((sample) => sample.terminal)).toEqual([]);
      for (const other of open.filter((candidate) => candidate !== receiver)) {
        const line =
          receiver === moved
            ? `decodes ${other.label} again after ${recoveryMs(samples, other.userId, killedAt)} ms`
            : other === moved
              ? `decodes ${other.label} again after ${longestStallMs(samples, other.userId, killedAt, recoveredAt)} ms without frames`
              : `video of ${other.label}: longest stall ${longestStallMs(samples, other.userId, killedAt, recoveredAt)} ms`;
        console.log(`[cluster-e2e] spanning room, ${home} (${moved.label}'s node, the room's first) SIGKILLed: ${receiver.label} (${after[open.indexOf(receiver)]}) ${line}`);
      }
    }
  }, 300_000);
});
