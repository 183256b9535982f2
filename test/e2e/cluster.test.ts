// Three SFU nodes as real processes on one real Redis, behind one service URL (a loopback
// balancer standing in for nginx, test/tools/clusterNodes.ts), with real Synapse and our call
// widget in real Chromium (standalone sign-in, test/e2e/cluster/widgetParticipant.ts):
// - a SIGKILLed node: every participant of its room is back in the call on another node and
//   decodes the others again (the widget asks for a new token after its socket drops);
// - Redis down for 30 s: running calls keep decoding, a token request gets the cluster's 503,
//   and once Redis is back a new participant joins and decodes;
// - a drained node (SIGTERM): nobody's call ends; everyone moves to another node and decodes;
// - a SIGKILLed node of a cluster that declares nodes dead only after 8 s (nodeTimeoutMs
//   8000): the widgets keep reconnecting (their token replies name the dead node until its
//   record expires) and everyone is back and decoding.
// Recovery and interruption times are printed, never asserted.

import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import '../integration/synapse/context.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { buildWidget } from '../../src/build/buildWidget.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { MatrixTestClient } from '../tools/synapse/MatrixTestClient.ts';
import { launchBrowser, type BrowserHandle } from '../tools/browser.ts';
import { startClusterNodes, type ClusterNodes } from '../tools/clusterNodes.ts';
import { longestStallMs, openWidgetParticipant, recoveryMs, type ProbeSample, type WidgetParticipant } from './cluster/widgetParticipant.ts';

const synapse = inject('synapse');
const PASSWORD = 'cluster-password';
const suffix = Date.now().toString(36);
let cluster: ClusterNodes | undefined;
let browser: BrowserHandle | undefined;
let bot: RegisteredUser;
const open: WidgetParticipant[] = [];

/** A user with a password the widget signs in with. */
async function user(name: string): Promise<RegisteredUser & { password: string }> {
  return { ...(await registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}c${suffix}`, PASSWORD)), password: PASSWORD };
}

/** A room `members` are in, where anyone may publish a call membership, with the SFU account joined. */
async function callRoom(members: readonly RegisteredUser[], sfuAccount: RegisteredUser = bot): Promise<string> {
  const [owner, ...others] = members as [RegisteredUser, ...RegisteredUser[]];
  const ownerHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...owner });
  const roomId = await ownerHttp.createRoom({ invite: [sfuAccount.userId, ...others.map((member) => member.userId)] as never, powerLevelContentOverride: { events: { 'org.matrix.msc3401.call.member': 0 } } });
  for (const member of others) await new MatrixTestClient({ baseUrl: synapse.baseUrl, ...member }).join(roomId as never);
  await waitFor(async () => (await ownerHttp.membershipOf(roomId as never, sfuAccount.userId)) === 'join', { timeoutMs: 20_000, description: 'the SFU account joined the room' });
  return roomId;
}

async function join(label: string, account: RegisteredUser & { password: string }, roomId: string, on: ClusterNodes = cluster!): Promise<WidgetParticipant> {
  const participant = await openWidgetParticipant({ browser: browser!, serviceUrl: on.serviceUrl, homeserverUrl: synapse.baseUrl, account, roomId, label });
  open.push(participant);
  return participant;
}

/** Waits until each participant decodes every other one (on a connection newer than `sinceMs`). */
async function everyoneDecodes(participants: readonly WidgetParticipant[], description: string, sinceMs = 0, timeoutMs = 90_000): Promise<void> {
  await Promise.all(
    participants.map(async (receiver) => {
      const outcome = await waitFor(
        async () => {
          // A terminal screen (ended, error) never turns back into a call: stop waiting at once.
          const terminal = (await receiver.samples()).at(-1)?.terminal;
          if (terminal) return { terminal };
          return receiver.decodes(participants.filter((other) => other !== receiver).map((other) => other.userId), sinceMs);
        },
        { timeoutMs, intervalMs: 500, description: `${receiver.label}: ${description}` },
      );
      if (outcome !== true) throw new Error(`${receiver.label} shows the ${outcome.terminal} screen instead of the call (${description})`);
    }),
  );
}

/** The node each participant's current WebSocket goes to. */
async function nodesOf(participants: readonly WidgetParticipant[], on: ClusterNodes = cluster!): Promise<Array<string | undefined>> {
  return Promise.all(participants.map(async (participant) => on.nodeOfUrl((await participant.sockets()).at(-1)?.url ?? '')?.id));
}

/** The call screen's states after `fromMs`, repeats collapsed (e.g. connected → reconnecting → connected). */
function stateChanges(samples: readonly ProbeSample[], fromMs: number): string {
  const states: string[] = [];
  for (const sample of samples) if (sample.t >= fromMs && sample.state !== states.at(-1)) states.push(sample.state);
  return states.join(' → ');
}

/** No sample after `fromMs` shows the ended or error screen. */
function neverEnded(label: string, samples: readonly ProbeSample[], fromMs: number): void {
  const terminal = samples.filter((sample) => sample.t >= fromMs && sample.terminal !== '');
  expect(terminal.map((sample) => `${label}: ${sample.terminal} at +${sample.t - fromMs} ms`)).toEqual([]);
}

async function closeAll(): Promise<void> {
  for (const participant of open.splice(0)) await participant.close();
}

beforeAll(async () => {
  await buildWidget();
  bot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfuc${suffix}`, 'bot-password');
  const started = performance.now();
  cluster = await startClusterNodes({ homeserver: synapse, account: { userId: bot.userId, password: 'bot-password' } });
  console.log(`[cluster-e2e] three node processes ready and registered in ${Math.round(performance.now() - started)} ms; service URL ${cluster.serviceUrl}`);
  browser = await launchBrowser(['--autoplay-policy=no-user-gesture-required']);
}, 240_000);

