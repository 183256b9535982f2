// `npm run loadtest -- …`: synthetic participants against our SFU (and bare mediasoup),
// with progress on the terminal, a summary table, and a report folder (report.json + one
// SVG per run). Every run is bounded and stops itself. See test/load/README.md.

import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { compare, growth, held, nodeCost, pipeCost, simulcastComparison } from './analysis.ts';
import { runLoad, type LoadRunOptions, type LoadRunResult } from './LoadRun.ts';
import { parseCliOptions, USAGE, type CliOptions } from './options.ts';
import { accountingLine, edgeLines, nodeCostLines, nodesLine, pipeCostLines, placementLine, REPORT_SCHEMA, simulcastLines, summaryTable, writeReport, type LoadReport } from './report.ts';

function progress(line: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  else process.stderr.write(`${line}\n`);
}

function base(options: CliOptions, overrides: Partial<LoadRunOptions>): LoadRunOptions {
  return {
    target: options.target,
    participants: options.participants,
    ...(options.publishers !== undefined ? { publishers: options.publishers } : {}),
    ...(options.subscribers !== undefined ? { subscribers: options.subscribers } : {}),
    video: options.video,
    audio: options.audio,
    videoBitrate: options.videoBitrate,
    durationS: options.durationS,
    warmupS: options.warmupS,
    rooms: options.rooms,
    rampPerSecond: options.rampPerSecond,
    workers: options.workers,
    ...(options.nodes > 1 ? { nodes: options.nodes, nodeSplit: options.nodeSplit } : {}),
    ...(options.maxWorkerLoad !== undefined ? { maxWorkerLoad: options.maxWorkerLoad } : {}),
    ...(options.spreadConsumersPerWorker !== undefined ? { spreadConsumersPerWorker: options.spreadConsumersPerWorker } : {}),
    ...(options.spreadWorkerLoad !== undefined ? { spreadWorkerLoad: options.spreadWorkerLoad } : {}),
    ...(options.mediasoupDir ? { mediasoupDir: options.mediasoupDir } : {}),
    ...(options.sfuStatsIntervalMs !== undefined ? { sfuStatsIntervalMs: options.sfuStatsIntervalMs } : {}),
    ...(options.simulcastBitrates ? { simulcastBitrates: options.simulcastBitrates, layers: options.layers, layerCycleS: options.layerCycleS } : {}),
    ...(options.liveKitShare > 0 ? { liveKitShare: options.liveKitShare } : {}),
    progress,
    targetLogFile: join(options.out, 'target.log'),
    ...overrides,
  };
}

async function one(runs: LoadRunResult[], options: LoadRunOptions): Promise<LoadRunResult> {
  const result = await runLoad(options);
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(accountingLine(result));
  const placement = placementLine(result);
  if (placement) console.log(placement);
  const nodes = nodesLine(result);
  if (nodes) console.log(nodes);
  runs.push(result);
  return result;
}

