// The pool of mediasoup workers: one per core by default, each with one
// WebRtcServer (one UDP + one TCP port: basePort + slot index). A dead worker
// is replaced in the same slot (same ports). Conferences notice the loss of
// their router themselves and ask createRouter() for a new one, which places
// it on the least-loaded live worker (or waits, bounded, for a replacement).
//
// Load is tracked locally from mediasoup's observer chain (routers and
// consumers per slot), never by asking the workers: one stopped or wedged
// worker must not stall conference creation node-wide. Every worker request
// made here has a deadline (withMediaTimeout); a worker that misses one is
// "suspect" and skipped when placing routers until a background probe gets an
// answer from it again.

import mediasoup from 'mediasoup';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { MEDIA_CODECS } from './codecs.ts';
import { DEFAULT_MEDIA_REQUEST_TIMEOUT_MS, MediaTimeoutError, withMediaTimeout } from './timeout.ts';
import type { Router, WebRtcServer, Worker } from './types.ts';
import { keepWorkerThroughSignals } from './workerSignals.ts';

/** Options of WorkerPool.create(). */
export interface WorkerPoolOptions {
  /** Number of workers (>= 1). */
  numWorkers: number;
  /** IP the WebRtcServers bind. */
  listenIp: string;
  /** Address put into ICE candidates; empty = listenIp. */
  announcedAddress: string;
  /** Slot i listens on basePort + i (UDP and TCP). */
  basePort: number;
  /** mediasoup worker log level. */
  workerLogLevel: 'debug' | 'warn' | 'error' | 'none';
  logger: Logger;
  /** Deadline of each worker request made by the pool (and of RouterLease users). Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Consumers one worker may carry; reserveConsumer() refuses beyond it. 0 = unlimited. Default 0. */
  maxConsumersPerWorker?: number;
  /** How long createRouter() waits for a replacement worker when none is live. Default 10 000 ms. */
  workerWaitMs?: number;
  /** Period of the probe that clears a suspect (timed-out) worker. Default 5000 ms. */
  suspectProbeIntervalMs?: number;
}

/** One worker slot: the live worker and its WebRtcServer. */
export interface WorkerSlot {
  readonly index: number;
  readonly worker: Worker;
  readonly webRtcServer: WebRtcServer;
  /** Port used for UDP and TCP. */
  readonly port: number;
}

/** Locally tracked load of one live slot. */
export interface SlotLoad {
  readonly routers: number;
  readonly consumers: number;
  /** Missed a request deadline and has not answered a probe since. */
  readonly suspect: boolean;
}

/** A router allocated from the pool, with the server its transports use. */
export interface RouterLease {
  readonly router: Router;
  readonly webRtcServer: WebRtcServer;
  readonly slotIndex: number;
  /** Deadline for requests to this router's worker (media.requestTimeoutMs). */
  readonly requestTimeoutMs: number;
  /**
   * Reserves room for one consumer on this worker (maxConsumersPerWorker).
   * Returns a release function to call once the consumer exists or creation
   * failed (the observer chain counts the real consumer), or undefined when
   * the worker is full.
   */
  reserveConsumer(): (() => void) | undefined;
}

export type WorkerPoolEvents = {
  /** A worker died; `slot` is its live replacement. */
  workerReplaced: [slot: WorkerSlot, deadPid: number];
  /** A worker died and could not be replaced. */
  workerLost: [slotIndex: number, error: unknown];
};

/** Observer events for metrics (deaths, starts). */
export type WorkerPoolObserverEvents = {
  workerStarted: [slot: WorkerSlot];
  /** A worker process died: while running, or while starting (pid 0 when unknown). */
  workerDied: [slotIndex: number, pid: number];
};

interface SlotState {
  slot: WorkerSlot;
  routers: number;
  consumers: number;
  reserved: number;
  suspect: boolean;
  probe: NodeJS.Timeout | undefined;
}

const REPLACE_ATTEMPTS = 5;

/** Lifecycle of a pool of mediasoup workers. */
export class WorkerPool extends TypedEmitter<WorkerPoolEvents> {
  readonly observer = new TypedEmitter<WorkerPoolObserverEvents>();
  readonly #states: (SlotState | undefined)[];
  readonly #replacing = new Set<number>();
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;
  readonly #requestTimeoutMs: number;
  readonly #waiters = new Set<() => void>();
  #closed = false;
  #nextSlot = 0;