afterAll(async () => {
  await closeAll().catch((error: unknown) => console.log(`[cluster-e2e] closing pages: ${String(error)}`));
  await browser?.close();
  await cluster?.stop();
});

beforeEach(({ onTestFailed }) => {
  const from = new Map((cluster?.nodes ?? []).map((node) => [node.id, node.log.length]));
  const consoleFrom = browser?.consoleLines.length ?? 0;
  onTestFailed(async () => {
    for (const participant of open) {
      const html = await participant.page.content().catch((error: unknown) => String(error));
      console.log(`--- ${participant.label}'s page (first 3000 characters of its HTML) ---\n${html.replace(/<style[\s\S]*?<\/style>/g, '').slice(0, 3000)}`);
    }
    for (const node of cluster?.nodes ?? []) console.log(`--- ${node.id} log (last 60 of this test) ---\n${node.log.slice(from.get(node.id) ?? 0).slice(-60).join('\n')}`);
    console.log(`--- browser console (last 80) ---\n${browser?.consoleLines.slice(consoleFrom).slice(-80).join('\n') ?? ''}`);
  });
});

describe('three SFU nodes on one Redis, with the call widget in Chromium', () => {
  it('after the serving node is SIGKILLed, every participant is back in the call on another node and decodes the others', async () => {
    const [alice, bob] = [await user('alicek'), await user('bobk')];
    const roomId = await callRoom([alice, bob]);
    const participants = [await join('alice', alice, roomId), await join('bob', bob, roomId)];
    await everyoneDecodes(participants, 'decodes the others before the kill');
    const serving = await cluster!.servingNodeOf(roomId);
    expect(serving).toBeDefined();
    expect(await nodesOf(participants)).toEqual([serving, serving]);

    const killedAt = Date.now();
    await cluster!.node(serving!).kill();
    await everyoneDecodes(participants, 'decodes the others again after the kill', killedAt);
    const movedTo = await cluster!.servingNodeOf(roomId);
    expect(movedTo).toBeDefined();
    expect(movedTo).not.toBe(serving);
    expect(await nodesOf(participants)).toEqual([movedTo, movedTo]);
    for (const receiver of participants) {
      const samples = await receiver.samples();
      neverEnded(receiver.label, samples, killedAt);
      console.log(`[cluster-e2e] SIGKILL of ${serving}: ${receiver.label}'s call screen: ${stateChanges(samples, killedAt - 500)}`);
      for (const other of participants.filter((candidate) => candidate !== receiver)) {
        console.log(`[cluster-e2e] SIGKILL of ${serving}: ${receiver.label} decodes ${other.label} again on ${movedTo} after ${recoveryMs(samples, other.userId, killedAt)} ms`);
      }
    }
    await closeAll();
    await cluster!.restart(serving!);
    await cluster!.waitForRegistry();
  }, 300_000);

  it('while Redis is down for 30 s, running calls keep decoding and token requests get the cluster 503; afterwards a new participant joins and decodes', async () => {
    const [alice, bob, carol] = [await user('aliceo'), await user('bobo'), await user('carolo')];
    const roomId = await callRoom([alice, bob, carol]);
    const participants = [await join('alice', alice, roomId), await join('bob', bob, roomId)];
    await everyoneDecodes(participants, 'decodes the others before the outage');
    const serving = await cluster!.servingNodeOf(roomId);
    // Alice's device in the call: the token request below is one she could make (membership checked first).
    const aliceTile = (await participants[1]!.samples()).at(-1)!.tiles.find((tile) => tile.p.startsWith(`${alice.userId}:`))!;
    const aliceDevice = aliceTile.p.slice(alice.userId.length + 1);
    const aliceHttp = new MatrixTestClient({ baseUrl: synapse.baseUrl, ...alice });

    const downAt = Date.now();
    await cluster!.redis.kill();
    const refused = await waitFor(async () => {
      const response = await fetch(`${cluster!.serviceUrl}/sfu/get`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ room: roomId, device_id: aliceDevice, openid_token: await aliceHttp.requestOpenIdToken() }),
      });
      const reply = { status: response.status, body: (await response.json()) as Record<string, unknown> };
      return reply.status === 503 ? reply : undefined;
    }, { timeoutMs: 15_000, intervalMs: 500, description: 'a token request refused while Redis is down' });
    expect(refused.body).toEqual({ errcode: 'M_UNKNOWN', error: 'The SFU cluster cannot place calls right now; try again shortly.' });
    console.log(`[cluster-e2e] Redis down: token request refused with 503 after ${Date.now() - downAt} ms`);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + 30_000 - Date.now())));
    const upAt = Date.now();
    await cluster!.redis.restart();

    for (const receiver of participants) {
      const samples = await receiver.samples();
      neverEnded(receiver.label, samples, downAt);
      for (const other of participants.filter((candidate) => candidate !== receiver)) {
        const stall = longestStallMs(samples, other.userId, downAt, upAt);
        const window = samples.filter((sample) => sample.t >= downAt && sample.t <= upAt).map((sample) => sample.tiles.find((tile) => tile.p.startsWith(`${other.userId}:`))?.decoded ?? 0);
        console.log(`[cluster-e2e] Redis down ${upAt - downAt} ms: ${receiver.label} decoded ${(window.at(-1) ?? 0) - (window[0] ?? 0)} frames of ${other.label}; longest stall ${stall} ms`);
        expect(stall, `${receiver.label}'s video of ${other.label} stalled`).toBeLessThanOrEqual(2000);
      }
    }

    await cluster!.waitForRegistry();
    const joinedAt = Date.now();
    participants.push(await join('carol', carol, roomId));
    await everyoneDecodes(participants, 'decodes everyone after Redis returned');
    console.log(`[cluster-e2e] Redis back: carol joined and everyone decodes everyone ${Date.now() - joinedAt} ms after her page opened`);
    expect(await cluster!.servingNodeOf(roomId)).toBe(serving);
    await closeAll();
  }, 300_000);

  it('draining the serving node (SIGTERM) ends nobody\'s call: every participant moves to another node and decodes everyone', async () => {
    const [alice, bob, carol] = [await user('aliced'), await user('bobd'), await user('carold')];
    const roomId = await callRoom([alice, bob, carol]);
    const participants = [await join('alice', alice, roomId), await join('bob', bob, roomId), await join('carol', carol, roomId)];
    await everyoneDecodes(participants, 'decodes everyone before the drain');
    const serving = cluster!.node((await cluster!.servingNodeOf(roomId))!);
    expect(await nodesOf(participants)).toEqual([serving.id, serving.id, serving.id]);

    const drainAt = Date.now();
    serving.drain();
    await everyoneDecodes(participants, 'decodes everyone on another node after the drain', drainAt);
    const movedTo = await cluster!.servingNodeOf(roomId);
    expect(movedTo).not.toBe(serving.id);
    expect(await nodesOf(participants)).toEqual([movedTo, movedTo, movedTo]);
    expect(await cluster!.node(movedTo!).metric('sfu_participants')).toBe(3);
    const recoveredAt = Date.now();
    await waitFor(() => !serving.running, { timeoutMs: 30_000, description: `${serving.id} exits after its drain` });
    expect(serving.log.filter((line) => line.startsWith(`[harness] ${serving.id} exited`)).at(-1)).toBe(`[harness] ${serving.id} exited (code 0, signal null)`);
    for (const receiver of participants) {
      const samples = await receiver.samples();
      neverEnded(receiver.label, samples, drainAt);
      console.log(`[cluster-e2e] drain of ${serving.id}: ${receiver.label}'s call screen: ${stateChanges(samples, drainAt - 500)}`);
      for (const other of participants.filter((candidate) => candidate !== receiver)) {
        console.log(
          `[cluster-e2e] drain of ${serving.id}: ${receiver.label}'s video of ${other.label} interrupted for ${longestStallMs(samples, other.userId, drainAt - 1000, recoveredAt)} ms (decoding on ${movedTo} after ${recoveryMs(samples, other.userId, drainAt)} ms)`,
        );
      }
    }
    await closeAll();
  }, 300_000);
});

