// Keeps the worker, router, transport, producer and consumer gauges in step
// with mediasoup's own observer events (worker.observer 'newrouter' →
// router.observer 'newtransport' → transport.observer 'newproducer' /
// 'newconsumer', and each object's observer 'close'), the way the
// mediasoup-demo operator console does. mediasoup emits observer 'close' for
// every object in a close cascade (worker death included), so the gauges are
// exact. The live objects it tracks are what StatsPoller polls.

import type { MetricDefinitions } from './definitions.ts';
import type { WatchedRouter, WatchedRtpObject, WatchedTransport, WatchedWorker, WorkerTarget } from './types.ts';

/** Options of a MediaTracker. */
export interface MediaTrackerOptions {
  readonly metrics: Pick<MetricDefinitions, 'workerUp' | 'routers' | 'transports' | 'pipeTransports' | 'producers' | 'consumers'>;
  /** Called when a polled object closes, so its stats baseline can be dropped. */
  readonly onForget: (id: string) => void;
  /** Called when a WebRTC transport selects an ICE tuple, with the tuple's remote address and whether the path changed. */
  readonly onIcePath?: (remoteIp: string, previousRemoteIp: string | undefined) => void;
}

/** Live mediasoup objects, followed from their workers down. */
export class MediaTracker {
  readonly #options: MediaTrackerOptions;
  readonly #workers = new Map<number, WatchedWorker>();
  readonly #watched = new WeakSet<WatchedWorker>();
  readonly #transports = new Map<string, WatchedTransport>();
  readonly #producers = new Map<string, WatchedRtpObject>();
  readonly #consumers = new Map<string, WatchedRtpObject>();

  constructor(options: MediaTrackerOptions) {
    this.#options = options;
  }

  /** Follows a worker (idempotent per worker) and marks its slot up until it closes. */
  watchWorker(slot: number, worker: WatchedWorker): void {
    if (this.#watched.has(worker)) return;
    this.#watched.add(worker);
    const { metrics } = this.#options;
    this.#workers.set(slot, worker);
    metrics.workerUp.set({ slot: String(slot) }, worker.closed ? 0 : 1);
    worker.observer.on('newrouter', (router) => this.#watchRouter(router));
    worker.observer.once('close', () => {
      // A replacement may already occupy the slot; only the current worker's close marks it down.
      if (this.#workers.get(slot) !== worker) return;
      this.#workers.delete(slot);
      metrics.workerUp.set({ slot: String(slot) }, 0);
    });
  }

  /** Marks a slot down without a worker (e.g. a replacement failed). */
  markSlotDown(slot: number): void {
    this.#workers.delete(slot);
    this.#options.metrics.workerUp.set({ slot: String(slot) }, 0);
  }

  /** Live workers with their slots. */
  workers(): WorkerTarget[] {
    return [...this.#workers].map(([slot, worker]) => ({ slot, worker }));
  }

  transports(): WatchedTransport[] {
    return [...this.#transports.values()];
  }

  producers(): WatchedRtpObject[] {
    return [...this.#producers.values()];
  }

  consumers(): WatchedRtpObject[] {
    return [...this.#consumers.values()];
  }

  #watchRouter(router: WatchedRouter): void {
    const { metrics } = this.#options;
    metrics.routers.inc();
    router.observer.on('newtransport', (transport) => this.#watchTransport(transport));
    router.observer.once('close', () => metrics.routers.dec());
  }

  #watchTransport(transport: WatchedTransport): void {
    const { metrics, onForget } = this.#options;
    if (transport.type === 'pipe') {
      // Router-to-router plumbing: its piped producers and consumers are not tracks of participants.
      metrics.pipeTransports.inc();
      transport.observer.once('close', () => metrics.pipeTransports.dec());
      return;
    }
    metrics.transports.inc();
    this.#transports.set(transport.id, transport);
    transport.observer.on('newproducer', (producer) => this.#watchRtpObject(producer, this.#producers, metrics.producers));
    transport.observer.on('newconsumer', (consumer) => this.#watchRtpObject(consumer, this.#consumers, metrics.consumers));
    let remoteIp: string | undefined;
    transport.observer.on('iceselectedtuplechange', (tuple) => {
      if (typeof tuple?.remoteIp !== 'string') return;
      const previous = remoteIp;
      remoteIp = tuple.remoteIp;
      this.#options.onIcePath?.(tuple.remoteIp, previous);
    });
    transport.observer.once('close', () => {
      metrics.transports.dec();
      this.#transports.delete(transport.id);
      onForget(transport.id);
    });
  }

  #watchRtpObject(
    object: WatchedRtpObject,
    live: Map<string, WatchedRtpObject>,
    gauge: MetricDefinitions['producers'],
  ): void {
    const kind = object.kind;
    gauge.inc({ kind });
    live.set(object.id, object);
    object.observer.once('close', () => {
      gauge.dec({ kind });
      live.delete(object.id);
      this.#options.onForget(object.id);
    });
  }
}
