// One room across three nodes (the cascade), against real parts: a real redis-server,
// three SfuNodes (auth mode none, each with its own mediasoup worker and ports) and
// synthetic WebRTC participants (node-datachannel: ICE, DTLS-SRTP, VP8 and Opus) from the
// load generator, one per node. Every participant receives every other's audio and video
// through the pipe links between the nodes (SRTP on); the dumps show the remote
// participants and the links; a participant leaving one node leaves the room everywhere;
// a node that stops tells the others, whose participants stop seeing its participants.
// Times are printed, never asserted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { RedisProcess } from '../tools/redis.ts';
import { Participant } from '../load/Participant.ts';
import { LiveKitParticipant } from '../load/LiveKitParticipant.ts';

const ROOM = '!cascade:example.org';
const serverLog: string[] = [];
let redis: RedisProcess;
const nodes: SfuNode[] = [];
const participants: Participant[] = [];
let ticker: NodeJS.Timeout | undefined;
const origin = performance.now();
const now = (): number => performance.now() - origin;

async function startNode(nodeId: string): Promise<SfuNode> {
  const config = loadConfig({
    overrides: {
      server: { port: 0, host: '127.0.0.1' },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      cluster: { redisUrl: redis.url, nodeId, heartbeatMs: 300, nodeTimeoutMs: 1200, commandTimeoutMs: 500, participantsPerNode: 1, pipeMinPort: 20000, pipeMaxPort: 29999 },
    },
  });
  return SfuNode.start({ config, logger: createLogger({ level: 'info', sink: (line) => serverLog.push(line) }) });
}

function join(node: SfuNode, participantId: string): Participant {
  const participant = new Participant(
    {
      wsUrl: `ws://127.0.0.1:${node.port}/ws`,
      conference: ROOM,
      participantId,
      video: true,
      audio: true,
      videoBitrate: 300_000,
      subscribe: true,
      requestTimeoutMs: 10_000,
    },
    now,
  );
  participants.push(participant);
  return participant;
}

/** Packets `receiver` got from `publisher`, by kind. */
function receivedFrom(receiver: Participant, publisher: Participant): { audio: number; video: number } {
  const result = { audio: 0, video: 0 };
  const published = new Set(Object.values(publisher.producerIds));
  for (const counters of receiver.subscriptions.values()) {
    if (published.has(counters.producerId)) result[counters.kind] += counters.received;
  }
  return result;
}

function conferenceOf(node: SfuNode) {
  return node.registry.get(ROOM as ConferenceId);
}

beforeAll(async () => {
  redis = await RedisProcess.start();
  for (const id of ['node-1', 'node-2', 'node-3']) nodes.push(await startNode(id));
  await waitFor(() => nodes.every((node) => node.cluster!.liveNodeIds.length === 3) || undefined, { timeoutMs: 10_000, description: 'every node sees three nodes' });
  let tick = 0;
  ticker = setInterval(() => {
    tick++;
    for (const participant of participants) participant.tick(tick, now());
  }, 20);
}, 60_000);

afterAll(async () => {
  if (process.env['CASCADE_LOG']) console.log(serverLog.filter((l) => new RegExp(process.env['CASCADE_LOG']!).test(l)).join('\n'));
  if (ticker) clearInterval(ticker);
  for (const participant of participants) await participant.close().catch(() => undefined);
  for (const node of nodes) await node.stop();
  await redis?.stop();
});

