// One bounded load run against one target process (our SFU or the bare-mediasoup
// baseline): fork the target, join synthetic participants (with a ramp, spread over
// rooms), send media on one 20 ms clock, sample once a second (packets sent, forwarded
// and received per second, loss, worker and Node CPU from /proc), measure a steady-state
// window after every join settled, then stop the senders, let the last packets land,
// account for every packet, leave and stop the target. Never asserts: the result
// carries the numbers and the caller judges them.

import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodeDataChannel from 'node-datachannel';
import { ConnectionClosedError, SfuClientError } from '../../src/browser/client/errors.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { Participant, type JoinTimings } from './Participant.ts';
import { cpuSeconds, rssBytes } from './procStat.ts';
import type { TargetReady } from './target.ts';

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
  /** mediasoup workers of the SFU target (the baseline has one). */
  readonly workers: number;
  /** media.maxWorkerLoad of the SFU target (admission control); undefined = its default. */
  readonly maxWorkerLoad?: number;
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
}

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
}

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
}

/** Steady-state window figures. */
export interface LoadWindow {
  readonly seconds: number;
  readonly sentPackets: number;
  readonly forwardedPackets: number;
  readonly receivedPackets: number;
  readonly lossPercent: number;
  readonly workerCpuSeconds: number;
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
}

const TICK_MS = 20;
/** Most 20 ms ticks sent at once when the timer fell behind. */
const MAX_CATCH_UP_TICKS = 5;

/** pth percentile (nearest rank) of values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Totals {
  sent: number;
  forwarded: number;
  received: number;
}

/** Runs the target as a child process and talks to it over IPC. */
class TargetProcess {
  readonly child: ChildProcess;
  readonly stderrTail: string[] = [];
  ready: TargetReady | undefined;

