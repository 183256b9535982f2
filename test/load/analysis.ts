// Figures derived from several runs: the A/B ratio of worker CPU per forwarded packet
// (bare mediasoup ÷ our SFU, so 1.0 = as efficient, ≥ 0.95 the target) with its spread,
// growth curves with a least-squares line of worker CPU against forwarded packets, the
// largest room that held, the cost of simulcast (runs with and without it, per target), and
// the cost of a pipe hop (the same room on one worker and spread over two), and the cost of a
// hop between nodes (the same room on one node and across two).

import type { LoadRunResult, LoadWindow, RunPlacement } from './LoadRun.ts';
import type { NodesResult } from './nodes.ts';

/** Mean, sample standard deviation, min and max. */
export interface Spread {
  readonly mean: number;
  readonly stdev: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return { mean: Number.NaN, stdev: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, stdev: Math.sqrt(variance), min: Math.min(...finite), max: Math.max(...finite), n };
}

/** Least-squares line y = intercept + slope·x, with r². */
export interface LinearFit {
  readonly slope: number;
  readonly intercept: number;
  readonly r2: number;
  readonly points: number;
}

export function linearFit(points: ReadonlyArray<readonly [number, number]>): LinearFit {
  const n = points.length;
  if (n < 2) return { slope: Number.NaN, intercept: Number.NaN, r2: Number.NaN, points: n };
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
    syy += (y - my) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : Number.NaN;
  const intercept = my - slope * mx;
  const r2 = sxx > 0 && syy > 0 ? (sxy * sxy) / (sxx * syy) : Number.NaN;
  return { slope, intercept, r2, points: n };
}

/** The A/B comparison of alternating runs. */
export interface Comparison {
  readonly pairs: Array<{ sfuUsPerPacket: number; baselineUsPerPacket: number; ratio: number }>;
  /** baseline µs/packet ÷ SFU µs/packet per pair: our efficiency relative to bare mediasoup. */
  readonly ratio: Spread;
  readonly sfuUsPerPacket: Spread;
  readonly baselineUsPerPacket: Spread;
  /** Our Node process's CPU as a share of worker CPU, SFU runs. */
  readonly sfuControlPlaneShare: Spread;
  readonly baselineControlPlaneShare: Spread;
}

/** Pairs the i-th SFU run with the i-th baseline run. */
export function compare(runs: readonly LoadRunResult[]): Comparison {
  const sfu = runs.filter((r) => r.target === 'sfu');
  const base = runs.filter((r) => r.target === 'baseline');
  const pairs = sfu.slice(0, base.length).map((run, i) => {
    const sfuUs = run.window.workerUsPerPacket;
    const baseUs = base[i]!.window.workerUsPerPacket;
    return { sfuUsPerPacket: sfuUs, baselineUsPerPacket: baseUs, ratio: baseUs / sfuUs };
  });
  return {
    pairs,
    ratio: spread(pairs.map((p) => p.ratio)),
    sfuUsPerPacket: spread(sfu.map((r) => r.window.workerUsPerPacket)),
    baselineUsPerPacket: spread(base.map((r) => r.window.workerUsPerPacket)),
    sfuControlPlaneShare: spread(sfu.map((r) => r.window.controlPlaneShare)),
    baselineControlPlaneShare: spread(base.map((r) => r.window.controlPlaneShare)),
  };
}

/** Growth figures over runs of different sizes. */
export interface Growth {
  readonly rows: Array<{
    participants: number;
    joined: number;
    joinedP50Ms: number;
    joinedP95Ms: number;
    flowingP50Ms: number;
    flowingP95Ms: number;
    heapPerParticipantBytes: number;
    rssPerParticipantBytes: number;
    forwardedPps: number;
    workerCpuPercent: number;
    nodeCpuPercent: number;
    lossPercent: number;
  }>;
  /** Worker CPU (cores) against forwarded packets/s over every steady window: slope = seconds per packet. */
  readonly workerCpuFit: LinearFit;
}

export function growth(runs: readonly LoadRunResult[]): Growth {
  const rows = runs.map((run) => ({
    participants: run.options.participants,
    joined: run.joins.joined,
    joinedP50Ms: run.joins.joinedP50Ms,
    joinedP95Ms: run.joins.joinedP95Ms,
    flowingP50Ms: run.joins.flowingP50Ms,
    flowingP95Ms: run.joins.flowingP95Ms,
    heapPerParticipantBytes: run.memory.heapPerParticipantBytes,
    rssPerParticipantBytes: run.memory.rssPerParticipantBytes,
    forwardedPps: run.window.forwardedPps,
    workerCpuPercent: (100 * run.window.workerCpuSeconds) / run.window.seconds,
    nodeCpuPercent: (100 * run.window.nodeCpuSeconds) / run.window.seconds,
    lossPercent: run.window.lossPercent,
  }));
  const points = runs.map((run) => [run.window.forwardedPps, run.window.workerCpuSeconds / run.window.seconds] as const);
  return { rows, workerCpuFit: linearFit(points) };
}