describe('a room across three nodes (cascade)', () => {
  it('carries every participant media to the participants of the other nodes through SRTP pipe links', async () => {
    const started = performance.now();
    const [a, b, c] = [join(nodes[0]!, 'alice'), join(nodes[1]!, 'bob'), join(nodes[2]!, 'carol')];
    await Promise.all([a.start(), b.start(), c.start()]);
    const everyone = [a, b, c];
    await waitFor(
      () =>
        everyone.every((receiver) =>
          everyone.every((publisher) => {
            if (publisher === receiver) return true;
            const got = receivedFrom(receiver, publisher);
            return got.audio > 20 && got.video > 20;
          }),
        ) || undefined,
      { timeoutMs: 30_000, intervalMs: 100, description: `everyone receives everyone's audio and video\n${serverLog.filter((l) => /warn|error/.test(l)).slice(-20).join('\n')}` },
    );
    console.log(`[cascade] three participants on three nodes receive each other ${Math.round(performance.now() - started)} ms after joining`);

    for (const node of nodes) {
      const dump = conferenceOf(node)!.dump();
      expect(dump.participants.length).toBe(3);
      expect(dump.participants.filter((p) => p.remoteLink !== undefined).length).toBe(2);
      expect(node.cascade!.summary().links.up).toBe(2);
      const metrics = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
      expect(metrics).toMatch(/^sfu_cluster_rooms_spanning_nodes 1$/m);
      expect(metrics).toMatch(/^sfu_cluster_pipe_links\{state="up"\} 2$/m);
      // Participants of this node count once: the others are its peers' business.
      expect(conferenceOf(node)!.participantCount).toBe(1);
    }
    const pipes = await conferenceOf(nodes[0]!)!.router.dump();
    expect(pipes.transportIds.length).toBeGreaterThanOrEqual(3);

    // A LiveKit-edge client (the protocol Element Call speaks) on node 2 receives all three.
    const dave = new LiveKitParticipant(
      { wsUrl: `ws://127.0.0.1:${nodes[1]!.port}/ws`, conference: ROOM, participantId: 'dave', video: false, audio: false, videoBitrate: 0, subscribe: true, requestTimeoutMs: 10_000 },
      now,
    );
    await dave.start();
    try {
      await waitFor(() => [...dave.subscriptions.values()].filter((counters) => counters.received > 20).length >= 6 || undefined, {
        timeoutMs: 20_000,
        description: 'the LiveKit client on node-2 receives the audio and video of the three participants',
      });
    } finally {
      await dave.close();
    }

    // Packets keep flowing: a second sample later is larger for every pair.
    const before = receivedFrom(a, c).video;
    await waitFor(() => receivedFrom(a, c).video > before + 25 || undefined, { timeoutMs: 10_000, description: 'video keeps flowing from node-3 to node-1' });
  }, 90_000);

  it('links the nodes again when a node loses the worker holding its pipe transports, and shows the other nodes again', async () => {
    const node2 = nodes[1]!;
    const pid = node2.pool.slots[0]!.worker.pid;
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(() => node2.pool.slots[0]?.worker.pid !== pid || undefined, { timeoutMs: 15_000, description: 'node-2 replaced its worker' });
    const remoteWithMedia = () =>
      conferenceOf(node2)
        ?.dump()
        .participants.filter((p) => p.remoteLink !== undefined && p.producers.length === 2).length ?? 0;
    await waitFor(() => (node2.cascade!.summary().links.up === 2 && remoteWithMedia() === 2) || undefined, {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: `node-2 linked again and shows alice and carol with their media\n${serverLog.filter((l) => /cascade/.test(l)).slice(-10).join('\n')}`,
    });
    console.log(`[cascade] node-2's worker SIGKILLed: linked again and the other nodes' participants shown after ${Math.round(performance.now() - killedAt)} ms`);
    // The other nodes hold one up link to node-2 each, not a stale one beside a new one.
    for (const node of [nodes[0]!, nodes[2]!]) expect(node.cascade!.summary().links.up).toBe(2);
  }, 60_000);

  it('keeps the room linked and its media flowing across nodes while Redis is down and after it restarts empty', async () => {
    const [a, , c] = participants as [Participant, Participant, Participant];
    let fewestLinks = Infinity;
    const sampler = setInterval(() => {
      for (const node of nodes) fewestLinks = Math.min(fewestLinks, node.cascade!.summary().links.up);
    }, 50);
    try {
      await redis.kill();
      await waitFor(() => nodes.every((node) => !node.cluster!.available) || undefined, { timeoutMs: 10_000, description: 'nodes see Redis down' });
      const during = receivedFrom(a, c).video;
      await waitFor(() => receivedFrom(a, c).video > during + 50 || undefined, { timeoutMs: 10_000, description: 'video from node-3 still reaches node-1 with Redis down' });
      const restartedAt = performance.now();
      await redis.restart();
      await waitFor(() => nodes.every((node) => node.cluster!.available && node.cluster!.liveNodeIds.length === 3) || undefined, {
        timeoutMs: 15_000,
        description: 'nodes registered again',
      });
      // Past the settling window (node timeout) nothing was dropped as dead.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      console.log(`[cascade] Redis restarted empty: nodes registered again after ${Math.round(performance.now() - restartedAt)} ms`);
      const after = receivedFrom(c, a).video;
      await waitFor(() => receivedFrom(c, a).video > after + 25 || undefined, { timeoutMs: 10_000, description: 'video from node-1 reaches node-3 after the restart' });
    } finally {
      clearInterval(sampler);
    }
    expect(fewestLinks).toBe(2);
  }, 60_000);

  it('shows a participant moving between nodes by its session on each node, and its new session once the old one left', async () => {
    const subscriber = (node: SfuNode): Participant =>
      new Participant(
        { wsUrl: `ws://127.0.0.1:${node.port}/ws`, conference: ROOM, participantId: 'erin', video: false, audio: false, videoBitrate: 0, subscribe: true, requestTimeoutMs: 10_000 },
        now,
      );
    const linkOf = (node: SfuNode) => conferenceOf(node)?.dump().participants.find((p) => p.id === 'erin')?.remoteLink;
    const old = subscriber(nodes[0]!);
    await old.start();
    await waitFor(() => linkOf(nodes[1]!) !== undefined || undefined, { timeoutMs: 10_000, description: 'node-2 shows erin of node-1' });
    const moved = subscriber(nodes[1]!);
    await moved.start();
    try {
      // Each node keeps its own session of erin while it lasts.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(linkOf(nodes[0]!)).toBeUndefined();
      expect(linkOf(nodes[1]!)).toBeUndefined();
      const leftAt = performance.now();
      await old.close();
      await waitFor(() => linkOf(nodes[0]!) !== undefined || undefined, { timeoutMs: 10_000, intervalMs: 20, description: 'node-1 shows erin of node-2 once its own session left' });
      // At once from the last snapshot; without that, only the next periodic snapshot (5 s) would show it.
      console.log(`[cascade] a moving participant's new session shown on its old node ${Math.round(performance.now() - leftAt)} ms after the old one left`);
    } finally {
      await old.close();
      await moved.close();
    }
    await waitFor(() => nodes.every((node) => linkOf(node) === undefined) || undefined, { timeoutMs: 10_000, description: 'erin gone everywhere' });
  }, 60_000);

  it('removes a participant that leaves one node from the room on every node', async () => {
    const carol = participants[2]!;
    await carol.close();
    await waitFor(() => nodes.slice(0, 2).every((node) => conferenceOf(node)?.dump().participants.length === 2) || undefined, {
      timeoutMs: 10_000,
      description: 'carol gone from node-1 and node-2',
    });
    expect(conferenceOf(nodes[2]!)).toBeUndefined();
  }, 30_000);

  it('drops the participants of a node that stops from the room on the other nodes', async () => {
    const node2 = nodes[1]!;
    const stoppedAt = performance.now();
    await node2.stop();
    await waitFor(() => conferenceOf(nodes[0]!)?.dump().participants.length === 1 || undefined, { timeoutMs: 10_000, description: 'bob gone from node-1' });
    console.log(`[cascade] node-1 dropped the participant of a stopped node after ${Math.round(performance.now() - stoppedAt)} ms`);
    expect(nodes[0]!.cascade!.summary().links.up).toBe(0);
  }, 30_000);
});
