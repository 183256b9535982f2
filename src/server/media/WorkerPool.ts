// The pool of mediasoup workers: one per core by default, each with one
// WebRtcServer (one UDP + one TCP port: basePort + slot index). A dead worker
// is replaced in the same slot (same ports) and `workerReplaced` tells the
// conference registry to rebuild the conferences that lived on it.

import mediasoup from 'mediasoup';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { MEDIA_CODECS } from './codecs.ts';
import type { Router, WebRtcServer, Worker } from './types.ts';

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
}

/** One worker slot: the live worker and its WebRtcServer. */
export interface WorkerSlot {
  readonly index: number;
  readonly worker: Worker;
  readonly webRtcServer: WebRtcServer;
  /** Port used for UDP and TCP. */
  readonly port: number;
}

/** A router allocated from the pool, with the server its transports use. */
export interface RouterLease {
  readonly router: Router;
  readonly webRtcServer: WebRtcServer;
  readonly slotIndex: number;
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
  workerDied: [slotIndex: number, pid: number];
};

/** Lifecycle of a pool of mediasoup workers. */
export class WorkerPool extends TypedEmitter<WorkerPoolEvents> {
  readonly observer = new TypedEmitter<WorkerPoolObserverEvents>();
  readonly #slots: (WorkerSlot | undefined)[];
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;
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
    this.#slots = new Array<WorkerSlot | undefined>(options.numWorkers).fill(undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live slots (a slot being replaced is absent). */
  get slots(): readonly WorkerSlot[] {
    return this.#slots.filter((slot): slot is WorkerSlot => slot !== undefined);
  }

  /** Creates a router with our codecs on the least-loaded live worker (round-robin on ties). */
  async createRouter(): Promise<RouterLease> {
    if (this.#closed) throw new InvalidStateError('worker pool is closed');
    const slot = await this.#pickSlot();
    const router = await slot.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    return { router, webRtcServer: slot.webRtcServer, slotIndex: slot.index };
  }

  /** Kills every worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) slot?.worker.close();
    this.removeAllListeners();
  }

  async #pickSlot(): Promise<WorkerSlot> {
    const live = this.slots;
    if (live.length === 0) throw new InvalidStateError('no live mediasoup worker');
    const loads = await Promise.all(
      live.map(async (slot) => {
        const dump = await slot.worker.dump();
        return (dump as { routerIds?: unknown[] }).routerIds?.length ?? 0;
      }),
    );
    const minLoad = Math.min(...loads);
    for (let attempt = 0; attempt < live.length; attempt++) {
      const candidate = live[(this.#nextSlot + attempt) % live.length]!;
      if (loads[live.indexOf(candidate)] === minLoad) {
        this.#nextSlot = (this.#nextSlot + attempt + 1) % live.length;
        return candidate;
      }
    }
    return live[0]!;
  }

  async #startSlot(index: number): Promise<WorkerSlot> {
    const port = this.#options.basePort + index;
    const worker = await mediasoup.createWorker({
      logLevel: this.#options.workerLogLevel,
      logTags: ['info', 'ice', 'dtls', 'rtp', 'srtp', 'rtcp', 'simulcast', 'svc'],
    });
    const log = this.#logger.child({ workerPid: worker.pid, slot: index });
    let webRtcServer: WebRtcServer;
    try {
      const announcedIp = this.#options.announcedAddress || undefined;
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ip: this.#options.listenIp, port, ...(announcedIp ? { announcedIp } : {}) },
          { protocol: 'tcp', ip: this.#options.listenIp, port, ...(announcedIp ? { announcedIp } : {}) },
        ],
      });
    } catch (error) {
      worker.close();
      throw new Error(`cannot listen on ${this.#options.listenIp}:${port} (udp+tcp) for worker ${index}`, {
        cause: error,
      });
    }
    const slot: WorkerSlot = { index, worker, webRtcServer, port };
    this.#slots[index] = slot;
    worker.on('died', (error) => {
      log.error('mediasoup worker died', { error });
      this.#slots[index] = undefined;
      this.observer.safeEmit('workerDied', index, worker.pid);
      void this.#replace(index, worker.pid);
    });
    log.info('mediasoup worker started', { port });
    this.observer.safeEmit('workerStarted', slot);
    return slot;
  }

  async #replace(index: number, deadPid: number): Promise<void> {
    if (this.#closed) return;
    // The dead process released its ports, so the replacement reuses the slot's port.
    for (let attempt = 1; attempt <= 5 && !this.#closed; attempt++) {
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
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        if (attempt === 5) this.safeEmit('workerLost', index, error);
      }
    }
  }
}
