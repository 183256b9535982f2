// One bounded load run against one target process (our SFU or the bare-mediasoup
// baseline): fork the target, join synthetic participants (with a ramp, spread over
// rooms, and with several SFU nodes over the nodes), send media on one 20 ms clock, sample once a second (packets sent, forwarded
// and received per second, per simulcast layer too, loss, worker and Node CPU from
// /proc), measure a steady-state window after every join settled (optionally cycling the
// subscribers' preferred simulcast layers), then stop the senders, let the last packets
// land, account for every packet, leave and stop the target. Never asserts: the result
// carries the numbers and the caller judges them.

import { loadavg } from 'node:os';
import nodeDataChannel from 'node-datachannel';
import { ConnectionClosedError, SfuClientError } from '../../src/browser/client/errors.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { Participant, type LoadParticipant } from './Participant.ts';
import { LiveKitParticipant } from './LiveKitParticipant.ts';
import { expectedByLayer, forwardedOf, SIMULCAST_LAYERS } from './Reception.ts';
import { account, joinStats, percentile, runPlacement, simulcastResult, type JoinStats, type LoadAccounting, type RunPlacement, type SimulcastResult } from './figures.ts';

export { percentile };
export type { JoinStats, LayerAccounting, LoadAccounting, RunPlacement, SimulcastResult } from './figures.ts';
import { cpuSeconds, rssBytes } from './procStat.ts';
import { TargetProcess } from './TargetProcess.ts';
import { cascadeFigures, delaySums, nodeOfParticipant, sumByGroups, windowDelay, type NodeSplit, type NodesResult } from './nodes.ts';
import type { ConsumerLayersDump } from './target.ts';

/** What one run does. */
export interface LoadRunOptions {
  readonly target: 'sfu' | 'baseline';
  /** Participants in all rooms together. */
  readonly participants: number;
  /** The first `publishers` participants of each room publish. Default: all. */
  readonly publishers?: number;
  /** The last `subscribers` participants of each room subscribe. Default: all. */
  readonly subscribers?: number;
  readonly video: boolean;
  readonly audio: boolean;
  /** VP8 bits per second per publisher. */
  readonly videoBitrate: number;
  /** Seconds of the measured steady-state window. */
  readonly durationS: number;
  /** Seconds between the last join settling and the window. */
  readonly warmupS: number;
  readonly rooms: number;
  /** Joins started per second; 0 = one after another, each awaited. */
  readonly rampPerSecond: number;
  /** mediasoup workers of the SFU target, per node (the baseline has one). */
  readonly workers: number;
  /** SfuNodes of the SFU target (default 1; 2: a cluster on Redis, rooms span both through the cascade). */
  readonly nodes?: number;
  /** Which node each participant of a room joins (default alternate: the i-th on node i mod nodes). */
  readonly nodeSplit?: NodeSplit;
  /** media.maxWorkerLoad of the SFU target (admission control); undefined = its default. */
  readonly maxWorkerLoad?: number;
  /** conference.spreadConsumersPerWorker of the SFU target (0 = a conference stays on one worker); undefined = its default. */
  readonly spreadConsumersPerWorker?: number;
  /** conference.spreadWorkerLoad of the SFU target; undefined = its default. */
  readonly spreadWorkerLoad?: number;
  /** Called with a progress line about once a second. */
  readonly progress?: (line: string) => void;
  /** Where the target's stderr goes (default: kept in memory, last lines in errors). */
  readonly targetLogFile?: string;
  /** Label of this run in reports. */
  readonly label?: string;
  /** Scrape the SFU target's /metrics at the end of the window into the result (sfu target only). */
  readonly scrapeMetrics?: boolean;
  /** Stats polling interval of the SFU target's metrics (experiments); undefined = the SFU's default. */
  readonly sfuStatsIntervalMs?: number;
  /** Another installed mediasoup package (…/node_modules/mediasoup) for the target to use instead of ours. */
  readonly mediasoupDir?: string;
  /** Publishers send three simulcast layers (q, h, f) with these bitrates instead of one VP8 stream. */
  readonly simulcastBitrates?: readonly [number, number, number];
  /** Preferred spatial layer of the subscribers' simulcast consumers (default high). */
  readonly layers?: LayerPreference;
  /** Seconds between preferred-layer steps with `layers: 'cycle'` (default 3). */
  readonly layerCycleS?: number;
  /** Share (0–1) of the participants that join through the LiveKit edge (/rtc) instead of protocol v1 (default 0). */
  readonly liveKitShare?: number;
}

