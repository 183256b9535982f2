// Reports of load runs: a summary table for the terminal, the JSON report (schema
// `matrix-sfu.loadtest.v1`, checked by the short load test) and an SVG plot of one run
// (packets per second, CPU and loss over time, three panels on one time axis), written
// by hand: no plotting dependency; simulcast runs get a fourth panel (received packets/s
// per layer q/h/f), and a report of several runs a bar chart comparing them (runs.svg);
// lines on where the rooms lived (routers, workers, pipes), on runs across nodes (participants
// per node, cascade links, packets that crossed between nodes, delay same-node vs cross-node)
// and on the cost of a pipe hop.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadRunResult, LoadSample } from './LoadRun.ts';
import type { NodeCost, PipeCost, SimulcastComparison } from './analysis.ts';

/** Schema name of the JSON report. */
export const REPORT_SCHEMA = 'matrix-sfu.loadtest.v1';

/** The JSON report: machine, runs, and the derived comparisons. */
export interface LoadReport {
  readonly schema: typeof REPORT_SCHEMA;
  readonly createdAt: string;
  readonly machine: { cpus: number; cpuModel: string; totalMemoryBytes: number; node: string; platform: string };
  readonly command: string[];
  readonly runs: LoadRunResult[];
  /** A/B comparison, when the run alternated targets. */
  readonly comparison?: unknown;
  /** Growth curves, when the run swept participant counts. */
  readonly growth?: unknown;
  /** Runs with and without simulcast side by side. */
  readonly simulcast?: SimulcastComparison;
  /** The same room on one worker and spread over two (--pipe-cost). */
  readonly pipeCost?: PipeCost;
  /** The same room on one node and across two (--node-cost). */
  readonly nodeCost?: NodeCost;
}

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(2);
}

/** A fixed-width summary table, one row per run. */
export function summaryTable(runs: readonly LoadRunResult[]): string {
  const header = [
    'run'.padEnd(18),
    'N'.padStart(4),
    'sim'.padStart(5),
    'joined'.padStart(6),
    'in pps'.padStart(7),
    'fwd pps'.padStart(8),
    'loss %'.padStart(7),
    'us/pkt'.padStart(7),
    'worker %'.padStart(9),
    'node/wkr'.padStart(9),
    'join p50'.padStart(9),
    'join p95'.padStart(9),
    'flow p95'.padStart(9),
    'heap/p KiB'.padStart(11),
    'wkrs'.padStart(4),
    'pipe pps'.padStart(8),
    'nodes'.padStart(5),
    'x-node pps'.padStart(10),
    'load'.padStart(5),
  ].join(' ');
  const rows = runs.map((run) =>
    [
      run.label.slice(0, 18).padEnd(18),
      String(run.options.participants).padStart(4),
      (run.simulcast?.layers ?? '-').padStart(5),
      String(run.joins.joined).padStart(6),
      fmt(run.window.sentPackets / run.window.seconds, 0).padStart(7),
      fmt(run.window.forwardedPps, 0).padStart(8),
      fmt(run.window.lossPercent, 2).padStart(7),
      fmt(run.window.workerUsPerPacket, 2).padStart(7),
      fmt((100 * run.window.workerCpuSeconds) / run.window.seconds, 0).padStart(9),
      fmt(100 * run.window.controlPlaneShare, 1).padStart(8) + '%',
      fmt(run.joins.joinedP50Ms, 0).padStart(9),
      fmt(run.joins.joinedP95Ms, 0).padStart(9),
      fmt(run.joins.flowingP95Ms, 0).padStart(9),
      fmt(run.memory.heapPerParticipantBytes / 1024, 1).padStart(11),
      String(run.placement.workersUsed).padStart(4),
      fmt(run.window.pipedPps, 0).padStart(8),
      String(run.nodes?.count ?? 1).padStart(5),
      fmt(run.nodes?.crossedPps ?? 0, 0).padStart(10),
      fmt(run.loadAverage.windowEnd, 1).padStart(5),
    ].join(' '),
  );
  return [header, ...rows].join('\n');
}