  /** Starts every worker and its WebRtcServer; rejects (closing what started) if any fails. */
  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 1) {
      throw new TypeError('numWorkers must be a positive integer');
    }
    const pool = new WorkerPool(options);
    try {
      for (let index = 0; index < options.numWorkers; index++) {
        await pool.#startSlot(index);
      }
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  private constructor(options: WorkerPoolOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger.child({ component: 'media' });
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_MEDIA_REQUEST_TIMEOUT_MS;
    this.#states = new Array<SlotState | undefined>(options.numWorkers).fill(undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live slots (a slot being replaced is absent). */
  get slots(): readonly WorkerSlot[] {
    return this.#live().map((state) => state.slot);
  }

  /** Locally tracked load of a live slot (undefined while it is down). */
  load(slotIndex: number): SlotLoad | undefined {
    const state = this.#states[slotIndex];
    if (!state) return undefined;
    return { routers: state.routers, consumers: state.consumers, suspect: state.suspect };
  }

  /**
   * Creates a router with our codecs on worker `slotIndex` when it is live,
   * else on the least-loaded live worker (round-robin on ties, suspect workers
   * last). A worker that misses the deadline becomes suspect and the next one
   * is tried. With no live worker but a replacement starting, waits up to
   * workerWaitMs for it.
   */
  async createRouter(slotIndex?: number): Promise<RouterLease> {
    if (this.#closed) throw new InvalidStateError('worker pool is closed');
    await this.#waitForLiveSlot();
    const tried = new Set<number>();
    let lastError: unknown;
    let wanted = slotIndex === undefined ? undefined : this.#live().find((state) => state.slot.index === slotIndex);
    for (;;) {
      const state = wanted ?? this.#pickSlot(tried);
      wanted = undefined;
      if (!state) break;
      tried.add(state.slot.index);
      const { worker, webRtcServer, index } = state.slot;
      try {
        const router = await withMediaTimeout(
          'worker.createRouter',
          worker.createRouter({ mediaCodecs: MEDIA_CODECS }),
          this.#requestTimeoutMs,
          (late) => late.close(),
        );
        return {
          router,
          webRtcServer,
          slotIndex: index,
          requestTimeoutMs: this.#requestTimeoutMs,
          reserveConsumer: () => this.#reserveConsumer(state),
        };
      } catch (error) {
        lastError = error;
        if (error instanceof MediaTimeoutError) this.#markSuspect(state);
        this.#logger.warn('router creation failed; trying another worker', { slot: index, error });
      }
    }
    throw lastError ?? new InvalidStateError('no live mediasoup worker');
  }

  /** Kills every worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const state of this.#states) {
      if (!state) continue;
      if (state.probe) clearTimeout(state.probe);
      state.slot.worker.close();
    }
    for (const wake of [...this.#waiters]) wake();
    this.removeAllListeners();
  }

  #live(): SlotState[] {
    return this.#states.filter((state): state is SlotState => state !== undefined && !state.slot.worker.closed);
  }

  async #waitForLiveSlot(): Promise<void> {
    if (this.#live().length > 0 || this.#replacing.size === 0) return;
    const waitMs = this.#options.workerWaitMs ?? 10_000;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        if (this.#live().length > 0 || this.#replacing.size === 0 || this.#closed) done();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#waiters.add(wake);
    });
    if (this.#closed) throw new InvalidStateError('worker pool is closed');
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #pickSlot(exclude: ReadonlySet<number>): SlotState | undefined {
    const candidates = this.#live().filter((state) => !exclude.has(state.slot.index));
    if (candidates.length === 0) return undefined;
    const healthy = candidates.filter((state) => !state.suspect);
    const pool = healthy.length > 0 ? healthy : candidates;
    const minLoad = Math.min(...pool.map((state) => state.routers));
    const count = this.#states.length;
    for (let step = 0; step < count; step++) {
      const index = (this.#nextSlot + step) % count;
      const state = pool.find((candidate) => candidate.slot.index === index && candidate.routers === minLoad);
      if (state) {
        this.#nextSlot = (index + 1) % count;
        return state;
      }
    }
    return pool[0];
  }

  #reserveConsumer(state: SlotState): (() => void) | undefined {
    const max = this.#options.maxConsumersPerWorker ?? 0;
    if (max > 0 && state.consumers + state.reserved >= max) return undefined;
    state.reserved++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.reserved--;
    };
  }

  #markSuspect(state: SlotState): void {
    if (state.suspect || this.#closed) return;
    state.suspect = true;
    this.#logger.warn('mediasoup worker missed a request deadline; placing routers elsewhere until it answers', {
      slot: state.slot.index,
      workerPid: state.slot.worker.pid,
    });
    const probe = (): void => {
      state.probe = setTimeout(() => {
        state.probe = undefined;
        if (this.#closed || state.slot.worker.closed || this.#states[state.slot.index] !== state) return;
        withMediaTimeout('worker.getResourceUsage', state.slot.worker.getResourceUsage(), this.#requestTimeoutMs).then(
          () => {
            state.suspect = false;
            this.#logger.info('suspect mediasoup worker answers again', { slot: state.slot.index });
          },
          (error: unknown) => {
            this.#logger.debug('suspect mediasoup worker still silent', { slot: state.slot.index, error });
            probe();
          },
        );
      }, this.#options.suspectProbeIntervalMs ?? 5000);
      state.probe.unref();
    };
    probe();
  }

  /** Counts routers and consumers of a worker from mediasoup's observer chain. */
  #trackLoad(state: SlotState): void {
    state.slot.worker.observer.on('newrouter', (router) => {
      state.routers++;
      router.observer.once('close', () => state.routers--);
      router.observer.on('newtransport', (transport) => {
        transport.observer.on('newconsumer', (consumer) => {
          state.consumers++;
          consumer.observer.once('close', () => state.consumers--);
        });
      });
    });
  }

  async #startSlot(index: number): Promise<WorkerSlot> {
    const port = this.#options.basePort + index;
    let worker: Worker;
    try {
      worker = await mediasoup.createWorker({
        logLevel: this.#options.workerLogLevel,
        logTags: ['info', 'ice', 'dtls', 'rtp', 'srtp', 'rtcp', 'simulcast', 'svc'],
      });
    } catch (error) {
      // The process exited before it reported running: a death during start.
      const pid = /\[pid:(\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
      this.observer.safeEmit('workerDied', index, pid ? Number(pid) : 0);
      throw new Error(`mediasoup worker ${index} failed to start`, { cause: error });
    }
    // The pool closes its workers itself, after a drain (see workerSignals.ts).
    keepWorkerThroughSignals(worker);
    const log = this.#logger.child({ workerPid: worker.pid, slot: index });
    // From here every death of this process is seen, the start included.
    let started = false;
    worker.on('died', (error) => {
      this.observer.safeEmit('workerDied', index, worker.pid);
      if (!started) {
        log.warn('mediasoup worker died while starting', { error });
        return;
      }
      log.error('mediasoup worker died', { error });
      const state = this.#states[index];
      if (state?.slot.worker === worker) {
        if (state.probe) clearTimeout(state.probe);
        this.#states[index] = undefined;
      }
      void this.#replace(index, worker.pid);
    });
    let webRtcServer: WebRtcServer;
    try {
      const announcedAddress = this.#options.announcedAddress || undefined;
      webRtcServer = await withMediaTimeout(
        'worker.createWebRtcServer',
        worker.createWebRtcServer({
          listenInfos: [
            { protocol: 'udp', ip: this.#options.listenIp, port, ...(announcedAddress ? { announcedAddress } : {}) },
            { protocol: 'tcp', ip: this.#options.listenIp, port, ...(announcedAddress ? { announcedAddress } : {}) },
          ],
        }),
        this.#requestTimeoutMs,
      );
    } catch (error) {
      if (worker.died) throw new Error(`mediasoup worker ${index} died while starting`, { cause: error });
      worker.close();
      throw new Error(`cannot listen on ${this.#options.listenIp}:${port} (udp+tcp) for worker ${index}`, {
        cause: error,
      });
    }
    if (worker.closed) throw new Error(`mediasoup worker ${index} died while starting`);
    started = true;
    const slot: WorkerSlot = { index, worker, webRtcServer, port };
    const state: SlotState = { slot, routers: 0, consumers: 0, reserved: 0, suspect: false, probe: undefined };
    this.#trackLoad(state);
    this.#states[index] = state;
    log.info('mediasoup worker started', { port });
    this.observer.safeEmit('workerStarted', slot);
    this.#wakeWaiters();
    return slot;
  }

  async #replace(index: number, deadPid: number): Promise<void> {
    if (this.#closed) return;
    this.#replacing.add(index);
    try {
      // The dead process released its ports, so the replacement reuses the slot's port.
      for (let attempt = 1; attempt <= REPLACE_ATTEMPTS && !this.#closed; attempt++) {
        try {
          const slot = await this.#startSlot(index);
          if (this.#closed) {
            slot.worker.close();
            return;
          }
          this.safeEmit('workerReplaced', slot, deadPid);
          return;
        } catch (error) {
          this.#logger.warn('worker replacement failed', { slot: index, attempt, error });
          if (attempt === REPLACE_ATTEMPTS) {
            this.#logger.error('mediasoup worker slot lost: every replacement failed', { slot: index, attempts: attempt });
            this.safeEmit('workerLost', index, error);
          } else {
            await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
          }
        }
      }
    } finally {
      this.#replacing.delete(index);
      this.#wakeWaiters();
    }
  }
}