/** Whether a run counts as "held": every join succeeded, every subscription delivered, loss < 1 %. */
export function held(run: LoadRunResult): { ok: boolean; reason: string } {
  const refused = Object.entries(run.joins.refusals);
  if (refused.length > 0) return { ok: false, reason: `joins refused or failed: ${refused.map(([code, n]) => `${n}× ${code}`).join(', ')}` };
  if (run.accounting.silentSubscriptions > 0) return { ok: false, reason: `${run.accounting.silentSubscriptions} subscriptions never received a packet` };
  if (!(run.window.lossPercent < 1)) return { ok: false, reason: `loss ${run.window.lossPercent.toFixed(2)} % in the steady window` };
  return { ok: true, reason: 'held' };
}

/** One group of runs (a target, with or without simulcast). */
export interface SimulcastGroup {
  readonly target: 'sfu' | 'baseline';
  readonly simulcast: boolean;
  readonly runs: number;
  /** Packets/s the publishers sent into the worker (all layers). */
  readonly ingressPps: Spread;
  readonly forwardedPps: Spread;
  /** Worker CPU µs per forwarded packet. */
  readonly workerUsPerPacket: Spread;
  /** Worker CPU µs per packet in or out (sent + forwarded). */
  readonly workerUsPerPacketInOrOut: Spread;
  readonly workerCpuPercent: Spread;
  readonly lossPercent: Spread;
}

/** Runs with and without simulcast side by side. */
export interface SimulcastComparison {
  readonly groups: SimulcastGroup[];
  /** Mean SFU µs per forwarded packet with simulcast ÷ without (NaN without both). */
  readonly sfuCostRatio: number;
  /** A/B ratios (baseline µs/packet ÷ SFU µs/packet) of the pairs without and with simulcast. */
  readonly abPlain: Spread;
  readonly abSimulcast: Spread;
}

export function simulcastComparison(runs: readonly LoadRunResult[]): SimulcastComparison {
  const groups: SimulcastGroup[] = [];
  for (const target of ['sfu', 'baseline'] as const) {
    for (const simulcast of [false, true]) {
      const group = runs.filter((run) => run.target === target && (run.simulcast !== undefined) === simulcast);
      if (group.length === 0) continue;
      const of = (f: (run: LoadRunResult) => number): Spread => spread(group.map(f));
      groups.push({
        target,
        simulcast,
        runs: group.length,
        ingressPps: of((r) => r.window.sentPackets / r.window.seconds),
        forwardedPps: of((r) => r.window.forwardedPps),
        workerUsPerPacket: of((r) => r.window.workerUsPerPacket),
        workerUsPerPacketInOrOut: of((r) => (r.window.workerCpuSeconds * 1e6) / (r.window.sentPackets + r.window.forwardedPackets)),
        workerCpuPercent: of((r) => (100 * r.window.workerCpuSeconds) / r.window.seconds),
        lossPercent: of((r) => r.window.lossPercent),
      });
    }
  }
  const sfuPlain = groups.find((g) => g.target === 'sfu' && !g.simulcast);
  const sfuSim = groups.find((g) => g.target === 'sfu' && g.simulcast);
  const ab = (simulcast: boolean): Spread => {
    const kind = runs.filter((run) => (run.simulcast !== undefined) === simulcast);
    return compare(kind).ratio;
  };
  return {
    groups,
    sfuCostRatio: sfuPlain && sfuSim ? sfuSim.workerUsPerPacket.mean / sfuPlain.workerUsPerPacket.mean : Number.NaN,
    abPlain: ab(false),
    abSimulcast: ab(true),
  };
}

/** One pair of --pipe-cost runs: the room on one worker, then spread over two. */
export interface PipeCostPair {
  readonly oneUsPerPacket: number;
  readonly spreadUsPerPacket: number;
  /** Packets that crossed a pipe per forwarded packet, in the spread run. */
  readonly pipedPerForwarded: number;
  /**
   * Extra worker CPU of the spread run per piped packet: (spread − one) µs per forwarded
   * packet × forwarded packets ÷ piped packets of the spread run.
   */
  readonly usPerPipedPacket: number;
  readonly oneRouters: number;
  readonly spreadRouters: number;
}

/** The cost of a pipe hop over alternating --pipe-cost runs. */
export interface PipeCost {
  readonly pairs: PipeCostPair[];
  /** Worker µs per forwarded packet, room on one worker / spread over two. */
  readonly oneUsPerPacket: Spread;
  readonly spreadUsPerPacket: Spread;
  /** Spread ÷ one, per pair. */
  readonly ratio: Spread;
  readonly pipedPps: Spread;
  readonly pipedPerForwarded: Spread;
  readonly usPerPipedPacket: Spread;
}