/**
 * Preferred spatial layer of simulcast consumers: `high` (f, mediasoup's default), `low` (q),
 * `mixed` (q, h, f in turn over each subscriber's video consumers), `cycle` (start at f,
 * then every `layerCycleS` seconds each consumer moves on: f → q → h → f …, from the end of
 * the joins to the end of the window).
 */
export type LayerPreference = 'high' | 'low' | 'mixed' | 'cycle';

/** One sample of the run (rates over the last sampling interval). */
export interface LoadSample {
  /** Seconds since the run started. */
  readonly t: number;
  readonly joined: number;
  readonly sentPps: number;
  readonly forwardedPps: number;
  readonly receivedPps: number;
  /** Percent of expected packets not received in this interval. */
  readonly lossPercent: number;
  /** Worker CPU, percent of one core (summed over workers). */
  readonly workerCpuPercent: number;
  readonly nodeCpuPercent: number;
  readonly generatorCpuPercent: number;
  readonly nodeRssBytes: number;
  /** Received packets/s per simulcast layer q, h, f (simulcast runs). */
  readonly receivedPpsByLayer?: number[];
}

/** Steady-state window figures. */
export interface LoadWindow {
  readonly seconds: number;
  readonly sentPackets: number;
  readonly forwardedPackets: number;
  readonly receivedPackets: number;
  readonly lossPercent: number;
  readonly workerCpuSeconds: number;
  /** The same per worker process (the target's order of workers). */
  readonly workerCpuSecondsByWorker: number[];
  /** Packets that crossed a pipe between two routers (sent by pipe consumers) in the window. */
  readonly pipedPackets: number;
  readonly pipedPps: number;
  readonly nodeCpuSeconds: number;
  readonly generatorCpuSeconds: number;
  /** Worker CPU microseconds per forwarded packet (the main figure). */
  readonly workerUsPerPacket: number;
  /** Node control-plane CPU as a share of worker CPU. */
  readonly controlPlaneShare: number;
  readonly forwardedPps: number;
}

/** Memory of the target's Node process. */
export interface LoadMemory {
  readonly heapUsedBeforeBytes: number;
  readonly heapUsedAfterBytes: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  /** (after − before) / joined participants. */
  readonly heapPerParticipantBytes: number;
  readonly rssPerParticipantBytes: number;
}

/** Result of one run. */
export interface LoadRunResult {
  readonly label: string;
  readonly target: 'sfu' | 'baseline';
  readonly mediasoupVersion: string;
  readonly workers: number;
  readonly options: Omit<LoadRunOptions, 'progress'>;
  readonly startedAt: string;
  readonly samples: LoadSample[];
  readonly joins: JoinStats;
  readonly window: LoadWindow;
  readonly accounting: LoadAccounting;
  readonly memory: LoadMemory;
  /** Generator-side errors (signalling, renegotiation, resume), first 20. */
  readonly errors: string[];
  /** Signalling notifications the participants received during the steady window, by method. */
  readonly windowNotifications: Record<string, number>;
  /** The SFU's /metrics text at the end of the window, with scrapeMetrics. */
  readonly metricsText?: string;
  /** Simulcast runs: per-layer accounting, switches, the worker's view of the layers. */
  readonly simulcast?: SimulcastResult;
  /** Where the rooms lived at the end of the window (routers, workers, pipe transports). */
  readonly placement: RunPlacement;
  /** Nodes of the SFU target, participants per node, what crossed between them, delay same-node vs cross-node. */
  readonly nodes: NodesResult;
  /** The machine's 1-minute load average when the run started and at the end of its window. */
  readonly loadAverage: { readonly start: number; readonly windowEnd: number };
}

