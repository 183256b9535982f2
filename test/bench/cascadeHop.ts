// Bench: what a hop between two nodes (the cascade: an SRTP pipe transport pair, set up over
// Redis) costs, in one-way latency and in worker CPU. A real redis-server and two SfuNodes in
// this process (the load generator's startSfuNodes: auth mode none, one mediasoup worker
// each, cluster mode); synthetic WebRTC
// participants from the load generator (node-datachannel: ICE, DTLS-SRTP; every packet
// carries its send time on this process' clock).
//
// 1. Latency: one publisher and one subscriber on node 1, one subscriber on node 2, at the
//    same time. Added one-way latency = mean delay at the node-2 subscriber − mean delay at
//    the node-1 subscriber (same packets, same clock), per kind.
// 2. CPU per piped packet: --publishers publishers on node 1 and as many subscribers, first
//    all on node 1 (one worker forwards everything), then all on node 2 (node 1 pipes each
//    packet once, node 2 fans it out). Worker CPU (utime + stime of both workers, from
//    /proc) per second, minus the one-node run's, divided by the packets crossing the pipe per
//    second = the worker CPU one packet's hop costs (both ends: SRTP out and in, two UDP
//    passes).
// Reports, never asserts: the machine is shared and the numbers are noisy.
//
// Run: node test/bench/cascadeHop.ts [--seconds 10] [--publishers 4] [--bitrate 800000]   (Node 24; Debian redis-server)

import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { SfuNode } from '../../src/server/SfuNode.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { spawnSync } from 'node:child_process';
import { Participant } from '../load/Participant.ts';
import { startSfuNodes } from '../load/sfuNodes.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const seconds = option('--seconds', 10);
const publishers = Math.round(option('--publishers', 4));
const bitrate = option('--bitrate', 800_000);
const CLOCK_TICKS_PER_SECOND = 100;
const origin = performance.now();
const now = (): number => performance.now() - origin;

if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.log('redis-server is not installed (apt-get install redis-server): skipped');
  process.exit(0);
}

const started = await startSfuNodes({
  nodes: 2,
  workers: 1,
  basePort: await freeMediaBasePort(2),
  logger: createLogger({ level: 'error', sink: (line) => process.stderr.write(`${line}\n`) }),
});
const nodes: SfuNode[] = started.nodes.map(({ node }) => node);
const active: Participant[] = [];
let tick = 0;
const ticker = setInterval(() => {
  tick++;
  for (const participant of active) participant.tick(tick, now());
}, 20);

