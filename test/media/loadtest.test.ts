// The short load run of `npm test`: the load generator (test/load) against a real SFU
// node in a child process, with real WebRTC transports. It checks the generator's own
// accounting (what publishers sent after each subscriber's first packet = received + lost
// after the SFU + never forwarded, the last two near zero on a small run), the report
// file's schema, and that admission control refuses joins with OVERLOADED (and counts them
// in sfu_join_refusals_total) once the worker is over media.maxWorkerLoad, and simulcast:
// three rid layers per publisher, subscribers' consumers cycled through the layers (packets
// of every layer arrive, the SFU notifies each switch, the worker's consumer dump shows the
// preferred layer as current), the same simulcast load on the bare-mediasoup baseline, and a
// room mixing both signalling edges (a participant on the LiveKit edge publishes to and
// receives from native ones), and a room spread over two workers (its routers, pipe
// transports and the packets that crossed the pipe, as the target reports them), and a room
// spread over two SfuNodes in cluster mode on a real redis-server (the cascade's links up,
// packets across, delay of same-node and cross-node subscriptions). Timings
// and CPU figures are printed, never asserted.

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLoad, type LoadRunResult } from '../load/LoadRun.ts';
import { REPORT_SCHEMA, accountingLine, edgeLines, nodesLine, placementLine, summaryTable, writeReport, type LoadReport } from '../load/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'loadtest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  target: 'sfu' as const,
  video: true,
  audio: true,
  videoBitrate: 200_000,
  rooms: 1,
  workers: 1,
  targetLogFile: join(dir, 'target.log'),
};

function isNumber(value: unknown): boolean {
  return typeof value === 'number' && !Number.isNaN(value);
}

describe('load generator against our SFU', () => {
  let run: LoadRunResult | undefined;

  it('accounts for every packet: sent after first packet = received + lost after SFU + not forwarded, with both losses near zero', async () => {
    run = await runLoad({ ...base, participants: 4, durationS: 4, warmupS: 1, rampPerSecond: 0, label: 'short' });
    console.log(`${accountingLine(run)}\n${summaryTable([run])}`);
    const a = run.accounting;
    expect(run.joins.joined).toBe(4);
    expect(a.subscriptions).toBe(4 * 3 * 2);
    expect(a.silentSubscriptions).toBe(0);
    expect(a.expected).toBe(a.received + a.lostAfterSfu + a.notForwarded);
    expect(a.expected).toBeGreaterThan(1000);
    expect(Math.abs(a.notForwarded)).toBeLessThanOrEqual(Math.ceil(a.expected * 0.02));
    expect(a.lostAfterSfu).toBeLessThanOrEqual(Math.ceil(a.forwarded * 0.02));
    expect(run.window.forwardedPackets).toBeGreaterThan(0);
    expect(run.window.workerCpuSeconds).toBeGreaterThanOrEqual(0);
  }, 50_000);

  it('writes a report with the documented schema and an SVG plot per run', () => {
    expect(run).toBeDefined();
    const report: LoadReport = {
      schema: REPORT_SCHEMA,
      createdAt: new Date().toISOString(),
      machine: { cpus: 2, cpuModel: 'test', totalMemoryBytes: 1, node: process.version, platform: process.platform },
      command: [],
      runs: [run!],
    };
    const paths = writeReport(join(dir, 'report'), report);
    const parsed = JSON.parse(readFileSync(paths[0]!, 'utf8')) as LoadReport;
    expect(parsed.schema).toBe('matrix-sfu.loadtest.v1');
    const r = parsed.runs[0]!;
    expect(r).toMatchObject({ label: 'short', target: 'sfu', workers: 1 });
    expect(typeof r.mediasoupVersion).toBe('string');
    for (const key of ['seconds', 'forwardedPackets', 'receivedPackets', 'lossPercent', 'workerCpuSeconds', 'nodeCpuSeconds', 'workerUsPerPacket', 'controlPlaneShare', 'forwardedPps'] as const) {
      expect(isNumber(r.window[key]), `window.${key}`).toBe(true);
    }
    for (const key of ['sent', 'expected', 'forwarded', 'received', 'lostAfterSfu', 'notForwarded', 'lossPercent', 'subscriptions', 'silentSubscriptions'] as const) {
      expect(isNumber(r.accounting[key]), `accounting.${key}`).toBe(true);
    }
    for (const key of ['attempted', 'joined', 'joinedP50Ms', 'joinedP95Ms', 'flowingP50Ms', 'flowingP95Ms', 'neverFlowing'] as const) {
      expect(isNumber(r.joins[key]), `joins.${key}`).toBe(true);
    }
    expect(isNumber(r.memory.heapPerParticipantBytes)).toBe(true);
    expect(r.samples.length).toBeGreaterThan(3);
    for (const key of ['t', 'joined', 'sentPps', 'forwardedPps', 'receivedPps', 'lossPercent', 'workerCpuPercent', 'nodeCpuPercent', 'generatorCpuPercent', 'nodeRssBytes'] as const) {
      expect(isNumber(r.samples[0]![key]), `samples[].${key}`).toBe(true);
    }
    const svgs = readdirSync(join(dir, 'report')).filter((name) => name.endsWith('.svg'));
    expect(svgs).toHaveLength(1);
    const svg = readFileSync(join(dir, 'report', svgs[0]!), 'utf8');
    expect(svg).toMatch(/^<\?xml[^>]*>\s*<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<polyline /g)).toHaveLength(7);
  });

  it('refuses joins with OVERLOADED once the worker is over media.maxWorkerLoad, and counts them', async () => {
    // A tiny limit: the worker is "overloaded" as soon as forwarding media costs any CPU.
    const overloaded = await runLoad({ ...base, participants: 6, durationS: 1, warmupS: 0, rampPerSecond: 1.5, maxWorkerLoad: 0.001, scrapeMetrics: true, label: 'overload' });
    console.log(accountingLine(overloaded));
    expect(overloaded.joins.joined).toBeGreaterThanOrEqual(1);
    expect(overloaded.joins.refusals['OVERLOADED'] ?? 0).toBeGreaterThanOrEqual(1);
    expect(Object.keys(overloaded.joins.refusals)).toEqual(['OVERLOADED']);
    const refused = /^sfu_join_refusals_total\{reason="worker_overloaded"\} (\d+)/m.exec(overloaded.metricsText ?? '')?.[1];
    expect(Number(refused)).toBe(overloaded.joins.refusals['OVERLOADED']);
    expect(overloaded.metricsText).toMatch(/^sfu_worker_load_ratio\{slot="0"\} [0-9.e-]+$/m);
  }, 50_000);
});

