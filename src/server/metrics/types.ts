// The narrow shapes of mediasoup objects that src/server/metrics watches and polls.
// mediasoup's Worker, Router, Transport, Producer and Consumer satisfy them
// structurally, so metrics never import mediasoup, and unit tests pass small
// fakes built on node:events.

/** The part of a mediasoup observer emitter that we use, for one object. */
interface CloseObserver {
  once(event: 'close', listener: () => void): unknown;
}

/** A mediasoup object with cumulative statistics. */
export interface StatsSource {
  readonly id: string;
  readonly closed: boolean;
  getStats(): Promise<readonly unknown[]>;
}

/** What StatsPoller needs of a producer or consumer. */
export interface WatchedRtpObject extends StatsSource {
  readonly kind: 'audio' | 'video';
  readonly observer: CloseObserver;
}

/** What MediaTracker needs of a transport. */
export interface WatchedTransport extends StatsSource {
  /** mediasoup's transport type; 'pipe' transports (between a conference's routers) are counted apart. */
  readonly type?: string;
  readonly observer: CloseObserver & {
    on(event: 'newproducer', listener: (producer: WatchedRtpObject) => void): unknown;
    on(event: 'newconsumer', listener: (consumer: WatchedRtpObject) => void): unknown;
    /** WebRTC transports only: the ICE tuple media flows on (mediasoup's remoteIp is the peer's, or its TURN relay's, address). */
    on(event: 'iceselectedtuplechange', listener: (tuple: { remoteIp?: string }) => void): unknown;
  };
}

/** What MediaTracker needs of a router. */
export interface WatchedRouter {
  readonly observer: CloseObserver & {
    on(event: 'newtransport', listener: (transport: WatchedTransport) => void): unknown;
  };
}

/** The fields of mediasoup's WorkerResourceUsage (libuv uv_getrusage) that we export. */
export interface WorkerUsage {
  /** User CPU time, in ms (mediasoup converts the timeval to ms). */
  readonly ru_utime: number;
  /** System CPU time, in ms. */
  readonly ru_stime: number;
  /** Peak resident set size, in KiB (Linux getrusage(2); passed through unconverted). */
  readonly ru_maxrss: number;
}

/** What MediaTracker needs of a worker. */
export interface WatchedWorker {
  readonly pid: number;
  readonly closed: boolean;
  readonly observer: CloseObserver & {
    on(event: 'newrouter', listener: (router: WatchedRouter) => void): unknown;
  };
  getResourceUsage(): Promise<WorkerUsage>;
}

/** A worker together with its pool slot (the `slot` label). */
export interface WorkerTarget {
  readonly slot: number;
  readonly worker: WatchedWorker;
}
