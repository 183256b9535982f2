// CPU load of each mediasoup worker, for admission control. A worker is one
// single-threaded process, so its load is the share of one core it used: read
// from /proc/PID/stat (utime + stime) every `intervalMs`, smoothed with an
// exponential moving average. Reading /proc asks nothing of the worker, so a
// wedged worker cannot stall the monitor. Where /proc is unreadable (not Linux,
// or the process is gone) the load is unknown and never refuses anyone.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../common/lib/logger.ts';

/** Reads a process's CPU seconds (user + system), or undefined. Injected by tests. */
export type CpuReader = (pid: number) => number | undefined;

/** What the monitor needs of the pool: the live slots and their worker pids. */
export interface LoadMonitoredPool {
  readonly slots: ReadonlyArray<{ readonly index: number; readonly worker: { readonly pid: number } }>;
}

/** Options of WorkerLoadMonitor. */
export interface WorkerLoadMonitorOptions {
  readonly pool: LoadMonitoredPool;
  /** Load (share of one core, 0–1) at or above which a worker counts as overloaded; 0 = never. */
  readonly maxLoad: number;
  /** Sampling period. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Weight of the newest sample in the moving average. Default 0.5 (about the last 2–3 samples). */
  readonly smoothing?: number;
  readonly logger: Logger;
  /** Default: /proc/PID/stat. */
  readonly readCpu?: CpuReader;
  /** Called after each sample with every slot's load (metrics). */
  readonly onSample?: (loads: ReadonlyMap<number, number>) => void;
}

let ticksPerSecond: number | undefined;

/** utime + stime of /proc/PID/stat in seconds; undefined when unreadable. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (ticksPerSecond === undefined) {
      try {
        ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim()) || 100;
      } catch {
        ticksPerSecond = 100; // Linux's USER_HZ on every common architecture
      }
    }
    const seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

interface SlotSample {
  pid: number;
  cpuSeconds: number;
  atMs: number;
  load: number | undefined;
}

/** Samples worker CPU and says which workers are overloaded. */
export class WorkerLoadMonitor {
  readonly #options: WorkerLoadMonitorOptions;
  readonly #readCpu: CpuReader;
  readonly #slots = new Map<number, SlotSample>();
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #overloaded = new Set<number>();

  constructor(options: WorkerLoadMonitorOptions) {
    this.#options = options;
    this.#readCpu = options.readCpu ?? procCpuSeconds;
    this.#logger = options.logger.child({ component: 'media' });
  }

  /** Starts sampling (idempotent); the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#options.intervalMs ?? 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The threshold (0 = admission control off). */
  get maxLoad(): number {
    return this.#options.maxLoad;
  }

  /** Smoothed load of a slot's worker (share of one core), undefined before two samples or when unreadable. */
  load(slotIndex: number): number | undefined {
    return this.#slots.get(slotIndex)?.load;
  }

  /** Whether the slot's worker is at or above maxLoad. Unknown load is never overloaded. */
  overloaded(slotIndex: number): boolean {
    const load = this.load(slotIndex);
    return this.#options.maxLoad > 0 && load !== undefined && load >= this.#options.maxLoad;
  }

  /** Whether every live worker is overloaded (no new conference can be placed). */
  allOverloaded(): boolean {
    const slots = this.#options.pool.slots;
    return slots.length > 0 && slots.every((slot) => this.overloaded(slot.index));
  }

  /** Takes one sample of every live worker (the timer calls this; tests call it directly). */
  sample(nowMs = performance.now()): void {
    const smoothing = this.#options.smoothing ?? 0.5;
    const live = new Set<number>();
    for (const slot of this.#options.pool.slots) {
      live.add(slot.index);
      const cpuSeconds = this.#readCpu(slot.worker.pid);
      const previous = this.#slots.get(slot.index);
      if (cpuSeconds === undefined) {
        this.#slots.delete(slot.index);
        continue;
      }
      if (!previous || previous.pid !== slot.worker.pid || nowMs <= previous.atMs) {
        // First sample of this worker (or a replacement in the slot): no rate yet.
        this.#slots.set(slot.index, { pid: slot.worker.pid, cpuSeconds, atMs: nowMs, load: undefined });
        continue;
      }
      const instant = Math.max(0, (cpuSeconds - previous.cpuSeconds) / ((nowMs - previous.atMs) / 1000));
      const load = previous.load === undefined ? instant : smoothing * instant + (1 - smoothing) * previous.load;
      this.#slots.set(slot.index, { pid: slot.worker.pid, cpuSeconds, atMs: nowMs, load });
    }
    for (const index of [...this.#slots.keys()]) if (!live.has(index)) this.#slots.delete(index);
    const loads = new Map<number, number>();
    for (const [index, sample] of this.#slots) if (sample.load !== undefined) loads.set(index, sample.load);
    this.#logTransitions();
    this.#options.onSample?.(loads);
  }

  #logTransitions(): void {
    const now = new Set<number>();
    for (const index of this.#slots.keys()) if (this.overloaded(index)) now.add(index);
    for (const index of now) {
      if (!this.#overloaded.has(index)) {
        this.#logger.warn('mediasoup worker overloaded; refusing new joins on it', { slot: index, load: this.load(index), maxLoad: this.#options.maxLoad });
      }
    }
    for (const index of this.#overloaded) {
      if (!now.has(index)) this.#logger.info('mediasoup worker load back below the limit', { slot: index, load: this.load(index) });
    }
    this.#overloaded = now;
  }
}