/** One line on the accounting of a run (two with simulcast: per layer, switches, the worker's view). */
export function accountingLine(run: LoadRunResult): string {
  const a = run.accounting;
  const sim = run.simulcast;
  const simulcastLine = sim
    ? `\n[${run.label}] simulcast (${sim.layers}): ` +
      sim.perLayer.map((l) => `${l.rid} received ${l.received}/${l.expected} (loss ${fmt(l.lossPercent, 2)} %)`).join(', ') +
      `; ${sim.subscriptionsThatSwitched}/${sim.subscriptions} video subscriptions switched layers (${sim.switchesSeen} switches, ${sim.layerNotifications} consumerLayersChanged)` +
      (sim.dump ? `; worker: current spatial ${JSON.stringify(sim.dump.currentSpatial)}, preferred ${JSON.stringify(sim.dump.preferredSpatial)} of ${sim.dump.dumped} consumers` : '')
    : '';
  return (
    `[${run.label}] sent ${a.sent}, expected at subscribers ${a.expected} = received ${a.received} + lost after SFU ${a.lostAfterSfu} + not forwarded ${a.notForwarded} ` +
    `(loss ${fmt(a.lossPercent, 3)} %, ${a.silentSubscriptions}/${a.subscriptions} silent subscriptions)` +
    (Object.keys(run.joins.refusals).length > 0 ? `; refused joins ${JSON.stringify(run.joins.refusals)}` : '') +
    simulcastLine
  );
}

/** Where a run's rooms lived (our SFU only): spreading settings, routers per worker, pipes, CPU per worker, load average. */
export function placementLine(run: LoadRunResult): string | undefined {
  if (run.target !== 'sfu') return undefined;
  const p = run.placement;
  const setting = (value: number | undefined): string => (value === undefined ? 'default' : String(value));
  const multiNode = (run.nodes?.count ?? 1) > 1;
  const rooms = p.rooms
    .map((room) => `${room.id}${multiNode ? ` on node ${room.node + 1}` : ''}: ${room.routers.map((r) => `worker ${r.slotIndex} ${r.participants} participants/${r.pipeTransports} pipe transports`).join(', ')}`)
    .join('; ');
  // Where each participant is homed: its own node's view (another node's copy of it has no worker).
  const where = new Map<string, { publisher: string; at: string }>();
  const homeOf = new Map<string, string>();
  for (const room of p.rooms) {
    for (const participant of room.participants) {
      if (participant.remoteNode !== undefined) continue;
      const at = `${multiNode ? `node ${room.node + 1} ` : ''}worker ${participant.slotIndex ?? '?'}`;
      homeOf.set(participant.id, at);
      for (const producerId of participant.producers) where.set(producerId, { publisher: participant.id, at });
    }
  }
  const silent = run.accounting.silent.map((s) => {
    const from = where.get(s.producerId);
    return `${s.subscriber} (${homeOf.get(s.subscriber) ?? 'worker ?'}) ← ${s.kind} of ${from?.publisher ?? s.producerId} (${from?.at ?? 'worker ?'})`;
  });
  const perWorker = run.window.workerCpuSecondsByWorker.map((seconds) => `${fmt((100 * seconds) / run.window.seconds, 1)} %`).join(', ');
  return (
    `[${run.label}] placement (spreadConsumersPerWorker ${setting(p.spreadConsumersPerWorker)}, spreadWorkerLoad ${setting(p.spreadWorkerLoad)}): ` +
    `${rooms || 'no room'}; ${p.workersUsed}/${run.workers} workers used, ${p.pipeTransports} pipe transports, ${p.pipeConsumers} pipe consumers, ` +
    `piped ${fmt(run.window.pipedPps, 0)} pps; worker CPU ${perWorker}; load average ${fmt(run.loadAverage.start, 2)} → ${fmt(run.loadAverage.windowEnd, 2)}` +
    (silent.length > 0 ? `; silent subscriptions: ${silent.join(', ')}` : '')
  );
}