/** What pipeCost reads of a run. */
export interface PipeCostRun {
  readonly label: string;
  readonly window: Pick<LoadWindow, 'workerUsPerPacket' | 'forwardedPackets' | 'pipedPackets' | 'pipedPps'>;
  readonly placement: Pick<RunPlacement, 'maxRoutersPerRoom'>;
}

/** Pairs the i-th run labelled `one-…` with the i-th labelled `spread-…`. */
export function pipeCost(runs: readonly PipeCostRun[]): PipeCost {
  const one = runs.filter((run) => run.label.startsWith('one-'));
  const spreadRuns = runs.filter((run) => run.label.startsWith('spread-'));
  const pairs = one.slice(0, spreadRuns.length).map((run, i): PipeCostPair => {
    const other = spreadRuns[i]!;
    const forwarded = other.window.forwardedPackets;
    const piped = other.window.pipedPackets;
    return {
      oneUsPerPacket: run.window.workerUsPerPacket,
      spreadUsPerPacket: other.window.workerUsPerPacket,
      pipedPerForwarded: forwarded > 0 ? piped / forwarded : Number.NaN,
      usPerPipedPacket: piped > 0 ? ((other.window.workerUsPerPacket - run.window.workerUsPerPacket) * forwarded) / piped : Number.NaN,
      oneRouters: run.placement.maxRoutersPerRoom,
      spreadRouters: other.placement.maxRoutersPerRoom,
    };
  });
  return {
    pairs,
    oneUsPerPacket: spread(one.map((run) => run.window.workerUsPerPacket)),
    spreadUsPerPacket: spread(spreadRuns.map((run) => run.window.workerUsPerPacket)),
    ratio: spread(pairs.map((pair) => pair.spreadUsPerPacket / pair.oneUsPerPacket)),
    pipedPps: spread(spreadRuns.map((run) => run.window.pipedPps)),
    pipedPerForwarded: spread(pairs.map((pair) => pair.pipedPerForwarded)),
    usPerPipedPacket: spread(pairs.map((pair) => pair.usPerPipedPacket)),
  };
}

/** One pair of --node-cost runs: the same room on one node and across two. */
export interface NodeCostPair {
  readonly oneUsPerPacket: number;
  readonly twoUsPerPacket: number;
  /** Packets that crossed between the nodes ÷ packets forwarded to subscribers, two-node run. */
  readonly crossedPerForwarded: number;
  /** Extra worker CPU (both nodes) per crossed packet: (two − one) µs per forwarded packet × forwarded ÷ crossed. */
  readonly usPerCrossedPacket: number;
  /** Cross-node − same-node mean one-way delay within the two-node run (same packets' clock). */
  readonly addedDelayMs: number;
}

/** The cost of a hop between nodes over alternating --node-cost runs. */
export interface NodeCost {
  readonly pairs: NodeCostPair[];
  readonly oneUsPerPacket: Spread;
  readonly twoUsPerPacket: Spread;
  /** Two ÷ one, per pair. */
  readonly ratio: Spread;
  readonly crossedPps: Spread;
  readonly usPerCrossedPacket: Spread;
  readonly addedDelayMs: Spread;
}

/** What nodeCost reads of a run. */
export interface NodeCostRun {
  readonly label: string;
  readonly window: Pick<LoadWindow, 'workerUsPerPacket' | 'forwardedPackets'>;
  readonly nodes: Pick<NodesResult, 'crossedPackets' | 'crossedPps' | 'delay'>;
}

/** Pairs the i-th run labelled `one-node-…` with the i-th labelled `two-nodes-…`. */
export function nodeCost(runs: readonly NodeCostRun[]): NodeCost {
  const one = runs.filter((run) => run.label.startsWith('one-node-'));
  const two = runs.filter((run) => run.label.startsWith('two-nodes-'));
  const pairs = one.slice(0, two.length).map((run, i): NodeCostPair => {
    const other = two[i]!;
    const forwarded = other.window.forwardedPackets;
    const crossed = other.nodes.crossedPackets;
    return {
      oneUsPerPacket: run.window.workerUsPerPacket,
      twoUsPerPacket: other.window.workerUsPerPacket,
      crossedPerForwarded: forwarded > 0 ? crossed / forwarded : Number.NaN,
      usPerCrossedPacket: crossed > 0 ? ((other.window.workerUsPerPacket - run.window.workerUsPerPacket) * forwarded) / crossed : Number.NaN,
      addedDelayMs: other.nodes.delay.addedMs,
    };
  });
  return {
    pairs,
    oneUsPerPacket: spread(one.map((run) => run.window.workerUsPerPacket)),
    twoUsPerPacket: spread(two.map((run) => run.window.workerUsPerPacket)),
    ratio: spread(pairs.map((pair) => pair.twoUsPerPacket / pair.oneUsPerPacket)),
    crossedPps: spread(two.map((run) => run.nodes.crossedPps)),
    usPerCrossedPacket: spread(pairs.map((pair) => pair.usPerCrossedPacket)),
    addedDelayMs: spread(pairs.map((pair) => pair.addedDelayMs)),
  };
}
