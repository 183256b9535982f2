// The load generator's runs across SFU nodes: the --nodes and --node-split options, which node
// a participant joins, the delay split into same-node and cross-node subscriptions, worker
// CPU summed per node, the cascade figures read from the target's placement dump, and the
// cost of a hop between nodes derived from alternating runs (--node-cost).

import { describe, expect, it } from 'vitest';
import { nodeCost, type NodeCostRun } from '../../load/analysis.ts';
import { parseCliOptions } from '../../load/options.ts';
import { cascadeFigures, delaySums, nodeOfParticipant, sumByGroups, windowDelay } from '../../load/nodes.ts';
import type { LoadParticipant } from '../../load/Participant.ts';
import type { SubscriptionCounters } from '../../load/Reception.ts';
import type { PlacementDump } from '../../load/target.ts';

describe('parseCliOptions across nodes', () => {
  it('runs one node by default and two with --nodes 2, alternating participants unless told half', () => {
    expect(parseCliOptions([])).toMatchObject({ nodes: 1, nodeSplit: 'alternate' });
    expect(parseCliOptions(['--nodes', '2'])).toMatchObject({ nodes: 2, nodeSplit: 'alternate' });
    expect(parseCliOptions(['--nodes', '2', '--node-split', 'half', '--workers', '2'])).toMatchObject({ nodes: 2, nodeSplit: 'half', workers: 2 });
    expect(parseCliOptions(['--max', '--nodes', '2', '--livekit-share', '0.5'])).toMatchObject({ mode: 'max', nodes: 2, liveKitShare: 0.5 });
  });

  it('refuses other node counts with the reason, and a split without two nodes', () => {
    for (const nodes of ['0', '3', '1.5', 'two']) expect(() => parseCliOptions(['--nodes', nodes])).toThrow(/--nodes is 1 or 2 \(the target runs at most 2 SfuNodes/);
    expect(() => parseCliOptions(['--nodes', '2', '--node-split', 'random'])).toThrow(/--node-split is alternate or half/);
    expect(() => parseCliOptions(['--node-split', 'half'])).toThrow(/--node-split needs --nodes 2 \(or --node-cost\)/);
  });

  it('refuses two nodes with the baseline and with modes that compare targets or workers, listing every fault', () => {
    expect(() => parseCliOptions(['--nodes', '2', '--target', 'baseline'])).toThrow(/needs our SFU as the target/);
    expect(() => parseCliOptions(['--nodes', '2', '--compare'])).toThrow(/does not combine with --compare/);
    expect(() => parseCliOptions(['--nodes', '2', '--pipe-cost', '--nodes', '3'])).toThrow(/--nodes is 1 or 2[\s\S]*does not combine with --pipe-cost/);
  });
});

describe('parseCliOptions --node-cost', () => {
  it('alternates one node and two by itself, with the split given', () => {
    expect(parseCliOptions(['--node-cost', '--node-split', 'half', '--alternations', '2'])).toMatchObject({ mode: 'node-cost', nodes: 1, nodeSplit: 'half', alternations: 2 });
  });

  it('refuses --nodes, several rooms and the baseline with it', () => {
    expect(() => parseCliOptions(['--node-cost', '--nodes', '2', '--rooms', '2'])).toThrow(/chooses the nodes itself[\s\S]*--rooms 1/);
    expect(() => parseCliOptions(['--node-cost', '--target', 'baseline'])).toThrow(/--node-cost needs our SFU/);
  });
});

describe('nodeCost', () => {
  const run = (label: string, workerUsPerPacket: number, crossedPackets: number, addedMs: number): NodeCostRun => ({
    label,
    window: { workerUsPerPacket, forwardedPackets: 100_000 },
    nodes: { crossedPackets, crossedPps: crossedPackets / 10, delay: { sameNodeMs: 2, sameNodePackets: 1, crossNodeMs: 2 + addedMs, crossNodePackets: 1, addedMs } },
  });

  it('derives the extra worker CPU per crossed packet and the added delay from the same room on one node and across two', () => {
    // 100 000 forwarded packets: 10 µs each on one node, 14 µs across two, 10 000 crossed → 40 µs per crossed packet.
    const cost = nodeCost([run('one-node-1', 10, 0, Number.NaN), run('two-nodes-1', 14, 10_000, 0.5), run('one-node-2', 10, 0, Number.NaN), run('two-nodes-2', 13, 10_000, 0.7)]);
    expect(cost.pairs).toHaveLength(2);
    expect(cost.pairs[0]).toMatchObject({ crossedPerForwarded: 0.1, addedDelayMs: 0.5 });
    expect(cost.pairs[0]!.usPerCrossedPacket).toBeCloseTo(40);
    expect(cost.pairs[1]!.usPerCrossedPacket).toBeCloseTo(30);
    expect(cost.usPerCrossedPacket.mean).toBeCloseTo(35);
    expect(cost.ratio.mean).toBeCloseTo((1.4 + 1.3) / 2);
    expect(cost.addedDelayMs.mean).toBeCloseTo(0.6);
    expect(cost.crossedPps.mean).toBe(1000);
  });
});

describe('nodeOfParticipant', () => {
  it('alternates the participants of a room over the nodes', () => {
    expect([0, 1, 2, 3, 4].map((i) => nodeOfParticipant(i, 5, 2, 'alternate'))).toEqual([0, 1, 0, 1, 0]);
  });

  it('puts the first half of a room on the first node with half', () => {
    expect([0, 1, 2, 3].map((i) => nodeOfParticipant(i, 4, 2, 'half'))).toEqual([0, 0, 1, 1]);
    expect([0, 1, 2, 3, 4].map((i) => nodeOfParticipant(i, 5, 2, 'half'))).toEqual([0, 0, 0, 1, 1]);
  });

  it('puts everyone on node 0 with one node', () => {
    expect([0, 1, 2].map((i) => nodeOfParticipant(i, 3, 1, 'half'))).toEqual([0, 0, 0]);
  });
});

describe('delay same node vs cross node', () => {
  const sub = (streamKey: number, delaySumMs: number, delayCount: number): SubscriptionCounters => ({ streamKey, delaySumMs, delayCount }) as unknown as SubscriptionCounters;
  const participant = (subs: SubscriptionCounters[]): LoadParticipant => ({ subscriptions: new Map(subs.map((s, i) => [i, s])) }) as unknown as LoadParticipant;

  it('sorts each subscription by whether its publisher joined the subscriber node, and averages over the window', () => {
    // Streams 1 and 2 are published on node 0, stream 3 on node 1.
    const nodeOfStream = new Map([[1, 0], [2, 0], [3, 1]]);
    const a = participant([sub(2, 20, 10), sub(3, 30, 10)]);
    const b = participant([sub(1, 50, 10), sub(2, 60, 10), sub(99, 1000, 1)]);
    const nodeOf = new Map([[a, 0], [b, 1]]);
    const before = delaySums([a, b], nodeOf, nodeOfStream);
    // Same node: a ← 2 (20 ms / 10), b ← nothing of node 1; cross node: a ← 3, b ← 1 and 2. Unknown streams are left out.
    expect(before).toEqual({ sameNode: { sumMs: 20, count: 10 }, crossNode: { sumMs: 140, count: 30 } });
    const after = { sameNode: { sumMs: 40, count: 20 }, crossNode: { sumMs: 170, count: 40 } };
    const delay = windowDelay(before, after);
    expect(delay).toMatchObject({ sameNodeMs: 2, sameNodePackets: 10, crossNodeMs: 3, crossNodePackets: 10 });
    expect(delay.addedMs).toBeCloseTo(1);
    expect(windowDelay(before, before).addedMs).toBeNaN();
  });
});

describe('figures per node', () => {
  it('sums worker CPU per node from the workers in node order', () => {
    expect(sumByGroups([1, 2, 3, 4], [2, 2])).toEqual([3, 7]);
    expect(sumByGroups([1.5], [1])).toEqual([1.5]);
  });

  it('reads links up, rooms spanning and remote participants per node from the placement dump', () => {
    const participant = (id: string, remoteNode?: string) => ({ id, slotIndex: remoteNode ? null : 0, producers: [], ...(remoteNode ? { remoteNode } : {}) });
    const dump: PlacementDump = {
      conferences: [
        { id: 'load-0', node: 0, routers: [], participants: [participant('p0'), participant('p1', 'load-node-2'), participant('p2'), participant('p3', 'load-node-2')] },
        { id: 'load-0', node: 1, routers: [], participants: [participant('p0', 'load-node-1'), participant('p1'), participant('p2', 'load-node-1'), participant('p3')] },
      ],
      pipedPackets: 0,
      pipeConsumers: 0,
      cascadePacketsByNode: [100, 120],
      cascadeConsumers: 8,
      nodes: [
        { index: 0, nodeId: 'load-node-1', linksUp: 1, linksOffered: 0, roomsSpanning: 1 },
        { index: 1, nodeId: 'load-node-2', linksUp: 1, linksOffered: 0, roomsSpanning: 1 },
      ],
    };
    expect(cascadeFigures(dump, 2)).toEqual({ linksUpPerNode: [1, 1], roomsSpanningPerNode: [1, 1], remoteParticipantsPerNode: [2, 2], cascadeConsumers: 8 });
  });
});