/** A run across nodes (--nodes 2): participants, links, packets across, worker CPU per node, delay same-node vs cross-node; undefined for one node. */
export function nodesLine(run: LoadRunResult): string | undefined {
  const n = run.nodes;
  if (!n || n.count < 2) return undefined;
  const perNode = (values: readonly number[], format: (v: number) => string): string => values.map((v, i) => `${n.nodeIds[i] ?? i}: ${format(v)}`).join(', ');
  const d = n.delay;
  return (
    `[${run.label}] nodes (${n.count}, split ${n.split}): participants ${perNode(n.participantsPerNode, String)}; ` +
    `cascade links up ${perNode(n.linksUpPerNode, String)}, rooms spanning ${perNode(n.roomsSpanningPerNode, String)}, ` +
    `remote participants ${perNode(n.remoteParticipantsPerNode, String)}, ${n.cascadeConsumers} cascade pipe consumers; ` +
    `crossed between nodes ${fmt(n.crossedPps, 0)} pps (${perNode(n.crossedPacketsByNode.map((p) => p / run.window.seconds), (v) => `${fmt(v, 0)} pps out`)}); ` +
    `worker CPU ${perNode(n.workerCpuSecondsByNode, (v) => `${fmt((100 * v) / run.window.seconds, 1)} %`)}` +
    (n.redisCpuSeconds !== undefined ? `, redis ${fmt((100 * n.redisCpuSeconds) / run.window.seconds, 2)} %` : '') +
    `; one-way delay same node ${fmt(d.sameNodeMs, 2)} ms (${d.sameNodePackets} packets), cross node ${fmt(d.crossNodeMs, 2)} ms (${d.crossNodePackets}): added ${fmt(d.addedMs, 2)} ms`
  );
}

/** Lines on the cost of a hop between nodes (--node-cost). */
export function nodeCostLines(c: NodeCost): string[] {
  const s = (x: { mean: number; stdev: number }, digits = 2): string => `${fmt(x.mean, digits)} ± ${fmt(x.stdev, digits)}`;
  return [
    ...c.pairs.map(
      (pair, i) =>
        `pair ${i + 1}: one node ${fmt(pair.oneUsPerPacket, 2)} µs/forwarded packet, two nodes ${fmt(pair.twoUsPerPacket, 2)} ` +
        `(${fmt(100 * pair.crossedPerForwarded, 1)} % of forwarded packets crossed between nodes) → ${fmt(pair.usPerCrossedPacket, 1)} µs per crossed packet; ` +
        `cross-node delay +${fmt(pair.addedDelayMs, 2)} ms`,
    ),
    `node hop (${c.pairs.length} pairs): worker µs per forwarded packet one node ${s(c.oneUsPerPacket)}, two nodes ${s(c.twoUsPerPacket)} (ratio ${s(c.ratio, 3)}); ` +
      `crossed ${fmt(c.crossedPps.mean, 0)} pps; extra worker CPU per crossed packet ${s(c.usPerCrossedPacket, 1)} µs; added one-way delay ${s(c.addedDelayMs)} ms`,
  ];
}

/** Lines on the cost of a pipe hop (--pipe-cost). */
export function pipeCostLines(c: PipeCost): string[] {
  const s = (x: { mean: number; stdev: number; n: number }, digits = 2): string => `${fmt(x.mean, digits)} ± ${fmt(x.stdev, digits)}`;
  return [
    ...c.pairs.map(
      (pair, i) =>
        `pair ${i + 1}: one worker ${fmt(pair.oneUsPerPacket, 2)} µs/forwarded packet (${pair.oneRouters} router), spread ${fmt(pair.spreadUsPerPacket, 2)} ` +
        `(${pair.spreadRouters} routers, ${fmt(100 * pair.pipedPerForwarded, 1)} % of forwarded packets crossed a pipe) → ${fmt(pair.usPerPipedPacket, 1)} µs per piped packet`,
    ),
    `pipe hop (${c.pairs.length} pairs): worker µs per forwarded packet one worker ${s(c.oneUsPerPacket)}, spread ${s(c.spreadUsPerPacket)} ` +
      `(ratio ${s(c.ratio, 3)}); piped ${fmt(c.pipedPps.mean, 0)} pps; extra worker CPU per piped packet ${s(c.usPerPipedPacket, 1)} µs`,
  ];
}

/** Join latency per signalling edge, for runs that used the LiveKit edge. */
export function edgeLines(runs: readonly LoadRunResult[]): string[] {
  const lines: string[] = [];
  for (const run of runs) {
    for (const [edge, j] of Object.entries(run.joins.byEdge ?? {})) {
      lines.push(
        `[${run.label}] ${edge.padEnd(7)} edge: ${j.joined}/${j.attempted} joined, join p50 ${fmt(j.joinedP50Ms, 0)} / p95 ${fmt(j.joinedP95Ms, 0)} ms, ` +
          `all flowing p50 ${fmt(j.flowingP50Ms, 0)} / p95 ${fmt(j.flowingP95Ms, 0)} ms, never flowing ${j.neverFlowing}`,
      );
    }
  }
  return lines;
}