describe('load generator with simulcast publishers', () => {
  const simulcastBitrates = [100_000, 250_000, 500_000] as const;

  it('switches every subscriber between the three layers as preferred (f → q → h), and the worker reports the preferred layer as current', async () => {
    // Steps at 3 s and 6 s after the joins settled; the worker is asked at 8 s (2 s after the last step).
    const run = await runLoad({ ...base, participants: 3, durationS: 7, warmupS: 1, rampPerSecond: 0, simulcastBitrates, layers: 'cycle', layerCycleS: 3, label: 'simulcast' });
    console.log(`${accountingLine(run)}\n${summaryTable([run])}`);
    const sim = run.simulcast!;
    expect(run.joins.joined).toBe(3);
    expect(run.accounting.silentSubscriptions).toBe(0);
    expect(sim.subscriptions).toBe(3 * 2);
    // Every video subscription saw packets of f (first), q and h, and was told of each layer.
    expect(sim.subscriptionsThatSwitched).toBe(sim.subscriptions);
    for (const layer of sim.perLayer) {
      expect(layer.received, layer.rid).toBeGreaterThan(0);
      expect(layer.expected - layer.received, layer.rid).toBeLessThanOrEqual(Math.ceil(layer.expected * 0.02));
    }
    expect(sim.notifiedSpatialLayers).toEqual({ 0: sim.subscriptions, 1: sim.subscriptions, 2: sim.subscriptions });
    // Every consumer prefers the same layer (h, unless a loaded machine delayed the second step) and is on it.
    expect(sim.dump).toMatchObject({ simulcastConsumers: sim.subscriptions, dumped: sim.subscriptions });
    expect(Object.values(sim.dump!.preferredSpatial)).toEqual([sim.subscriptions]);
    expect(sim.dump!.currentIsPreferred).toBe(sim.subscriptions);
    const a = run.accounting;
    expect(a.expected).toBe(a.received + a.lostAfterSfu + a.notForwarded);
    expect(Math.abs(a.notForwarded)).toBeLessThanOrEqual(Math.ceil(a.expected * 0.02));
    expect(run.samples.every((sample) => sample.receivedPpsByLayer?.length === 3)).toBe(true);
  }, 60_000);

  it('the bare-mediasoup baseline receives the same simulcast load and forwards the preferred layer (low: q only, after the first key frame)', async () => {
    const run = await runLoad({ ...base, target: 'baseline', participants: 3, durationS: 3, warmupS: 1, rampPerSecond: 0, simulcastBitrates, layers: 'low', label: 'baseline-simulcast' });
    console.log(accountingLine(run));
    const sim = run.simulcast!;
    expect(run.accounting.silentSubscriptions).toBe(0);
    expect(sim.dump).toMatchObject({ dumped: 6, preferredSpatial: { 0: 6 }, currentSpatial: { 0: 6 } });
    const [q, h, f] = sim.perLayer;
    expect(q!.received).toBeGreaterThan(10 * (h!.received + f!.received));
    // The worker takes in three layers and forwards the lowest.
    expect(run.window.sentPackets).toBeGreaterThan(run.window.forwardedPackets);
  }, 60_000);
});