describe('a cluster that declares a node dead only after 8 s (cluster.nodeTimeoutMs 8000), with the call widget in Chromium', () => {
  let slow: ClusterNodes | undefined;
  let slowBot: RegisteredUser;

  beforeAll(async () => {
    slowBot = await registerUser(synapse.baseUrl, synapse.sharedSecret, `sfus${suffix}`, 'bot-password');
    const started = performance.now();
    slow = await startClusterNodes({ homeserver: synapse, account: { userId: slowBot.userId, password: 'bot-password' }, count: 2, nodeTimeoutMs: 8000 });
    console.log(`[cluster-e2e] two node processes (nodeTimeoutMs 8000) ready in ${Math.round(performance.now() - started)} ms`);
  }, 240_000);

  afterAll(async () => {
    await closeAll().catch((error: unknown) => console.log(`[cluster-e2e] closing pages: ${String(error)}`));
    await slow?.stop();
  });

  it('after the serving node is SIGKILLed, the widgets keep reconnecting until its record expires, and every participant is back and decodes the others', async () => {
    const [alice, bob] = [await user('alicet'), await user('bobt')];
    const roomId = await callRoom([alice, bob], slowBot);
    const participants = [await join('alice', alice, roomId, slow), await join('bob', bob, roomId, slow)];
    await everyoneDecodes(participants, 'decodes the others before the kill');
    const serving = await slow!.servingNodeOf(roomId);
    expect(serving).toBeDefined();
    expect(await nodesOf(participants, slow)).toEqual([serving, serving]);

    const killedAt = Date.now();
    await slow!.node(serving!).kill();
    await everyoneDecodes(participants, 'decodes the others again after the kill', killedAt);
    const movedTo = await slow!.servingNodeOf(roomId);
    expect(movedTo).toBeDefined();
    expect(movedTo).not.toBe(serving);
    expect(await nodesOf(participants, slow)).toEqual([movedTo, movedTo]);
    for (const receiver of participants) {
      const samples = await receiver.samples();
      neverEnded(receiver.label, samples, killedAt);
      const sockets = (await receiver.sockets()).filter((socket) => socket.t >= killedAt);
      console.log(`[cluster-e2e] SIGKILL of ${serving} (nodeTimeoutMs 8000): ${receiver.label}'s call screen: ${stateChanges(samples, killedAt - 500)}; ${sockets.length} sockets opened after the kill`);
      for (const other of participants.filter((candidate) => candidate !== receiver)) {
        console.log(`[cluster-e2e] SIGKILL of ${serving} (nodeTimeoutMs 8000): ${receiver.label} decodes ${other.label} again on ${movedTo} after ${recoveryMs(samples, other.userId, killedAt)} ms`);
      }
    }
    await closeAll();
  }, 300_000);
});
