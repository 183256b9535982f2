// The bounded loop that turns mediasoup's cumulative statistics into
// Prometheus counters. Every `intervalMs` it asks the live workers
// (getResourceUsage), transports, producers and consumers (getStats) for
// their totals, at most `concurrency` requests at a time and only within a
// per-cycle time budget; objects not reached in time are polled first in the
// next cycle, and so are objects beyond the per-cycle caps: `maxRequestsPerCycle`
// for transports and producers, `maxConsumerRequestsPerCycle` for consumers, whose
// number grows with the square of a room's size (the control plane's cost stays
// bounded; totals stay exact because mediasoup's counters are cumulative, only
// fresher or staler). Counters grow by the difference from the last value seen for
// the same object (and RTP stream), and that baseline is dropped when the
// object closes. The loop owns its timer and clears it in close().
//
// Why polling and not scrape-time collection: a scrape must never wait on
// worker IPC (a stuck worker would hang /metrics), and the cost per cycle is
// bounded by the budget regardless of the call load.

import type { Logger } from '../../common/lib/logger.ts';
import type { MetricDefinitions } from './definitions.ts';
import type { MediaDirection } from './constants.ts';
import type { StatsSource, WatchedRtpObject, WorkerTarget } from './types.ts';

/** Defaults of StatsPoller, also documented in src/server/metrics/README.md. */
export const STATS_POLLER_DEFAULTS = {
  intervalMs: 5000,
  concurrency: 8,
  maxBudgetMs: 2000,
  maxRequestsPerCycle: 500,
  maxConsumerRequestsPerCycle: 100,
} as const;

/** The live objects of one cycle. */
export interface PollTargets {
  readonly workers: readonly WorkerTarget[];
  readonly transports: readonly StatsSource[];
  readonly producers: readonly WatchedRtpObject[];
  readonly consumers: readonly WatchedRtpObject[];
}

/** Options of a StatsPoller. */
export interface StatsPollerOptions {
  /**
   * Period between the end of one cycle and the start of the next. Default
   * 5000 ms. Shorter gives fresher counters at the cost of more worker IPC.
   */
  readonly intervalMs?: number;
  /** Stats requests in flight at once. Default 8; more finishes sooner but bursts the worker channel. */
  readonly concurrency?: number;
  /**
   * Most transport and producer stats requests one cycle makes (the rest go first in the
   * next cycle). Default 500.
   */
  readonly maxRequestsPerCycle?: number;
  /**
   * Most consumer stats requests one cycle makes, rotating over every consumer. Default 100
   * (20 requests/s at the default interval): with stats polling off, our SFU's worker cost
   * per forwarded packet matched bare mediasoup's, and consumer getStats was most of the rest.
   */
  readonly maxConsumerRequestsPerCycle?: number;
  /**
   * Time budget of one cycle; requests not started by then wait for the next
   * cycle, and answers arriving after it are ignored (the next cycle's
   * cumulative totals include them). Default min(2000, intervalMs / 2) ms.
   */
  readonly budgetMs?: number;
  readonly targets: () => PollTargets;
  readonly metrics: Pick<
    MetricDefinitions,
    | 'workerCpuSeconds'
    | 'workerMaxRssBytes'
    | 'transportBytes'
    | 'rtpBytes'
    | 'rtpPackets'
    | 'rtpPacketsLost'
    | 'rtpNacks'
    | 'rtpPlis'
    | 'rtpFirs'
    | 'consumerScore'
    | 'statsPollDuration'
    | 'statsPollSkipped'
  >;
  readonly logger: Logger;
}

/** What one cycle did. */
export interface PollCycleResult {
  /** Requests answered within the budget and applied. */
  readonly polled: number;
  /** Requests not made (budget exhausted, or the previous one still pending). */
  readonly skipped: number;
  readonly durationMs: number;
}

/** Cumulative RTP stream totals, as mediasoup reports them. */
interface RtpTotals {
  byteCount: number;
  packetCount: number;
  packetsLost: number;
  nackCount: number;
  pliCount: number;
  firCount: number;
}

const RTP_FIELDS = ['byteCount', 'packetCount', 'packetsLost', 'nackCount', 'pliCount', 'firCount'] as const;

interface Task {
  /** Identity of the polled object, for the in-flight guard. */
  readonly key: string;
  /** Which rotation it belongs to: workers every cycle, transports and producers, consumers. */
  readonly group: 'worker' | 'object' | 'consumer';
  /** Makes the request; resolves to the function applying its answer. */
  readonly fetch: () => Promise<() => void>;
}

/** Polls mediasoup stats on a bounded schedule and feeds the counters. */
export class StatsPoller {
  readonly #options: StatsPollerOptions;
  readonly #intervalMs: number;
  readonly #concurrency: number;
  readonly #budgetMs: number;
  readonly #maxRequests: number;
  readonly #maxConsumerRequests: number;
  readonly #logger: Logger;
  /** Object id → RTP stream ssrc → last totals. */
  readonly #rtp = new Map<string, Map<number, RtpTotals>>();
  /** Transport id → last byte totals. */
  readonly #transportBytes = new Map<string, { in: number; out: number }>();
  /** Worker pid → last CPU totals (ms). */
  readonly #cpu = new Map<number, { user: number; system: number }>();
  readonly #inFlight = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<PollCycleResult> | undefined;
  #cursor = 0;
  #consumerCursor = 0;
  #started = false;
  #closed = false;