describe('load generator with participants on both edges', () => {
  it('a LiveKit-edge participant (/rtc, AddTrack, offer/answer, subscriber offers) exchanges media with native ones, with every packet accounted for', async () => {
    const run = await runLoad({ ...base, participants: 3, durationS: 3, warmupS: 1, rampPerSecond: 0, liveKitShare: 1 / 3, label: 'edges' });
    console.log(`${accountingLine(run)}\n${edgeLines([run]).join('\n')}`);
    expect(run.joins.joined).toBe(3);
    expect(run.joins.byEdge).toMatchObject({ native: { attempted: 2, joined: 2, neverFlowing: 0 }, livekit: { attempted: 1, joined: 1, neverFlowing: 0 } });
    const a = run.accounting;
    expect(a.subscriptions).toBe(3 * 2 * 2);
    expect(a.silentSubscriptions).toBe(0);
    expect(a.expected).toBe(a.received + a.lostAfterSfu + a.notForwarded);
    expect(Math.abs(a.notForwarded)).toBeLessThanOrEqual(Math.ceil(a.expected * 0.02));
    expect(a.lostAfterSfu).toBeLessThanOrEqual(Math.ceil(a.forwarded * 0.02));
    expect(run.errors).toEqual([]);
  }, 60_000);
});

describe('load generator across two workers', () => {
  it('reports a room spread over two workers: both routers, one pipe transport pair, every producer piped once, packets across the pipe', async () => {
    const run = await runLoad({ ...base, workers: 2, spreadConsumersPerWorker: 1, participants: 4, durationS: 3, warmupS: 1, rampPerSecond: 0, label: 'spread' });
    console.log(`${accountingLine(run)}\n${placementLine(run)}`);
    expect(run.joins.joined).toBe(4);
    expect(run.accounting.silentSubscriptions).toBe(0);
    expect(run.accounting.expected).toBe(run.accounting.received + run.accounting.lostAfterSfu + run.accounting.notForwarded);
    expect(run.placement).toMatchObject({ spreadConsumersPerWorker: 1, workersUsed: 2, maxRoutersPerRoom: 2, pipeTransports: 2, pipeConsumers: 8 });
    const room = run.placement.rooms[0]!;
    expect(room.routers.reduce((sum, router) => sum + router.participants, 0)).toBe(4);
    expect(new Set(room.participants.map((p) => p.slotIndex)).size).toBe(2);
    expect(run.window.pipedPackets).toBeGreaterThan(0);
    expect(run.window.workerCpuSecondsByWorker).toHaveLength(2);
  }, 50_000);

  it('keeps the room on one worker with spreadConsumersPerWorker 0: no pipes', async () => {
    const run = await runLoad({ ...base, workers: 2, spreadConsumersPerWorker: 0, participants: 3, durationS: 2, warmupS: 1, rampPerSecond: 0, label: 'one' });
    console.log(placementLine(run));
    expect(run.joins.joined).toBe(3);
    expect(run.placement).toMatchObject({ workersUsed: 1, maxRoutersPerRoom: 1, pipeTransports: 0, pipeConsumers: 0 });
    expect(run.window.pipedPackets).toBe(0);
  }, 50_000);
});

describe('load generator across two nodes', () => {
  it('spreads a room over two SfuNodes in cluster mode (Redis), linked by the cascade: every subscription delivers, packets cross between the nodes, delay measured both ways', async () => {
    const run = await runLoad({ ...base, nodes: 2, participants: 4, durationS: 3, warmupS: 1, rampPerSecond: 0, label: 'two-nodes' });
    console.log(`${accountingLine(run)}\n${placementLine(run)}\n${nodesLine(run)}`);
    expect(run.joins.joined).toBe(4);
    const a = run.accounting;
    expect(a.subscriptions).toBe(4 * 3 * 2);
    expect(a.silentSubscriptions).toBe(0);
    expect(a.expected).toBe(a.received + a.lostAfterSfu + a.notForwarded);
    const n = run.nodes;
    expect(n).toMatchObject({ count: 2, split: 'alternate', participantsPerNode: [2, 2], roomsSpanningPerNode: [1, 1], remoteParticipantsPerNode: [2, 2] });
    expect(Math.min(...n.linksUpPerNode)).toBeGreaterThanOrEqual(1);
    // Each node exports its two publishers' audio and video once over the one link.
    expect(n.cascadeConsumers).toBe(8);
    expect(Math.min(...n.crossedPacketsByNode)).toBeGreaterThan(0);
    expect(run.window.pipedPackets).toBe(0); // one worker per node: no worker-to-worker pipes
    expect(n.workerCpuSecondsByNode).toHaveLength(2);
    expect(n.delay.sameNodePackets).toBeGreaterThan(0);
    expect(n.delay.crossNodePackets).toBeGreaterThan(0);
    expect(run.errors).toEqual([]);
  }, 60_000);
});
