// The figures of a run computed from its participants once it ended: the accounting of
// every packet (expected = received + lost after the SFU + never forwarded, segment by
// segment of simulcast layers), join latencies (overall and per signalling edge), what
// simulcast did (per-layer packets and loss, switches, the worker's view of the layers), and
// where the rooms lived (routers, workers, pipe transports).

import type { JoinTimings, LoadParticipant } from './Participant.ts';
import { expectedByLayer, forwardedOf, SIMULCAST_LAYERS } from './Reception.ts';
import type { ConsumerLayersDump, PlacementDump } from './target.ts';
import type { LayerPreference, LoadRunOptions } from './LoadRun.ts';

/** pth percentile (nearest rank) of values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Packets a publisher sent so far, by the tags' stream key of the track, per spatial layer (0 without simulcast). */
export type ProducerSent = ReadonlyMap<number, (layer: number) => number>;

const RIDS = ['q', 'h', 'f'] as const;

/** Accounting of every packet after the senders stopped and the last packets landed. */
export interface LoadAccounting {
  /** Packets the publishers sent, over all streams. */
  readonly sent: number;
  /** Per subscription: what its publisher sent from the first packet this subscriber got to the end. */
  readonly expected: number;
  /** What the SFU sent to subscribers (by its sequence numbers, first to last seen). */
  readonly forwarded: number;
  readonly received: number;
  /** forwarded − received: lost between the SFU and the subscriber. */
  readonly lostAfterSfu: number;
  /** expected − forwarded: never forwarded (dropped on the way into or inside the SFU). */
  readonly notForwarded: number;
  /** Percent of expected packets not received. */
  readonly lossPercent: number;
  readonly subscriptions: number;
  /** Subscriptions that never received a packet. */
  readonly silentSubscriptions: number;
  /** The first 20 of them: subscriber, kind and publication (producer id or track sid). */
  readonly silent: Array<{ readonly subscriber: string; readonly kind: 'audio' | 'video'; readonly producerId: string }>;
}

/** Join latency figures, ms. */
export interface JoinStats {
  readonly attempted: number;
  readonly joined: number;
  /** Refused or failed joins by error code (wire code, close code, or `error`). */
  readonly refusals: Record<string, number>;
  readonly joinedP50Ms: number;
  readonly joinedP95Ms: number;
  readonly flowingP50Ms: number;
  readonly flowingP95Ms: number;
  /** Participants whose consumers of the peers present at join never all delivered a packet. */
  readonly neverFlowing: number;
  /** The same per signalling edge, when both were used (refusals stay overall). */
  readonly byEdge?: Partial<Record<'native' | 'livekit', Omit<JoinStats, 'refusals' | 'byEdge'>>>;
}

/** Per spatial layer: packets received and expected over the run, by the tags of the packets. */
export interface LayerAccounting {
  readonly rid: string;
  readonly received: number;
  readonly expected: number;
  readonly lossPercent: number;
}

/** What simulcast did in a run. */
export interface SimulcastResult {
  readonly bitrates: readonly [number, number, number];
  readonly layers: LayerPreference;
  /** Per layer q, h, f. */
  readonly perLayer: LayerAccounting[];
  /** Video subscriptions, and those whose packets came from more than one layer. */
  readonly subscriptions: number;
  readonly subscriptionsThatSwitched: number;
  /** Layer switches seen in received packets, over all subscriptions. */
  readonly switchesSeen: number;
  /** consumerLayersChanged notifications, and how many named each spatial layer. */
  readonly layerNotifications: number;
  readonly notifiedSpatialLayers: Record<string, number>;
  /** The worker's view at the end of the window (consumer.dump()). */
  readonly dump: ConsumerLayersDump | undefined;
  /** Packets sent again on NACKs (simulcast streams). */
  readonly retransmitted: number;
}

export function account(participants: readonly LoadParticipant[], producerSent: ProducerSent): LoadAccounting {
  let sent = 0;
  let expected = 0;
  let forwarded = 0;
  let received = 0;
  let subscriptions = 0;
  let silent = 0;
  const silentList: LoadAccounting['silent'] = [];
  for (const participant of participants) {
    const s = participant.sent;
    sent += s.audio + s.video;
    for (const sub of participant.subscriptions.values()) {
      subscriptions++;
      const sentOf = (sub.streamKey === undefined ? undefined : producerSent.get(sub.streamKey));
      if (sub.firstSequence < 0 || sub.firstCounter < 0 || !sentOf) {
        silent++;
        if (silentList.length < 20) silentList.push({ subscriber: participant.id, kind: sub.kind, producerId: sub.producerId });
        continue;
      }
      for (const n of expectedByLayer(sub, sentOf, true)) expected += n;
      forwarded += forwardedOf(sub);
      received += sub.received;
    }
  }
  return {
    sent,
    expected,
    forwarded,
    received,
    lostAfterSfu: forwarded - received,
    notForwarded: expected - forwarded,
    lossPercent: expected > 0 ? (100 * (expected - received)) / expected : 0,
    subscriptions,
    silentSubscriptions: silent,
    silent: silentList,
  };
}

