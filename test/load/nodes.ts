// Runs across several SFU nodes (`--nodes 2`): which node a participant joins (`--node-split`),
// and the figures of a run that spans nodes: participants per node, cascade links up, packets
// that crossed between nodes (the cascade's pipe consumers), worker CPU per node, and the mean
// one-way delay of same-node and cross-node subscriptions (a subscription is cross-node when
// its publisher joined another node), whose difference is the added latency of the hop.

import type { LoadParticipant } from './Participant.ts';
import type { PlacementDump } from './target.ts';

/** Most SfuNodes one target runs (the target process, Redis and the generator share the machine). */
export const MAX_NODES = 2;

/** How participants spread over the nodes: `alternate` (i-th of a room on node i mod N), `half` (first half of a room on node 0). */
export type NodeSplit = 'alternate' | 'half';

/** The node (0-based) of the participant at `indexInRoom` of a room of `roomSize`. */
export function nodeOfParticipant(indexInRoom: number, roomSize: number, nodes: number, split: NodeSplit): number {
  if (nodes <= 1) return 0;
  if (split === 'half') return Math.min(nodes - 1, Math.floor((indexInRoom * nodes) / Math.max(1, roomSize)));
  return indexInRoom % nodes;
}

/** One-way delay sums of subscriptions, by whether the publisher sits on the subscriber's node. */
export interface DelaySums {
  readonly sameNode: { sumMs: number; count: number };
  readonly crossNode: { sumMs: number; count: number };
}

/** Delay sums now, over every subscription whose publisher's node is known (`nodeOfStream`: stream key → node). */
export function delaySums(
  participants: readonly LoadParticipant[],
  nodeOf: ReadonlyMap<LoadParticipant, number>,
  nodeOfStream: ReadonlyMap<number, number>,
): DelaySums {
  const sums = { sameNode: { sumMs: 0, count: 0 }, crossNode: { sumMs: 0, count: 0 } };
  for (const participant of participants) {
    const subscriberNode = nodeOf.get(participant);
    if (subscriberNode === undefined) continue;
    for (const sub of participant.subscriptions.values()) {
      const publisherNode = sub.streamKey === undefined ? undefined : nodeOfStream.get(sub.streamKey);
      if (publisherNode === undefined) continue;
      const bucket = publisherNode === subscriberNode ? sums.sameNode : sums.crossNode;
      bucket.sumMs += sub.delaySumMs;
      bucket.count += sub.delayCount;
    }
  }
  return sums;
}

/** Mean one-way delay over a window (from two snapshots), ms; NaN without packets. */
export interface WindowDelay {
  readonly sameNodeMs: number;
  readonly sameNodePackets: number;
  readonly crossNodeMs: number;
  readonly crossNodePackets: number;
  /** crossNodeMs − sameNodeMs: what the hop between nodes adds (NaN unless both were measured). */
  readonly addedMs: number;
}

export function windowDelay(before: DelaySums, after: DelaySums): WindowDelay {
  const mean = (a: { sumMs: number; count: number }, b: { sumMs: number; count: number }): [number, number] => {
    const count = b.count - a.count;
    return [count > 0 ? (b.sumMs - a.sumMs) / count : Number.NaN, count];
  };
  const [sameNodeMs, sameNodePackets] = mean(before.sameNode, after.sameNode);
  const [crossNodeMs, crossNodePackets] = mean(before.crossNode, after.crossNode);
  return { sameNodeMs, sameNodePackets, crossNodeMs, crossNodePackets, addedMs: crossNodeMs - sameNodeMs };
}

/** What a run across nodes records (also for one node, where nothing crosses). */
export interface NodesResult {
  readonly count: number;
  readonly split: NodeSplit;
  /** Node ids, in the target's order (node 0 first). */
  readonly nodeIds: string[];
  /** Participants of the generator that joined each node. */
  readonly participantsPerNode: number[];
  /** Cascade links up at the end of the window, per node (each link counts on both of its nodes). */
  readonly linksUpPerNode: number[];
  /** Rooms whose conference had at least one link up, per node. */
  readonly roomsSpanningPerNode: number[];
  /** Participants each node's conferences hold for another node (remote participants), all rooms. */
  readonly remoteParticipantsPerNode: number[];
  /** Packets the cascade's pipe consumers sent to the other node in the window, per sending node. */
  readonly crossedPacketsByNode: number[];
  readonly crossedPackets: number;
  readonly crossedPps: number;
  /** Cascade pipe consumers open at the end of the window (one per exported producer and link). */
  readonly cascadeConsumers: number;
  readonly workerCpuSecondsByNode: number[];
  /** Mean one-way delay in the window, same-node vs cross-node subscriptions. */
  readonly delay: WindowDelay;
  /** The redis-server's CPU in the window (cluster runs), seconds. */
  readonly redisCpuSeconds?: number;
}

/** Sums `values` into groups of the given sizes (worker CPU per worker → per node). */
export function sumByGroups(values: readonly number[], sizes: readonly number[]): number[] {
  const sums: number[] = [];
  let index = 0;
  for (const size of sizes) {
    let sum = 0;
    for (let i = 0; i < size; i++) sum += values[index++] ?? 0;
    sums.push(sum);
  }
  return sums;
}

/** Cascade figures of a placement dump, per node: links up, rooms spanning, remote participants. */
export function cascadeFigures(dump: PlacementDump, nodes: number): Pick<NodesResult, 'linksUpPerNode' | 'roomsSpanningPerNode' | 'remoteParticipantsPerNode' | 'cascadeConsumers'> {
  const linksUpPerNode = new Array<number>(nodes).fill(0);
  const roomsSpanningPerNode = new Array<number>(nodes).fill(0);
  const remoteParticipantsPerNode = new Array<number>(nodes).fill(0);
  for (const node of dump.nodes) {
    linksUpPerNode[node.index] = node.linksUp;
    roomsSpanningPerNode[node.index] = node.roomsSpanning;
  }
  for (const conference of dump.conferences) {
    remoteParticipantsPerNode[conference.node] = (remoteParticipantsPerNode[conference.node] ?? 0) + conference.participants.filter((p) => p.remoteNode !== undefined).length;
  }
  return { linksUpPerNode, roomsSpanningPerNode, remoteParticipantsPerNode, cascadeConsumers: dump.cascadeConsumers };
}