function workerCpuSeconds(node: SfuNode): number {
  let total = 0;
  for (const slot of node.pool.slots) {
    const fields = readFileSync(`/proc/${slot.worker.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  }
  return total;
}

async function join(node: SfuNode, room: string, id: string, publish: boolean): Promise<Participant> {
  const participant = new Participant(
    { wsUrl: `ws://127.0.0.1:${node.port}/ws`, conference: room, participantId: id, video: publish, audio: publish, videoBitrate: bitrate, subscribe: !publish, requestTimeoutMs: 15_000 },
    now,
  );
  await participant.start();
  active.push(participant);
  return participant;
}

async function leave(participants: Participant[]): Promise<void> {
  for (const participant of participants) {
    active.splice(active.indexOf(participant), 1);
    await participant.close();
  }
}

/** Mean one-way delay (ms) and packets a subscriber received, by kind. */
function delays(subscriber: Participant): Record<'audio' | 'video', { meanMs: number; packets: number }> {
  const sums = { audio: { sum: 0, count: 0, packets: 0 }, video: { sum: 0, count: 0, packets: 0 } };
  for (const counters of subscriber.subscriptions.values()) {
    sums[counters.kind].sum += counters.delaySumMs;
    sums[counters.kind].count += counters.delayCount;
    sums[counters.kind].packets += counters.received;
  }
  const mean = (k: 'audio' | 'video') => ({ meanMs: sums[k].count > 0 ? sums[k].sum / sums[k].count : NaN, packets: sums[k].packets });
  return { audio: mean('audio'), video: mean('video') };
}

const received = (subscribers: Participant[]): number => subscribers.reduce((sum, s) => sum + [...s.subscriptions.values()].reduce((n, c) => n + c.received, 0), 0);
const sent = (senders: Participant[]): number => senders.reduce((sum, p) => sum + p.sent.audio + p.sent.video, 0);

/** Runs `seconds` of steady load after everything flows; returns worker CPU and packet rates. */
async function measure(senders: Participant[], subscribers: Participant[], expectedStreams: number) {
  await waitFor(() => subscribers.every((s) => [...s.subscriptions.values()].filter((c) => c.received > 0).length >= expectedStreams) || undefined, {
    timeoutMs: 30_000,
    description: 'every subscriber receives every stream',
  });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const cpu0 = nodes.reduce((sum, node) => sum + workerCpuSeconds(node), 0);
  const in0 = sent(senders);
  const out0 = received(subscribers);
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = (nodes.reduce((sum, node) => sum + workerCpuSeconds(node), 0) - cpu0) / elapsedS;
  return { cpuShare: cpu, sentPps: (sent(senders) - in0) / elapsedS, receivedPps: (received(subscribers) - out0) / elapsedS };
}

try {
  console.log(`cascade hop bench: ${seconds} s per run, load average ${loadavg()[0]!.toFixed(2)}`);

  // 1. Latency.
  const publisher = await join(nodes[0]!, '!latency:bench', 'p', true);
  const near = await join(nodes[0]!, '!latency:bench', 'near', false);
  const far = await join(nodes[1]!, '!latency:bench', 'far', false);
  await measure([publisher], [near, far], 2);
  const [n, f] = [delays(near), delays(far)];
  console.log('one-way delay, publisher on node 1 (mean over the run, ms):');
  for (const kind of ['audio', 'video'] as const) {
    console.log(
      `  ${kind}: same node ${n[kind].meanMs.toFixed(2)} (${n[kind].packets} packets), across nodes ${f[kind].meanMs.toFixed(2)} (${f[kind].packets} packets): added ${(f[kind].meanMs - n[kind].meanMs).toFixed(2)} ms`,
    );
  }
  await leave([publisher, near, far]);

  // 2. CPU per piped packet.
  const runs: Array<{ label: string; cpuShare: number; sentPps: number; receivedPps: number }> = [];
  for (const [label, subscriberNode] of [['all on node 1', 0], ['subscribers on node 2', 1]] as const) {
    const room = `!cpu${subscriberNode}:bench`;
    const senders = [];
    for (let i = 0; i < publishers; i++) senders.push(await join(nodes[0]!, room, `pub${i}`, true));
    const subscribers = [];
    for (let i = 0; i < publishers; i++) subscribers.push(await join(nodes[subscriberNode]!, room, `sub${i}`, false));
    const result = await measure(senders, subscribers, publishers * 2);
    runs.push({ label, ...result });
    console.log(
      `  ${label}: worker CPU ${(result.cpuShare * 100).toFixed(1)} % of a core, ${Math.round(result.sentPps)} packets/s published, ${Math.round(result.receivedPps)} packets/s received`,
    );
    await leave([...subscribers, ...senders]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  const [single, split] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const extraUs = ((split.cpuShare - single.cpuShare) * 1e6) / split.sentPps;
  const perForwardedUs = (single.cpuShare * 1e6) / single.receivedPps;
  console.log(
    `pipe hop between nodes: ${extraUs.toFixed(2)} µs of worker CPU per packet crossing (both nodes together), against ${perForwardedUs.toFixed(2)} µs per forwarded packet on one node; load average ${loadavg()[0]!.toFixed(2)}`,
  );
} finally {
  clearInterval(ticker);
  for (const participant of active) await participant.close().catch(() => undefined);
  await started.stop();
}