  constructor(options: StatsPollerOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? STATS_POLLER_DEFAULTS.intervalMs;
    this.#concurrency = options.concurrency ?? STATS_POLLER_DEFAULTS.concurrency;
    this.#budgetMs = options.budgetMs ?? Math.min(STATS_POLLER_DEFAULTS.maxBudgetMs, this.#intervalMs / 2);
    this.#maxRequests = options.maxRequestsPerCycle ?? STATS_POLLER_DEFAULTS.maxRequestsPerCycle;
    this.#maxConsumerRequests = options.maxConsumerRequestsPerCycle ?? STATS_POLLER_DEFAULTS.maxConsumerRequestsPerCycle;
    if (
      !(this.#intervalMs > 0) ||
      !Number.isInteger(this.#concurrency) ||
      this.#concurrency < 1 ||
      !(this.#budgetMs > 0) ||
      !Number.isInteger(this.#maxRequests) ||
      this.#maxRequests < 1 ||
      !Number.isInteger(this.#maxConsumerRequests) ||
      this.#maxConsumerRequests < 1
    ) {
      throw new TypeError(
        'StatsPoller needs intervalMs > 0, an integer concurrency >= 1, budgetMs > 0 and integer maxRequestsPerCycle and maxConsumerRequestsPerCycle >= 1',
      );
    }
    this.#logger = options.logger.child({ component: 'metrics' });
  }

  /** Starts the periodic loop (idempotent); the first cycle runs after one interval. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule();
  }

  /** Runs one cycle now (joining the running one, if any). */
  pollOnce(): Promise<PollCycleResult> {
    if (this.#closed) return Promise.resolve({ polled: 0, skipped: 0, durationMs: 0 });
    this.#running ??= this.#cycle().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Drops the baselines of a closed object. */
  forget(id: string): void {
    this.#rtp.delete(id);
    this.#transportBytes.delete(id);
  }

  /** Stops the loop and clears its timer. Idempotent; a running cycle finishes but applies nothing more. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.pollOnce().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#logger.warn('stats cycle failed', { error });
          this.#schedule();
        },
      );
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #cycle(): Promise<PollCycleResult> {
    const started = performance.now();
    const deadline = started + this.#budgetMs;
    const all = this.#tasks();
    // Workers (one request each) every cycle; transports and producers, then consumers, each
    // rotating so that those cut off by the budget or a per-cycle cap last time go first.
    const rotate = (group: Task['group'], cursor: number, cap: number): Task[] => {
      const list = all.filter((task) => task.group === group);
      const offset = list.length === 0 ? 0 : cursor % list.length;
      return [...list.slice(offset), ...list.slice(0, offset)].slice(0, cap);
    };
    const ordered = [
      ...all.filter((task) => task.group === 'worker'),
      ...rotate('object', this.#cursor, this.#maxRequests),
      ...rotate('consumer', this.#consumerCursor, this.#maxConsumerRequests),
    ];
    let next = 0;
    let polled = 0;
    let skipped = 0;
    let open = true;

    const runner = async (): Promise<void> => {
      while (open && next < ordered.length && performance.now() < deadline) {
        const task = ordered[next++]!;
        if (this.#inFlight.has(task.key)) {
          skipped++;
          continue;
        }
        this.#inFlight.add(task.key);
        try {
          const apply = await task.fetch();
          if (open && !this.#closed) {
            apply();
            polled++;
          }
        } catch (error) {
          // Objects closing between the snapshot and the request are normal.
          this.#logger.debug('stats request failed', { key: task.key, error });
        } finally {
          this.#inFlight.delete(task.key);
        }
      }
    };

    let budgetTimer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      budgetTimer = setTimeout(resolve, this.#budgetMs);
    });
    const runners = Array.from({ length: Math.min(this.#concurrency, ordered.length) }, runner);
    await Promise.race([Promise.all(runners), budget]);
    clearTimeout(budgetTimer);
    open = false;
    skipped += all.length - Math.min(next, ordered.length);
    const reached = ordered.slice(0, next);
    this.#cursor += reached.filter((task) => task.group === 'object').length;
    this.#consumerCursor += reached.filter((task) => task.group === 'consumer').length;
    const durationMs = performance.now() - started;
    const { metrics } = this.#options;
    metrics.statsPollDuration.observe(durationMs / 1000);
    if (skipped > 0) {
      metrics.statsPollSkipped.inc(skipped);
      this.#logger.debug('stats cycle over budget', { skipped, polled, budgetMs: this.#budgetMs });
    }
    return { polled, skipped, durationMs };
  }

  #tasks(): Task[] {
    const targets = this.#options.targets();
    const tasks: Task[] = [];
    const livePids = new Set<number>();
    for (const { slot, worker } of targets.workers) {
      if (worker.closed) continue;
      livePids.add(worker.pid);
      tasks.push({
        key: `worker:${worker.pid}`,
        group: 'worker',
        fetch: async () => {
          const usage = await worker.getResourceUsage();
          return () => this.#applyUsage(slot, worker.pid, usage.ru_utime, usage.ru_stime, usage.ru_maxrss);
        },
      });
    }
    for (const pid of this.#cpu.keys()) if (!livePids.has(pid)) this.#cpu.delete(pid);
    for (const transport of targets.transports) {
      if (transport.closed) continue;
      tasks.push({
        key: transport.id,
        group: 'object',
        fetch: async () => {
          const stats = await transport.getStats();
          return () => this.#applyTransport(transport, stats);
        },
      });
    }
    for (const [direction, objects] of [
      ['in', targets.producers],
      ['out', targets.consumers],
    ] as const) {
      for (const object of objects) {
        if (object.closed) continue;
        tasks.push({
          key: object.id,
          group: direction === 'in' ? 'object' : 'consumer',
          fetch: async () => {
            const stats = await object.getStats();
            return () => this.#applyRtp(object, direction, stats);
          },
        });
      }
    }
    return tasks;
  }

  #applyUsage(slot: number, pid: number, userMs: number, systemMs: number, maxRssKiB: number): void {
    const { metrics } = this.#options;
    const last = this.#cpu.get(pid) ?? { user: 0, system: 0 };
    const labels = { slot: String(slot) };
    if (userMs > last.user) metrics.workerCpuSeconds.inc({ ...labels, mode: 'user' }, (userMs - last.user) / 1000);
    if (systemMs > last.system) metrics.workerCpuSeconds.inc({ ...labels, mode: 'system' }, (systemMs - last.system) / 1000);
    this.#cpu.set(pid, { user: Math.max(userMs, last.user), system: Math.max(systemMs, last.system) });
    // Linux getrusage(2) reports ru_maxrss in KiB; mediasoup passes it through.
    metrics.workerMaxRssBytes.set(labels, maxRssKiB * 1024);
  }

  #applyTransport(transport: StatsSource, stats: readonly unknown[]): void {
    // An answer arriving after close must not recreate the dropped baseline.
    if (transport.closed) return;
    const id = transport.id;
    const entry = stats[0] as { bytesReceived?: unknown; bytesSent?: unknown } | undefined;
    if (!entry || typeof entry.bytesReceived !== 'number' || typeof entry.bytesSent !== 'number') return;
    const last = this.#transportBytes.get(id) ?? { in: 0, out: 0 };
    const { transportBytes } = this.#options.metrics;
    if (entry.bytesReceived > last.in) transportBytes.inc({ direction: 'in' }, entry.bytesReceived - last.in);
    if (entry.bytesSent > last.out) transportBytes.inc({ direction: 'out' }, entry.bytesSent - last.out);
    this.#transportBytes.set(id, { in: Math.max(entry.bytesReceived, last.in), out: Math.max(entry.bytesSent, last.out) });
  }

  #applyRtp(object: WatchedRtpObject, direction: MediaDirection, stats: readonly unknown[]): void {
    if (object.closed) return;
    // Producers report one 'inbound-rtp' entry per received stream (simulcast
    // layer); consumers an 'outbound-rtp' entry plus their producer's entries.
    const wanted = direction === 'in' ? 'inbound-rtp' : 'outbound-rtp';
    const { metrics } = this.#options;
    const labels = { direction, kind: object.kind };
    const streams = this.#rtp.get(object.id) ?? new Map<number, RtpTotals>();
    this.#rtp.set(object.id, streams);
    for (const raw of stats) {
      const stat = raw as Partial<Record<(typeof RTP_FIELDS)[number] | 'ssrc' | 'score', unknown>> & { type?: unknown };
      if (stat.type !== wanted || typeof stat.ssrc !== 'number') continue;
      const last = streams.get(stat.ssrc) ?? { byteCount: 0, packetCount: 0, packetsLost: 0, nackCount: 0, pliCount: 0, firCount: 0 };
      const next = { ...last };
      for (const field of RTP_FIELDS) {
        const value = stat[field];
        if (typeof value !== 'number' || !(value > last[field])) continue;
        const delta = value - last[field];
        next[field] = value;
        switch (field) {
          case 'byteCount':
            metrics.rtpBytes.inc(labels, delta);
            break;
          case 'packetCount':
            metrics.rtpPackets.inc(labels, delta);
            break;
          case 'packetsLost':
            metrics.rtpPacketsLost.inc(labels, delta);
            break;
          case 'nackCount':
            metrics.rtpNacks.inc(labels, delta);
            break;
          case 'pliCount':
            metrics.rtpPlis.inc(labels, delta);
            break;
          case 'firCount':
            metrics.rtpFirs.inc(labels, delta);
            break;
        }
      }
      // A lower total (RTCP loss counts can shrink on duplicates) keeps the higher baseline: never count twice.
      streams.set(stat.ssrc, next);
      if (direction === 'out' && typeof stat.score === 'number') metrics.consumerScore.observe({ kind: object.kind }, stat.score);
    }
  }
}
