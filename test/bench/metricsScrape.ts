// Bench: how long GET /metrics takes with 50 participants on one node, and
// how long one media stats cycle takes. Participants are made through the
// Conference API (no browsers): each joins, opens a send transport and
// publishes audio; a few per conference also open a receive transport and so
// consume everyone else's audio. Prints numbers; asserts nothing.
//
// Run: node test/bench/metricsScrape.ts [iterations]   (Node 24)

import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { joinAs } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

interface Scenario {
  readonly conferences: number;
  readonly participantsEach: number;
  /** Participants per conference that also subscribe (recv transport → consumers of every other audio). */
  readonly subscribersEach: number;
}

const SCENARIOS: readonly Scenario[] = [
  { conferences: 1, participantsEach: 50, subscribersEach: 3 },
  { conferences: 5, participantsEach: 10, subscribersEach: 2 },
];

const iterations = Number(process.argv[2] ?? 200);
const WARMUP = 20;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms: number): string => ms.toFixed(2).padStart(7);
  return `min ${fmt(sorted[0]!)}  p50 ${fmt(percentile(sorted, 50))}  p95 ${fmt(percentile(sorted, 95))}  max ${fmt(sorted.at(-1)!)} ms`;
}

async function run(scenario: Scenario): Promise<void> {
  const config = loadConfig({
    overrides: {
      server: { port: 0 },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      conference: { maxParticipants: Math.max(100, scenario.participantsEach) },
    },
  });
  const node = await SfuNode.start({ config, logger: silentLogger() });
  try {
    for (let c = 0; c < scenario.conferences; c++) {
      const conference = await node.registry.getOrCreate(`bench-${c}` as ConferenceId);
      for (let p = 0; p < scenario.participantsEach; p++) {
        const { handle } = await joinAs(conference, `c${c}-p${p}`);
        const send = await handle.createTransport({ direction: 'send' });
        await handle.produce({
          transportId: send.transportId,
          kind: 'audio',
          source: 'microphone',
          rtpParameters: structuredClone({ ...AUDIO_RTP_PARAMETERS, encodings: [{ ssrc: 1_000_000 + c * 1000 + p }] }) as never,
        });
        if (p < scenario.subscribersEach) await handle.createTransport({ direction: 'recv' });
      }
    }
    // Auto-subscription runs after each createTransport response; let it settle.
    const expectedConsumers = scenario.conferences * scenario.subscribersEach * (scenario.participantsEach - 1);
    for (let waited = 0; waited < 10_000; waited += 50) {
      const consumers = node.registry.list().reduce((n, conf) => n + conf.dump().participants.reduce((m, p) => m + p.consumers.length, 0), 0);
      if (consumers >= expectedConsumers) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const cycles: number[] = [];
    let polled = 0;
    for (let i = 0; i < 10; i++) {
      const cycle = await node.metrics.pollStats();
      cycles.push(cycle.durationMs);
      polled = cycle.polled;
    }

    const url = `${node.wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '')}/metrics`;
    const http: number[] = [];
    const inProcess: number[] = [];
    let bytes = 0;
    let series = 0;
    for (let i = 0; i < WARMUP + iterations; i++) {
      const started = performance.now();
      const body = await (await fetch(url)).text();
      const elapsed = performance.now() - started;
      if (i >= WARMUP) http.push(elapsed);
      bytes = Buffer.byteLength(body);
      series = body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
    }
    for (let i = 0; i < WARMUP + iterations; i++) {
      const started = performance.now();
      await node.metrics.scrape();
      if (i >= WARMUP) inProcess.push(performance.now() - started);
    }

    const participants = scenario.conferences * scenario.participantsEach;
    console.log(
      `${scenario.conferences} conference(s) x ${scenario.participantsEach} = ${participants} participants, ` +
        `${participants} audio producers, ${expectedConsumers} consumers, ${participants + scenario.conferences * scenario.subscribersEach} transports`,
    );
    console.log(`  scrape body            ${bytes} bytes, ${series} series`);
    console.log(`  GET /metrics (HTTP)    ${summary(http)}  (${iterations} scrapes)`);
    console.log(`  registry.metrics()     ${summary(inProcess)}`);
    console.log(`  stats cycle            ${summary(cycles)}  (${polled} objects polled per cycle)`);
  } finally {
    await node.stop();
  }
}

console.log(`node ${process.version}, ${iterations} scrapes after ${WARMUP} warm-up`);
for (const scenario of SCENARIOS) await run(scenario);