/** Lines on runs with and without simulcast. */
export function simulcastLines(c: SimulcastComparison): string[] {
  const lines = c.groups.map(
    (g) =>
      `${g.target.padEnd(8)} ${g.simulcast ? 'simulcast' : 'single   '} (${g.runs} runs): in ${fmt(g.ingressPps.mean, 0)} pps, forwarded ${fmt(g.forwardedPps.mean, 0)} pps, ` +
      `worker ${fmt(g.workerCpuPercent.mean, 1)} % = ${fmt(g.workerUsPerPacket.mean, 2)} ± ${fmt(g.workerUsPerPacket.stdev, 2)} µs per forwarded packet ` +
      `(${fmt(g.workerUsPerPacketInOrOut.mean, 2)} µs per packet in or out), loss ${fmt(g.lossPercent.mean, 2)} %`,
  );
  lines.push(
    `SFU µs per forwarded packet, simulcast ÷ single stream: ${fmt(c.sfuCostRatio, 3)}; A/B (baseline ÷ SFU) single ${fmt(c.abPlain.mean, 3)} ± ${fmt(c.abPlain.stdev, 3)} (${c.abPlain.n}), ` +
      `simulcast ${fmt(c.abSimulcast.mean, 3)} ± ${fmt(c.abSimulcast.stdev, 3)} (${c.abSimulcast.n})`,
  );
  return lines;
}

interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function panel(title: string, unit: string, times: readonly number[], series: readonly Series[], top: number, width: number, height: number): string {
  const left = 70;
  const right = width - 150;
  const bottom = top + height;
  const tMax = Math.max(1, ...times);
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter(Number.isFinite))));
  const x = (t: number): number => left + ((right - left) * t) / tMax;
  const y = (v: number): number => bottom - (height * Math.min(v, yMax)) / yMax;
  const parts = [
    `<text x="${left}" y="${top - 8}" font-size="13" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${left}" y="${top}" width="${right - left}" height="${height}" fill="none" stroke="#999"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4;
    const yy = y(value);
    parts.push(`<line x1="${left}" y1="${yy}" x2="${right}" y2="${yy}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${yy + 4}" font-size="10" text-anchor="end">${fmt(value, Number.isInteger(value) ? 0 : 1)}</text>`);
  }
  const tStep = niceMax(tMax / 8);
  for (let t = 0; t <= tMax + 1e-9; t += tStep) {
    parts.push(`<text x="${x(t).toFixed(1)}" y="${bottom + 13}" font-size="10" text-anchor="middle">${fmt(t, Number.isInteger(t) ? 0 : 1)}</text>`);
  }
  parts.push(`<text x="12" y="${top + height / 2}" font-size="10" transform="rotate(-90 12 ${top + height / 2})" text-anchor="middle">${escape(unit)}</text>`);
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => `${x(times[i]!).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    parts.push(`<rect x="${right + 12}" y="${top + 4 + index * 16}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${right + 28}" y="${top + 13 + index * 16}" font-size="11">${escape(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** An SVG plot of one run's samples: pps, CPU, loss over time. */
export function runSvg(run: LoadRunResult): string {
  const width = 900;
  const panelHeight = 150;
  const samples: readonly LoadSample[] = run.samples;
  const times = samples.map((s) => s.t);
  const pick = (f: (s: LoadSample) => number): number[] => samples.map(f);
  const title = `${run.label}: ${run.options.participants} participants, ${run.options.rooms} room(s), mediasoup ${run.mediasoupVersion}`;
  const body = [
    `<text x="70" y="24" font-size="15" font-weight="bold">${escape(title)}</text>`,
    panel('packets per second', 'pps', times, [
      { name: 'sent', color: '#1f77b4', values: pick((s) => s.sentPps) },
      { name: 'forwarded', color: '#2ca02c', values: pick((s) => s.forwardedPps) },
      { name: 'received', color: '#ff7f0e', values: pick((s) => s.receivedPps) },
    ], 60, width, panelHeight),
    panel('CPU (percent of one core)', '%', times, [
      { name: 'worker', color: '#d62728', values: pick((s) => s.workerCpuPercent) },
      { name: 'SFU Node', color: '#9467bd', values: pick((s) => s.nodeCpuPercent) },
      { name: 'generator', color: '#8c564b', values: pick((s) => s.generatorCpuPercent) },
    ], 60 + panelHeight + 50, width, panelHeight),
    panel('loss (percent of expected packets)', '%', times, [{ name: 'loss', color: '#e377c2', values: pick((s) => s.lossPercent) }], 60 + 2 * (panelHeight + 50), width, panelHeight),
  ];
  const panels = run.simulcast ? 4 : 3;
  if (run.simulcast) {
    const colors = ['#17becf', '#bcbd22', '#7f7f7f'];
    body.push(
      panel(
        `received packets per second per simulcast layer (preferred: ${run.simulcast.layers})`,
        'pps',
        times,
        run.simulcast.perLayer.map((layer, index) => ({ name: layer.rid, color: colors[index]!, values: pick((s) => s.receivedPpsByLayer?.[index] ?? 0) })),
        60 + 3 * (panelHeight + 50),
        width,
        panelHeight,
      ),
    );
  }
  body.push(`<text x="${width / 2}" y="${60 + panels * panelHeight + (panels - 1) * 50 + 30}" font-size="11" text-anchor="middle">seconds since start</text>`);
  const height = 60 + panels * panelHeight + (panels - 1) * 50 + 45;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}

/** A bar chart of several runs: worker µs per forwarded packet and forwarded packets/s per run. */
export function runsSvg(runs: readonly LoadRunResult[]): string {
  const width = Math.max(500, 120 + runs.length * 70);
  const chart = (title: string, values: number[], color: string, top: number, digits: number): string => {
    const height = 160;
    const left = 70;
    const yMax = niceMax(Math.max(0, ...values.filter(Number.isFinite)));
    const parts = [`<text x="${left}" y="${top - 8}" font-size="13" font-weight="bold">${escape(title)}</text>`];
    parts.push(`<line x1="${left}" y1="${top + height}" x2="${width - 20}" y2="${top + height}" stroke="#999"/>`);
    for (let i = 0; i <= 4; i++) {
      const y = top + height - (height * i) / 4;
      parts.push(`<text x="${left - 6}" y="${y + 4}" font-size="10" text-anchor="end">${fmt((yMax * i) / 4, digits)}</text>`);
    }
    values.forEach((value, i) => {
      const h = Number.isFinite(value) ? (height * Math.min(value, yMax)) / yMax : 0;
      const x = left + 10 + i * 70;
      const run = runs[i]!;
      parts.push(`<rect x="${x}" y="${(top + height - h).toFixed(1)}" width="44" height="${h.toFixed(1)}" fill="${run.simulcast ? color : '#aaa'}"/>`);
      parts.push(`<text x="${x + 22}" y="${(top + height - h - 4).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(value, digits)}</text>`);
      parts.push(`<text x="${x + 22}" y="${top + height + 14}" font-size="9" text-anchor="middle">${escape(run.label.slice(0, 14))}</text>`);
    });
    return parts.join('\n');
  };
  const body = [
    `<text x="70" y="24" font-size="15" font-weight="bold">runs compared (coloured: simulcast, grey: one stream)</text>`,
    chart('worker CPU µs per forwarded packet', runs.map((r) => r.window.workerUsPerPacket), '#d62728', 60, 1),
    chart('forwarded packets per second', runs.map((r) => r.window.forwardedPps), '#2ca02c', 290, 0),
  ];
  const height = 490;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}

/** Writes report.json, one SVG per run and, for several runs, runs.svg into `dir`; returns the written paths. */
export function writeReport(dir: string, report: LoadReport): string[] {
  mkdirSync(dir, { recursive: true });
  const paths = [join(dir, 'report.json')];
  writeFileSync(paths[0]!, JSON.stringify(report, null, 2) + '\n');
  report.runs.forEach((run, index) => {
    const path = join(dir, `${String(index + 1).padStart(2, '0')}-${run.label.replace(/[^A-Za-z0-9_.-]+/g, '_')}.svg`);
    writeFileSync(path, runSvg(run));
    paths.push(path);
  });
  if (report.runs.length > 1) {
    const path = join(dir, 'runs.svg');
    writeFileSync(path, runsSvg(report.runs));
    paths.push(path);
  }
  return paths;
}