async function main(): Promise<void> {
  const options = parseCliOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const { mkdirSync } = await import('node:fs');
  mkdirSync(options.out, { recursive: true });
  const runs: LoadRunResult[] = [];
  let comparison: unknown;
  let growthResult: unknown;
  let largest: unknown;
  let simulcast: ReturnType<typeof simulcastComparison> | undefined;
  let pipes: ReturnType<typeof pipeCost> | undefined;
  let nodesCost: ReturnType<typeof nodeCost> | undefined;
  switch (options.mode) {
    case 'single':
      await one(runs, base(options, {}));
      break;
    case 'compare':
      for (let i = 0; i < options.alternations; i++) {
        await one(runs, base(options, { target: 'sfu', label: `sfu-${i + 1}` }));
        await one(runs, base(options, { target: 'baseline', label: `baseline-${i + 1}` }));
      }
      comparison = compare(runs);
      if (options.simulcastBitrates) simulcast = simulcastComparison(runs);
      break;
    case 'simulcast-compare': {
      for (let i = 0; i < options.alternations; i++) {
        for (const target of ['sfu', 'baseline'] as const) {
          await one(runs, base({ ...options, simulcastBitrates: undefined }, { target, label: `${target}-${i + 1}` }));
          await one(runs, base(options, { target, label: `${target}-sim-${i + 1}` }));
        }
      }
      comparison = compare(runs);
      simulcast = simulcastComparison(runs);
      break;
    }
    case 'pipe-cost':
      for (let i = 0; i < options.alternations; i++) {
        await one(runs, base(options, { target: 'sfu', rooms: 1, spreadConsumersPerWorker: 0, label: `one-${i + 1}` }));
        await one(runs, base(options, { target: 'sfu', rooms: 1, spreadConsumersPerWorker: options.spreadConsumersPerWorker ?? 1, label: `spread-${i + 1}` }));
      }
      pipes = pipeCost(runs);
      break;
    case 'node-cost':
      for (let i = 0; i < options.alternations; i++) {
        await one(runs, base(options, { target: 'sfu', rooms: 1, label: `one-node-${i + 1}` }));
        await one(runs, base(options, { target: 'sfu', rooms: 1, nodes: 2, nodeSplit: options.nodeSplit, label: `two-nodes-${i + 1}` }));
      }
      nodesCost = nodeCost(runs);
      break;
    case 'growth':
      for (const size of options.sizes) await one(runs, base(options, { target: 'sfu', participants: size, rooms: 1, label: `sfu-n${size}` }));
      growthResult = growth(runs);
      break;
    case 'max': {
      let best: number | undefined;
      let broke: string | undefined;
      for (let size = options.maxStart; size <= options.maxLimit; size += options.maxStep) {
        const run = await one(runs, base(options, { target: 'sfu', participants: size, rooms: 1, label: `sfu-n${size}` }));
        const verdict = held(run);
        if (!verdict.ok) {
          broke = `at ${size} participants: ${verdict.reason}`;
          break;
        }
        best = size;
      }
      const bestRun = runs.find((run) => run.options.participants === best);
      largest = {
        largestHeld: best ?? null,
        firstFailure: broke ?? `none up to ${options.maxLimit}`,
        workers: options.workers,
    ...(options.nodes > 1 ? { nodes: options.nodes, nodeSplit: options.nodeSplit } : {}),
        spreadConsumersPerWorker: options.spreadConsumersPerWorker ?? null,
        ...(bestRun
          ? {
              largestHeldRun: {
                lossPercent: bestRun.window.lossPercent,
                workersUsed: bestRun.placement.workersUsed,
                routers: bestRun.placement.maxRoutersPerRoom,
                pipeTransports: bestRun.placement.pipeTransports,
                workerUsPerPacket: bestRun.window.workerUsPerPacket,
                loadAverage: bestRun.loadAverage.windowEnd,
                ...(options.nodes > 1
                  ? { participantsPerNode: bestRun.nodes.participantsPerNode, linksUp: bestRun.nodes.linksUpPerNode, crossedPps: bestRun.nodes.crossedPps }
                  : {}),
              },
            }
          : {}),
      };
      growthResult = growth(runs);
      break;
    }
  }
  const report: LoadReport = {
    schema: REPORT_SCHEMA,
    createdAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', totalMemoryBytes: totalmem(), node: process.version, platform: process.platform },
    command: process.argv.slice(2),
    runs,
    ...(comparison ? { comparison } : {}),
    ...(simulcast ? { simulcast } : {}),
    ...(pipes ? { pipeCost: pipes } : {}),
    ...(nodesCost ? { nodeCost: nodesCost } : {}),
    ...(growthResult ? { growth: largest ? { ...(growthResult as object), largest } : growthResult } : {}),
  };
  const paths = writeReport(options.out, report);
  console.log(`\n${summaryTable(runs)}\n`);
  if (comparison) {
    const c = comparison as ReturnType<typeof compare>;
    console.log(
      `A/B (bare mediasoup µs/packet ÷ SFU µs/packet, ${c.ratio.n} pairs): mean ${c.ratio.mean.toFixed(3)} ± ${c.ratio.stdev.toFixed(3)} ` +
        `(min ${c.ratio.min.toFixed(3)}, max ${c.ratio.max.toFixed(3)}); SFU ${c.sfuUsPerPacket.mean.toFixed(2)} µs, baseline ${c.baselineUsPerPacket.mean.toFixed(2)} µs; ` +
        `control plane ${(100 * c.sfuControlPlaneShare.mean).toFixed(1)} % of worker CPU (baseline's ${(100 * c.baselineControlPlaneShare.mean).toFixed(1)} %)`,
    );
  }
  if (growthResult) {
    const g = growthResult as ReturnType<typeof growth>;
    console.log(
      `worker CPU vs forwarded pps: slope ${(g.workerCpuFit.slope * 1e6).toFixed(2)} µs/packet, intercept ${(100 * g.workerCpuFit.intercept).toFixed(1)} % of a core, r² ${g.workerCpuFit.r2.toFixed(3)} (${g.workerCpuFit.points} runs)`,
    );
  }
  if (simulcast) for (const line of simulcastLines(simulcast)) console.log(line);
  if (pipes) for (const line of pipeCostLines(pipes)) console.log(line);
  if (nodesCost) for (const line of nodeCostLines(nodesCost)) console.log(line);
  for (const line of edgeLines(runs)) console.log(line);
  if (largest) console.log(`largest room: ${JSON.stringify(largest)}`);
  console.log(`report: ${paths.join(', ')}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