const TICK_MS = 20;
/** Most 20 ms ticks sent at once when the timer fell behind. */
const MAX_CATCH_UP_TICKS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Totals {
  sent: number;
  forwarded: number;
  received: number;
  receivedByLayer: number[];
}

/** The preferred layer of a subscriber's n-th simulcast consumer. */
function preferredLayerOf(layers: LayerPreference): ((index: number) => number) | undefined {
  if (layers === 'low') return () => 0;
  if (layers === 'mixed') return (index) => index % SIMULCAST_LAYERS;
  return undefined; // high and cycle start at mediasoup's default, the highest
}

function errorCode(error: unknown): string {
  if (error instanceof ConnectionClosedError) return `close-${error.closeCode}`;
  if (error instanceof SfuClientError) return error.code;
  return 'error';
}

/** Runs one bounded load run. */
export async function runLoad(options: LoadRunOptions): Promise<LoadRunResult> {
  if ((options.liveKitShare ?? 0) > 0 && options.target !== 'sfu') throw new Error('LiveKit-edge participants need our SFU as the target');
  nodeDataChannel.initLogger('Error', () => undefined);
  const label = options.label ?? options.target;
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const nodeCount = options.target === 'sfu' ? (options.nodes ?? 1) : 1;
  const nodeSplit = options.nodeSplit ?? 'alternate';
  const basePort = await freeMediaBasePort(Math.max(1, options.workers) * nodeCount);
  const target = new TargetProcess(options, basePort);
  const errors: string[] = [];
  const participants: LoadParticipant[] = [];
  const active: LoadParticipant[] = [];
  const producerSent = new Map<number, (layer: number) => number>();
  /** The node each participant joined, and the node of each published stream (by tag key). */
  const nodeOf = new Map<LoadParticipant, number>();
  const nodeOfStream = new Map<number, number>();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let ticker: NodeJS.Timeout | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let cycler: NodeJS.Timeout | undefined;
  try {
    const ready = await target.waitReady(30_000 + 15_000 * (nodeCount - 1));
    const redisCpu = (): number => (ready.redisPid === undefined ? 0 : (cpuSeconds(ready.redisPid) ?? 0));
    const workerCpuEach = (): number[] => ready.workerPids.map((pid) => cpuSeconds(pid) ?? 0);
    const workerCpu = (): number => workerCpuEach().reduce((sum, seconds) => sum + seconds, 0);
    const nodeCpu = (): number => cpuSeconds(ready.pid) ?? 0;
    const generatorCpu = (): number => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    };
    const memoryBefore = await target.memory();
    const rssBefore = rssBytes(ready.pid) ?? 0;

    // One clock for every sender: Opus each tick, VP8 every second tick.
    let tickIndex = 0;
    let nextTickAt = now();
    ticker = setInterval(() => {
      const current = now();
      let sentTicks = 0;
      while (nextTickAt <= current && sentTicks < MAX_CATCH_UP_TICKS) {
        for (const participant of active) participant.tick(tickIndex, current);
        tickIndex++;
        sentTicks++;
        nextTickAt += TICK_MS;
      }
      if (nextTickAt <= current) nextTickAt = current + TICK_MS; // too far behind: skip, do not burst
    }, TICK_MS);

    const totals = (): Totals => {
      let sent = 0;
      let forwarded = 0;
      let received = 0;
      const receivedByLayer = new Array<number>(SIMULCAST_LAYERS).fill(0);
      for (const participant of participants) {
        const s = participant.sent;
        sent += s.audio + s.video;
        for (const sub of participant.subscriptions.values()) {
          if (sub.firstSequence < 0) continue;
          forwarded += forwardedOf(sub);
          received += sub.received;
          if (sub.simulcast) sub.receivedByLayer.forEach((n, layer) => (receivedByLayer[layer]! += n));
        }
      }
      return { sent, forwarded, received, receivedByLayer };
    };
    const expectedNow = (): number => {
      // What publishers sent after each subscription's first packet, so far, segment by segment.
      let expected = 0;
      for (const participant of participants) {
        for (const sub of participant.subscriptions.values()) {
          const sentOf = (sub.streamKey === undefined ? undefined : producerSent.get(sub.streamKey));
          if (sub.firstCounter < 0 || !sentOf) continue;
          for (const n of expectedByLayer(sub, sentOf, false)) expected += n;
        }
      }
      return expected;
    };

    const samples: LoadSample[] = [];
    let last = { at: now(), totals: totals(), expected: 0, worker: workerCpu(), node: nodeCpu(), generator: generatorCpu() };
    sampler = setInterval(() => {
      const at = now();
      const current = { at, totals: totals(), expected: expectedNow(), worker: workerCpu(), node: nodeCpu(), generator: generatorCpu() };
      const seconds = (at - last.at) / 1000;
      if (seconds <= 0) return;
      const expectedDelta = current.expected - last.expected;
      const receivedDelta = current.totals.received - last.totals.received;
      const sample: LoadSample = {
        t: Math.round(at / 100) / 10,
        joined: active.length,
        sentPps: Math.round((current.totals.sent - last.totals.sent) / seconds),
        forwardedPps: Math.round((current.totals.forwarded - last.totals.forwarded) / seconds),
        receivedPps: Math.round(receivedDelta / seconds),
        lossPercent: expectedDelta > 0 ? Math.max(0, (100 * (expectedDelta - receivedDelta)) / expectedDelta) : 0,
        workerCpuPercent: (100 * (current.worker - last.worker)) / seconds,
        nodeCpuPercent: (100 * (current.node - last.node)) / seconds,
        generatorCpuPercent: (100 * (current.generator - last.generator)) / seconds,
        nodeRssBytes: rssBytes(ready.pid) ?? 0,
        ...(options.simulcastBitrates
          ? { receivedPpsByLayer: current.totals.receivedByLayer.map((n, layer) => Math.round((n - last.totals.receivedByLayer[layer]!) / seconds)) }
          : {}),
      };
      samples.push(sample);
      last = current;
      options.progress?.(
        `[${label}] t=${sample.t.toFixed(0)}s joined ${active.length}/${options.participants} sent ${sample.sentPps} pps forwarded ${sample.forwardedPps} pps ` +
          `loss ${sample.lossPercent.toFixed(2)}% worker ${sample.workerCpuPercent.toFixed(0)}% node ${sample.nodeCpuPercent.toFixed(0)}% generator ${sample.generatorCpuPercent.toFixed(0)}%`,
      );
    }, 1000);

    // Joins: participant i goes to room i % rooms; within a room, the first `publishers` publish, the last `subscribers` subscribe.
    const perRoom = Math.ceil(options.participants / options.rooms);
    const publishers = options.publishers ?? perRoom;
    const subscribers = options.subscribers ?? perRoom;
    const refusals: Record<string, number> = {};
    const preferredLayer = options.simulcastBitrates ? preferredLayerOf(options.layers ?? 'high') : undefined;
    const joinTasks: Array<Promise<void>> = [];
    for (let i = 0; i < options.participants; i++) {
      const room = i % options.rooms;
      const indexInRoom = Math.floor(i / options.rooms);
      // Spread the LiveKit share evenly: participant i is on the LiveKit edge when the running share steps up at i.
      const share = options.liveKitShare ?? 0;
      const liveKit = Math.floor((i + 1) * share) > Math.floor(i * share);
      const node = nodeOfParticipant(indexInRoom, perRoom, ready.nodes.length, nodeSplit);
      const participantOptions = {
          wsUrl: ready.nodes[node]!.wsUrl,
          conference: `load-${room}`,
          participantId: `p${i}`,
          video: options.video && indexInRoom < publishers,
          audio: options.audio && indexInRoom < publishers,
          videoBitrate: options.videoBitrate,
          subscribe: indexInRoom >= perRoom - subscribers,
          ...(options.simulcastBitrates ? { simulcastBitrates: options.simulcastBitrates } : {}),
          ...(preferredLayer ? { preferredLayer } : {}),
      };
      const participant: LoadParticipant = liveKit ? new LiveKitParticipant(participantOptions, now) : new Participant(participantOptions, now);
      participants.push(participant);
      nodeOf.set(participant, node);
      const task = participant.start().then(
        () => {
          active.push(participant);
          const keys = participant.streamKeys;
          if (keys.audio !== undefined) producerSent.set(keys.audio, () => participant.sent.audio);
          if (keys.video !== undefined) producerSent.set(keys.video, (layer) => participant.videoSentOfLayer(layer));
          for (const key of [keys.audio, keys.video]) if (key !== undefined) nodeOfStream.set(key, node);
        },
        (error: unknown) => {
          const code = errorCode(error);
          refusals[code] = (refusals[code] ?? 0) + 1;
          if (errors.length < 20) errors.push(`${participant.id}: ${String(error)}`);
          void participant.close();
        },
      );
      joinTasks.push(task);
      if (options.rampPerSecond > 0) await sleep(1000 / options.rampPerSecond);
      else await task;
    }
    await Promise.all(joinTasks);
    // Settle: every joined participant's initial consumers flowing (bounded), then warm-up.
    const settleUntil = now() + 15_000;
    while (now() < settleUntil && active.some((p) => p.timings.allFlowingMs === undefined)) await sleep(100);
    if (options.simulcastBitrates && options.layers === 'cycle') {
      cycler = setInterval(() => {
        for (const participant of active) void participant.cyclePreferredLayers();
      }, (options.layerCycleS ?? 3) * 1000);
    }
    await sleep(options.warmupS * 1000);

    const countNotifications = (): Map<string, number> => {
      const counts = new Map<string, number>();
      for (const participant of participants) for (const [method, n] of participant.notifications) counts.set(method, (counts.get(method) ?? 0) + n);
      return counts;
    };
    const notificationsBefore = countNotifications();
    const placementBefore = await target.placement();
    const a = { at: now(), totals: totals(), expected: expectedNow(), worker: workerCpu(), workers: workerCpuEach(), node: nodeCpu(), generator: generatorCpu(), redis: redisCpu(), delays: delaySums(participants, nodeOf, nodeOfStream) };
    await sleep(options.durationS * 1000);
    const windowNotifications: Record<string, number> = {};
    for (const [method, n] of countNotifications()) if (n - (notificationsBefore.get(method) ?? 0) > 0) windowNotifications[method] = n - (notificationsBefore.get(method) ?? 0);
    const b = { at: now(), totals: totals(), expected: expectedNow(), worker: workerCpu(), workers: workerCpuEach(), node: nodeCpu(), generator: generatorCpu(), redis: redisCpu(), delays: delaySums(participants, nodeOf, nodeOfStream) };
    const placementAfter = await target.placement();
    const loadAtWindowEnd = loadavg()[0]!;
    if (cycler) clearInterval(cycler);
    cycler = undefined;
    const layersDump = options.simulcastBitrates ? await target.layers().catch((error: unknown) => void errors.push(`layers dump: ${String(error)}`)) : undefined;
    const memoryAfter = await target.memory();
    const rssAfter = rssBytes(ready.pid) ?? 0;
    let metricsText: string | undefined;
    if (options.scrapeMetrics && options.target === 'sfu') {
      const url = new URL(ready.wsUrl);
      url.protocol = 'http:';
      url.pathname = '/metrics';
      metricsText = await fetch(url, { signal: AbortSignal.timeout(5000) }).then((response) => response.text());
    }

    clearInterval(ticker);
    ticker = undefined;
    await sleep(600);
    clearInterval(sampler);
    sampler = undefined;

    const seconds = (b.at - a.at) / 1000;
    const forwardedPackets = b.totals.forwarded - a.totals.forwarded;
    const receivedPackets = b.totals.received - a.totals.received;
    const expectedPackets = b.expected - a.expected;
    const workerCpuSeconds = b.worker - a.worker;
    const nodeCpuSeconds = b.node - a.node;
    const window: LoadWindow = {
      seconds,
      sentPackets: b.totals.sent - a.totals.sent,
      forwardedPackets,
      receivedPackets,
      lossPercent: expectedPackets > 0 ? Math.max(0, (100 * (expectedPackets - receivedPackets)) / expectedPackets) : 0,
      workerCpuSeconds,
      workerCpuSecondsByWorker: b.workers.map((seconds, index) => seconds - (a.workers[index] ?? 0)),
      pipedPackets: placementAfter.pipedPackets - placementBefore.pipedPackets,
      pipedPps: (placementAfter.pipedPackets - placementBefore.pipedPackets) / seconds,
      nodeCpuSeconds,
      generatorCpuSeconds: b.generator - a.generator,
      workerUsPerPacket: forwardedPackets > 0 ? (workerCpuSeconds * 1e6) / forwardedPackets : Number.NaN,
      controlPlaneShare: workerCpuSeconds > 0 ? nodeCpuSeconds / workerCpuSeconds : Number.NaN,
      forwardedPps: forwardedPackets / seconds,
    };

    const crossedPacketsByNode = placementAfter.cascadePacketsByNode.map((n, index) => n - (placementBefore.cascadePacketsByNode[index] ?? 0));
    const crossedPackets = crossedPacketsByNode.reduce((sum, n) => sum + n, 0);
    const nodes: NodesResult = {
      count: ready.nodes.length,
      split: nodeSplit,
      nodeIds: ready.nodes.map((node) => node.nodeId),
      participantsPerNode: ready.nodes.map((_, index) => active.filter((p) => nodeOf.get(p) === index).length),
      ...cascadeFigures(placementAfter, ready.nodes.length),
      crossedPacketsByNode,
      crossedPackets,
      crossedPps: crossedPackets / seconds,
      workerCpuSecondsByNode: sumByGroups(window.workerCpuSecondsByWorker, ready.nodes.map((node) => node.workerPids.length)),
      delay: windowDelay(a.delays, b.delays),
      ...(ready.redisPid !== undefined ? { redisCpuSeconds: b.redis - a.redis } : {}),
    };
    const accounting = account(participants, producerSent);
    const simulcast = options.simulcastBitrates ? simulcastResult(participants, producerSent, options, layersDump ?? undefined) : undefined;
    const joins = joinStats(participants, active, refusals);
    for (const participant of participants) for (const error of participant.errors) if (errors.length < 20) errors.push(`${participant.id}: ${error}`);
    const joinedCount = Math.max(1, active.length);
    const memory: LoadMemory = {
      heapUsedBeforeBytes: memoryBefore.heapUsed,
      heapUsedAfterBytes: memoryAfter.heapUsed,
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      heapPerParticipantBytes: (memoryAfter.heapUsed - memoryBefore.heapUsed) / joinedCount,
      rssPerParticipantBytes: (rssAfter - rssBefore) / joinedCount,
    };
    const { progress: _progress, ...recorded } = options;
    return {
      label,
      target: options.target,
      mediasoupVersion: ready.mediasoupVersion,
      workers: ready.workerPids.length,
      options: recorded,
      startedAt,
      samples,
      joins,
      window,
      accounting,
      memory,
      errors,
      windowNotifications,
      ...(metricsText !== undefined ? { metricsText } : {}),
      ...(simulcast ? { simulcast } : {}),
      placement: runPlacement(placementAfter, options),
      nodes,
      loadAverage: { start: loadAtStart, windowEnd: loadAtWindowEnd },
    };
  } finally {
    if (ticker) clearInterval(ticker);
    if (sampler) clearInterval(sampler);
    if (cycler) clearInterval(cycler);
    await Promise.all(participants.map((p) => p.close().catch((error: unknown) => errors.push(String(error)))));
    await target.stop();
  }
}