  constructor(options: LoadRunOptions, basePort: number) {
    const script = fileURLToPath(new URL('./target.ts', import.meta.url));
    const args = [options.target, '--workers', String(options.workers), '--base-port', String(basePort)];
    if (options.maxWorkerLoad !== undefined) args.push('--max-worker-load', String(options.maxWorkerLoad));
    if (options.sfuStatsIntervalMs !== undefined) args.push('--stats-interval-ms', String(options.sfuStatsIntervalMs));
    const env = { ...process.env };
    const execArgv = ['--expose-gc'];
    // LOADTEST_TARGET_CPU_PROF=DIR: V8 CPU profile of the target process (where its control-plane time goes).
    const profileDir = process.env['LOADTEST_TARGET_CPU_PROF'];
    if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
    delete env['LOADTEST_MEDIASOUP_DIR'];
    if (options.mediasoupDir) {
      env['LOADTEST_MEDIASOUP_DIR'] = options.mediasoupDir;
      delete env['MEDIASOUP_WORKER_BIN']; // that package's own worker
      execArgv.push('--import', fileURLToPath(new URL('./mediasoupHook.ts', import.meta.url)));
    }
    this.child = fork(script, args, { execArgv, env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const log = options.targetLogFile ? createWriteStream(options.targetLogFile, { flags: 'a' }) : undefined;
    this.child.stderr?.on('data', (chunk: Buffer) => {
      log?.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.stderrTail.push(line.slice(0, 300));
        if (this.stderrTail.length > 20) this.stderrTail.shift();
      }
    });
    this.child.on('exit', () => log?.end());
  }

  waitReady(timeoutMs: number): Promise<TargetReady> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`target not ready within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        reject(new Error(`${error.message}; target stderr: ${this.stderrTail.join(' | ')}`));
      };
      const onMessage = (message: unknown): void => {
        if (typeof message === 'object' && message !== null && (message as { ready?: unknown }).ready === true) {
          clearTimeout(timer);
          this.child.off('message', onMessage);
          this.ready = message as TargetReady;
          resolve(this.ready);
        }
      };
      this.child.on('message', onMessage);
      this.child.once('exit', (code) => fail(new Error(`target exited with ${code}`)));
    });
  }

  memory(): Promise<NodeJS.MemoryUsage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('target did not answer a memory request')), 10_000);
      const onMessage = (message: unknown): void => {
        const memory = (message as { memory?: NodeJS.MemoryUsage } | null)?.memory;
        if (!memory) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(memory);
      };
      this.child.on('message', onMessage);
      this.child.send('memory');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function errorCode(error: unknown): string {
  if (error instanceof ConnectionClosedError) return `close-${error.closeCode}`;
  if (error instanceof SfuClientError) return error.code;
  return 'error';
}

/** Runs one bounded load run. */
export async function runLoad(options: LoadRunOptions): Promise<LoadRunResult> {
  nodeDataChannel.initLogger('Error', () => undefined);
  const label = options.label ?? options.target;
  const startedAt = new Date().toISOString();
  const basePort = await freeMediaBasePort(Math.max(1, options.workers));
  const target = new TargetProcess(options, basePort);
  const errors: string[] = [];
  const participants: Participant[] = [];
  const active: Participant[] = [];
  const producerSent = new Map<string, () => number>();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  let ticker: NodeJS.Timeout | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const ready = await target.waitReady(30_000);
    const workerCpu = (): number => ready.workerPids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
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
      for (const participant of participants) {
        const s = participant.sent;
        sent += s.audio + s.video;
        for (const sub of participant.subscriptions.values()) {
          if (sub.firstSequence < 0) continue;
          forwarded += sub.maxSequence - sub.firstSequence + 1;
          received += sub.received;
        }
      }
      return { sent, forwarded, received };
    };
    const expectedNow = (): number => {
      // What publishers sent after each subscription's first packet, so far.
      let expected = 0;
      for (const participant of participants) {
        for (const sub of participant.subscriptions.values()) {
          const sentOf = producerSent.get(sub.producerId);
          if (sub.firstCounter < 0 || !sentOf) continue;
          expected += Math.max(0, Math.min(sentOf(), sub.lastCounter + 1) - sub.firstCounter);
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
    const joinTasks: Array<Promise<void>> = [];
    for (let i = 0; i < options.participants; i++) {
      const room = i % options.rooms;
      const indexInRoom = Math.floor(i / options.rooms);
      const participant = new Participant(
        {
          wsUrl: ready.wsUrl,
          conference: `load-${room}`,
          participantId: `p${i}`,
          video: options.video && indexInRoom < publishers,
          audio: options.audio && indexInRoom < publishers,
          videoBitrate: options.videoBitrate,
          subscribe: indexInRoom >= perRoom - subscribers,
        },
        now,
      );
      participants.push(participant);
      const task = participant.start().then(
        () => {
          active.push(participant);
          if (participant.producerIds.audio) producerSent.set(participant.producerIds.audio, () => participant.sent.audio);
          if (participant.producerIds.video) producerSent.set(participant.producerIds.video, () => participant.sent.video);
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
    await sleep(options.warmupS * 1000);

    const countNotifications = (): Map<string, number> => {
      const counts = new Map<string, number>();
      for (const participant of participants) for (const [method, n] of participant.notifications) counts.set(method, (counts.get(method) ?? 0) + n);
      return counts;
    };
    const notificationsBefore = countNotifications();
    const a = { at: now(), totals: totals(), expected: expectedNow(), worker: workerCpu(), node: nodeCpu(), generator: generatorCpu() };
    await sleep(options.durationS * 1000);
    const windowNotifications: Record<string, number> = {};
    for (const [method, n] of countNotifications()) if (n - (notificationsBefore.get(method) ?? 0) > 0) windowNotifications[method] = n - (notificationsBefore.get(method) ?? 0);
    const b = { at: now(), totals: totals(), expected: expectedNow(), worker: workerCpu(), node: nodeCpu(), generator: generatorCpu() };
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
      nodeCpuSeconds,
      generatorCpuSeconds: b.generator - a.generator,
      workerUsPerPacket: forwardedPackets > 0 ? (workerCpuSeconds * 1e6) / forwardedPackets : Number.NaN,
      controlPlaneShare: workerCpuSeconds > 0 ? nodeCpuSeconds / workerCpuSeconds : Number.NaN,
      forwardedPps: forwardedPackets / seconds,
    };

    const accounting = account(participants, producerSent);
    const joinedList = active.map((p) => p.timings);
    const joins = joinStats(options.participants, joinedList, refusals);
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
    };
  } finally {
    if (ticker) clearInterval(ticker);
    if (sampler) clearInterval(sampler);
    await Promise.all(participants.map((p) => p.close().catch((error: unknown) => errors.push(String(error)))));
    await target.stop();
  }
}

function account(participants: readonly Participant[], producerSent: ReadonlyMap<string, () => number>): LoadAccounting {
  let sent = 0;
  let expected = 0;
  let forwarded = 0;
  let received = 0;
  let subscriptions = 0;
  let silent = 0;
  for (const participant of participants) {
    const s = participant.sent;
    sent += s.audio + s.video;
    for (const sub of participant.subscriptions.values()) {
      subscriptions++;
      const sentOf = producerSent.get(sub.producerId);
      if (sub.firstSequence < 0 || sub.firstCounter < 0 || !sentOf) {
        silent++;
        continue;
      }
      expected += sentOf() - sub.firstCounter;
      forwarded += sub.maxSequence - sub.firstSequence + 1;
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
  };
}

function joinStats(attempted: number, timings: readonly JoinTimings[], refusals: Record<string, number>): JoinStats {
  const joinedMs = timings.filter((t) => t.joinedMs !== undefined).map((t) => t.joinedMs! - t.startedMs);
  const flowingMs = timings.filter((t) => t.allFlowingMs !== undefined).map((t) => t.allFlowingMs! - t.startedMs);
  return {
    attempted,
    joined: timings.length,
    refusals,
    joinedP50Ms: percentile(joinedMs, 50),
    joinedP95Ms: percentile(joinedMs, 95),
    flowingP50Ms: percentile(flowingMs, 50),
    flowingP95Ms: percentile(flowingMs, 95),
    neverFlowing: timings.length - flowingMs.length,
  };
}