function latencies(attempted: number, timings: readonly JoinTimings[]): Omit<JoinStats, 'refusals' | 'byEdge'> {
  const joinedMs = timings.filter((t) => t.joinedMs !== undefined).map((t) => t.joinedMs! - t.startedMs);
  const flowingMs = timings.filter((t) => t.allFlowingMs !== undefined).map((t) => t.allFlowingMs! - t.startedMs);
  return {
    attempted,
    joined: timings.length,
    joinedP50Ms: percentile(joinedMs, 50),
    joinedP95Ms: percentile(joinedMs, 95),
    flowingP50Ms: percentile(flowingMs, 50),
    flowingP95Ms: percentile(flowingMs, 95),
    neverFlowing: timings.length - flowingMs.length,
  };
}

/** Join latencies (start → joined, start → every consumer of the peers present at join delivered a packet) of the participants that joined. */
export function joinStats(attempted: readonly LoadParticipant[], joined: readonly LoadParticipant[], refusals: Record<string, number>): JoinStats {
  const overall = { ...latencies(attempted.length, joined.map((p) => p.timings)), refusals };
  const edges = new Set(attempted.map((p) => p.edge));
  if (!edges.has('livekit')) return overall;
  const byEdge: NonNullable<JoinStats['byEdge']> = {};
  for (const edge of edges) {
    byEdge[edge] = latencies(
      attempted.filter((p) => p.edge === edge).length,
      joined.filter((p) => p.edge === edge).map((p) => p.timings),
    );
  }
  return { ...overall, byEdge };
}

export function simulcastResult(
  participants: readonly LoadParticipant[],
  producerSent: ProducerSent,
  options: LoadRunOptions,
  dump: ConsumerLayersDump | undefined,
): SimulcastResult {
  const received = new Array<number>(SIMULCAST_LAYERS).fill(0);
  const expected = new Array<number>(SIMULCAST_LAYERS).fill(0);
  const notifiedSpatialLayers: Record<string, number> = {};
  let subscriptions = 0;
  let switched = 0;
  let switchesSeen = 0;
  let layerNotifications = 0;
  let retransmitted = 0;
  for (const participant of participants) {
    retransmitted += participant.sent.retransmitted;
    for (const sub of participant.subscriptions.values()) {
      if (!sub.simulcast) continue;
      subscriptions++;
      switchesSeen += sub.switches;
      if (sub.switches > 0) switched++;
      layerNotifications += sub.layerNotifications;
      for (const layer of sub.notifiedLayers) notifiedSpatialLayers[layer] = (notifiedSpatialLayers[layer] ?? 0) + 1;
      sub.receivedByLayer.forEach((n, layer) => (received[layer]! += n));
      const sentOf = (sub.streamKey === undefined ? undefined : producerSent.get(sub.streamKey));
      if (sentOf && sub.firstCounter >= 0) expectedByLayer(sub, sentOf, true).forEach((n, layer) => (expected[layer]! += n));
    }
  }
  return {
    bitrates: options.simulcastBitrates!,
    layers: options.layers ?? 'high',
    perLayer: RIDS.map((rid, layer) => ({
      rid,
      received: received[layer]!,
      expected: expected[layer]!,
      lossPercent: expected[layer]! > 0 ? (100 * (expected[layer]! - received[layer]!)) / expected[layer]! : 0,
    })),
    subscriptions,
    subscriptionsThatSwitched: switched,
    switchesSeen,
    layerNotifications,
    notifiedSpatialLayers,
    dump,
    retransmitted,
  };
}

/** Where the rooms of a run lived at the end of its window, and the spreading settings it ran with. */
export interface RunPlacement {
  /** conference.spreadConsumersPerWorker / spreadWorkerLoad given to the SFU target (undefined: its defaults). */
  readonly spreadConsumersPerWorker: number | undefined;
  readonly spreadWorkerLoad: number | undefined;
  /** Per room: its routers (worker slot, participants homed there, pipe transports on it). */
  readonly rooms: PlacementDump['conferences'];
  /** Distinct workers the rooms used (over every node). */
  readonly workersUsed: number;
  /** Most routers one room had. */
  readonly maxRoutersPerRoom: number;
  /** Pipe transports over every router: two per pair of routers that pipe to each other, plus one per cascade link on each node. */
  readonly pipeTransports: number;
  /** Pipe consumers open (one per producer and router it was piped to). */
  readonly pipeConsumers: number;
}

export function runPlacement(dump: PlacementDump, options: Pick<LoadRunOptions, 'spreadConsumersPerWorker' | 'spreadWorkerLoad'>): RunPlacement {
  const routers = dump.conferences.flatMap((room) => room.routers);
  return {
    spreadConsumersPerWorker: options.spreadConsumersPerWorker,
    spreadWorkerLoad: options.spreadWorkerLoad,
    rooms: dump.conferences,
    workersUsed: new Set(dump.conferences.flatMap((room) => room.routers.map((router) => `${room.node}:${router.slotIndex}`))).size,
    maxRoutersPerRoom: Math.max(0, ...dump.conferences.map((room) => room.routers.length)),
    pipeTransports: routers.reduce((sum, router) => sum + router.pipeTransports, 0),
    pipeConsumers: dump.pipeConsumers,
  };
}
