// The SFU's metrics as domain verbs (LiveKit's `RecordSignalRequestFailure`
// shape): callers say what happened (`recordAdmission('refused',
// 'jwt_expired')`) and never touch prom-client. One SfuMetrics owns one
// dedicated Registry, so every test builds a fresh one and nothing is global.
// It also follows the worker pool (mediasoup's observer chain, via
// MediaTracker), the conference registry and the signalling edge through
// their observers, and runs the bounded stats polling loop.

import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../../common/lib/logger.ts';
import type { SessionObserver } from '../signalling/Session.ts';
import {
  ADMISSION_REASONS,
  CLOSE_CODE_LABELS,
  EDGES,
  EVICTION_REASONS,
  METRIC_PREFIX,
  OTHER,
  SIGNALLING_CODES,
  SIGNALLING_METHODS,
  closedLabel,
  type AdmissionOutcome,
  type EdgeLabel,
  type SignallingOutcome,
} from './constants.ts';
import { createMetricDefinitions, type MetricDefinitions } from './definitions.ts';
import { MediaTracker } from './MediaTracker.ts';
import { StatsPoller, type PollCycleResult } from './StatsPoller.ts';
import type { WatchedWorker } from './types.ts';
import type { DataRelayObserver } from '../livekit/DataRelay.ts';


/** What cluster mode reports at each scrape. */
export interface ClusterGauges {
  readonly up: boolean;
  readonly nodes: number;
  /** Conferences of this node linked to at least one other node. */
  readonly roomsSpanningNodes: number;
  /** Cascade links by state. */
  readonly links: { readonly offered: number; readonly up: number };
}
/** Resolution of the event-loop delay histogram behind sfu_nodejs_eventloop_lag_*_seconds. */
export const EVENT_LOOP_MONITORING_PRECISION_MS = 100;

/** prom-client default metrics left out of our registry (see the constructor). */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Options of SfuMetrics. */
export interface SfuMetricsOptions {
  readonly logger: Logger;
  /**
   * Register prom-client's process and Node.js metrics (CPU, memory, event
   * loop lag, GC, handles) as `sfu_process_…` / `sfu_nodejs_…`. Default true;
   * unit tests may turn it off to keep the scrape small.
   */
  readonly collectDefaultMetrics?: boolean;
  /** Media stats polling loop; see StatsPollerOptions for the defaults (5000 ms, 8 at a time, 2000 ms budget). */
  readonly stats?: {
    readonly intervalMs?: number;
    readonly concurrency?: number;
    readonly budgetMs?: number;
    readonly maxRequestsPerCycle?: number;
    readonly maxConsumerRequestsPerCycle?: number;
  };
}

/** The slice of a worker pool slot that metrics reads. */
export interface WatchedSlot {
  readonly index: number;
  readonly worker: WatchedWorker;
}

/** What watchWorkerPool() needs of WorkerPool. */
export interface WatchedPool {
  readonly slots: readonly WatchedSlot[];
  readonly observer: {
    on(event: 'workerStarted', listener: (slot: WatchedSlot) => void): unknown;
    on(event: 'workerDied', listener: (slotIndex: number, pid: number) => void): unknown;
    off(event: 'workerStarted', listener: (slot: WatchedSlot) => void): unknown;
    off(event: 'workerDied', listener: (slotIndex: number, pid: number) => void): unknown;
  };
}

/** The observer events of a Conference that metrics reads. */
export interface WatchedConferenceObserver {
  on(event: 'participantJoined' | 'participantLeft', listener: (participantId: string, edge: EdgeLabel) => void): unknown;
  on(event: 'rebuilt', listener: () => void): unknown;
  on(event: 'firstMediaReported', listener: (elapsedMs: number) => void): unknown;
  on(event: 'consumerRefused', listener: (reason: 'participant-limit' | 'worker-limit') => void): unknown;
  off(event: 'participantJoined' | 'participantLeft', listener: (participantId: string, edge: EdgeLabel) => void): unknown;
  off(event: 'rebuilt', listener: () => void): unknown;
  off(event: 'firstMediaReported', listener: (elapsedMs: number) => void): unknown;
  off(event: 'consumerRefused', listener: (reason: 'participant-limit' | 'worker-limit') => void): unknown;
}

/** What watchConferences() needs of a Conference. */
export interface WatchedConference {
  readonly participantCount: number;
  readonly observer: WatchedConferenceObserver;
}

/** What watchConferences() needs of ConferenceRegistry. */
export interface WatchedConferenceRegistry<C extends WatchedConference> {
  list(): C[];
  readonly observer: {
    on(event: 'conferenceCreated' | 'conferenceClosed', listener: (conference: C) => void): unknown;
    off(event: 'conferenceCreated' | 'conferenceClosed', listener: (conference: C) => void): unknown;
  };
}

/** The signalling observer: SessionObserver plus the open-session count. */
export type SignallingMetricsObserver = SessionObserver & { sessionsChanged(open: number): void };

/** The `observer` shape of startMatrixAdmission(): admissions and evictions. */
export interface AdmissionMetricsObserver {
  admission(outcome: AdmissionOutcome, reason: string, durationMs: number): void;
  eviction(reason: string): void;
  /** A membership grace ended: the client restored its membership, or the grace ran out. */
  grace(outcome: 'restored' | 'expired'): void;
}

/** Every metric of one SFU node, behind domain verbs. */
export class SfuMetrics {
  /** The dedicated registry (never prom-client's global one). */
  readonly registry = new Registry();
  readonly #metrics: MetricDefinitions;
  readonly #tracker: MediaTracker;
  readonly #poller: StatsPoller;
  readonly #detach: Array<() => void> = [];
  #syncLag: (() => number) | undefined;
  #spanning: (() => number) | undefined;
  #cluster: (() => ClusterGauges) | undefined;
  #isRelay: (remoteIp: string) => boolean = () => false;
  #closed = false;

  constructor(options: SfuMetricsOptions) {
    this.#metrics = createMetricDefinitions(this.registry);
    if (options.collectDefaultMetrics ?? true) {
      // Event-loop delay sampled every 100 ms, not prom-client's 10 ms: the 100 Hz timer was most
      // of an idle node's CPU (0.4 % of a core of 0.46 %, measured with the load generator).
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_PRECISION_MS });
      // These gauges end in `_total`, which Prometheus reserves for counters
      // (promtool lint fails on them); each is the sum of its labelled twin
      // without the suffix (e.g. sfu_nodejs_active_handles{type}).
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(METRIC_PREFIX + name);
    }
    this.#poller = new StatsPoller({
      ...options.stats,
      targets: () => ({
        workers: this.#tracker.workers(),
        transports: this.#tracker.transports(),
        producers: this.#tracker.producers(),
        consumers: this.#tracker.consumers(),
      }),
      metrics: this.#metrics,
      logger: options.logger,
    });
    this.#tracker = new MediaTracker({
      metrics: this.#metrics,
      onForget: (id) => this.#poller.forget(id),
      onIcePath: (remoteIp, previous) => {
        const path = this.#isRelay(remoteIp) ? 'relay' : 'direct';
        if (previous === undefined || (this.#isRelay(previous) ? 'relay' : 'direct') !== path) this.#metrics.transportIcePaths.inc({ path });
      },
    });
  }

  /** Content-Type of scrape(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  scrape(): Promise<string> {
    if (this.#syncLag) this.setMatrixSyncLag(this.#syncLag());
    if (this.#spanning) this.#metrics.conferencesSpanningWorkers.set(this.#spanning());
    if (this.#cluster) {
      const { up, nodes, roomsSpanningNodes, links } = this.#cluster();
      this.#metrics.clusterRedisUp.set(up ? 1 : 0);
      this.#metrics.clusterNodes.set(nodes);
      this.#metrics.clusterRoomsSpanningNodes.set(roomsSpanningNodes);
      this.#metrics.clusterPipeLinks.set({ state: 'offered' }, links.offered);
      this.#metrics.clusterPipeLinks.set({ state: 'up' }, links.up);
    }
    return this.registry.metrics();
  }

  // ---- Signalling -------------------------------------------------------

  /**
   * One handled signalling request. `method` outside the catalogue counts as
   * 'unknown'; `code` is the wire error code (ignored on success).
   */
  recordSignallingRequest(method: string, outcome: SignallingOutcome, code: string | undefined, durationMs: number): void {
    const methodLabel = closedLabel(SIGNALLING_METHODS, method, 'unknown');
    const codeLabel = outcome === 'ok' ? 'none' : closedLabel(SIGNALLING_CODES, code ?? OTHER, OTHER);
    this.#metrics.signallingRequests.inc({ method: methodLabel, outcome, code: codeLabel });
    if (validDuration(durationMs)) {
      this.#metrics.signallingRequestDuration.observe({ method: methodLabel, outcome }, durationMs / 1000);
    }
  }

  /** A signalling WebSocket closed with `code`. */
  recordWebSocketClosed(code: number): void {
    this.#metrics.websocketCloses.inc({ code: closedLabel(CLOSE_CODE_LABELS, String(code), OTHER) });
  }

  /** The number of open signalling sessions of an edge changed. */
  setWebSocketSessions(open: number, edge: EdgeLabel = 'native'): void {
    this.#metrics.websocketSessions.set({ edge: edgeLabel(edge) }, open);
  }

  /** The `observer.sessionsChanged` and `observer.resume` of the livekit edge (LiveKitServer). */
  liveKitSessionsObserver(): { sessionsChanged(open: number): void; resume(outcome: 'resumed' | 'expired'): void } {
    return {
      sessionsChanged: (open) => this.setWebSocketSessions(open, 'livekit'),
      resume: (outcome) => this.recordLiveKitResume(outcome),
    };
  }

  /** A LiveKit participant held after its socket dropped came back (resumed) or left when the grace ran out (expired). */
  recordLiveKitResume(outcome: 'resumed' | 'expired'): void {
    this.#metrics.liveKitResumes.inc({ outcome: outcome === 'resumed' ? 'resumed' : 'expired' });
  }

  /** The observer to pass to SignallingServer (and so to every Session). */
  signallingObserver(): SignallingMetricsObserver {
    return {
      request: (method, outcome, code, durationMs) => this.recordSignallingRequest(method, outcome, code, durationMs),
      closed: (code) => this.recordWebSocketClosed(code),
      sessionsChanged: (open) => this.setWebSocketSessions(open),
    };
  }

  // ---- Admission and eviction -------------------------------------------

  /**
   * One admission decision, at the token endpoint or a WebSocket session.
   * `reason` is 'ok' when granted, else a refusal of src/server/auth/errors.ts
   * (anything else counts as 'other'); `edge` is where it happened (default native).
   */
  recordAdmission(outcome: AdmissionOutcome, reason: string, durationMs?: number, edge: EdgeLabel = 'native'): void {
    const reasonLabel = outcome === 'granted' ? 'ok' : reason === 'ok' ? OTHER : closedLabel(ADMISSION_REASONS, reason, OTHER);
    this.#metrics.admissions.inc({ outcome, reason: reasonLabel, edge: edgeLabel(edge) });
    if (durationMs !== undefined && validDuration(durationMs)) {
      this.#metrics.admissionDuration.observe({ outcome, edge: edgeLabel(edge) }, durationMs / 1000);
    }
  }

  /**
   * The `observer` option of startMatrixAdmission() (MatrixAdmission, the token endpoint, the
   * membership watcher) and of the livekit edge's admission, counting admissions for `edge`.
   */
  admissionObserver(edge: EdgeLabel = 'native'): AdmissionMetricsObserver {
    return {
      admission: (outcome, reason, durationMs) => this.recordAdmission(outcome, reason, durationMs, edge),
      eviction: (reason) => this.recordEviction(reason),
      grace: (outcome) => this.recordMembershipGrace(outcome),
    };
  }

  /** Counters of the LiveKit edge's data relay (LiveKitServer's observer). */
  liveKitDataObserver(): DataRelayObserver {
    return {
      dataMessage: (channel, outcome, bytes) => {
        this.#metrics.liveKitDataMessages.inc({ channel, outcome });
        if (outcome === 'relayed') this.#metrics.liveKitDataBytes.inc({ channel }, bytes);
      },
      dataDelivery: (channel, outcome) => this.#metrics.liveKitDataDeliveries.inc({ channel, outcome }),
    };
  }

  /** A grace period for an emptied or expired membership ended (closed set: restored, expired). */
  recordMembershipGrace(outcome: 'restored' | 'expired'): void {
    this.#metrics.membershipGraces.inc({ outcome: outcome === 'restored' ? 'restored' : 'expired' });
  }

  /** A session was evicted because its membership ended; unknown reasons count as 'other'. */
  recordEviction(reason: string): void {
    this.#metrics.evictions.inc({ reason: closedLabel(EVICTION_REASONS, reason, OTHER) });
  }

  // ---- Experience and Matrix --------------------------------------------

  /** A client-reported time from consumerCreated to its first decoded frame (reportFirstMedia). */
  observeFirstMedia(durationMs: number): void {
    if (validDuration(durationMs)) this.#metrics.firstMedia.observe(durationMs / 1000);
  }

  /** How far the Matrix sync lags behind the homeserver, in seconds. */
  setMatrixSyncLag(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.#metrics.matrixSyncLag.set(seconds);
  }

  /**
   * Reads the Matrix sync lag from `read` (seconds) at every scrape(), so the
   * gauge is exact even though the lag grows between syncs.
   */
  watchMatrixSyncLag(read: () => number): void {
    this.#syncLag = read;
  }

  // ---- TURN relay --------------------------------------------------------

  /** Tells relayed ICE tuples from direct ones (TurnService.isRelayAddress); until set, every tuple is direct. */
  classifyIcePaths(isRelay: (remoteIp: string) => boolean): void {
    this.#isRelay = isRelay;
  }

  /** A TURN credential was handed out with an admission on `edge`. */
  recordTurnCredentialIssued(edge: 'native' | 'livekit'): void {
    this.#metrics.turnCredentialsIssued.inc({ edge });
  }

  // ---- Conferences ------------------------------------------------------

  /** Cluster mode: registers the cluster gauges and reads them from `read` at every scrape(). */
  watchCluster(read: () => ClusterGauges): void {
    this.#cluster = read;
    this.registry.registerMetric(this.#metrics.clusterRedisUp);
    this.registry.registerMetric(this.#metrics.clusterNodes);
    this.registry.registerMetric(this.#metrics.clusterRoomsSpanningNodes);
    this.registry.registerMetric(this.#metrics.clusterPipeLinks);
  }

  /** Reads the number of conferences spanning more than one worker from `read` at every scrape(). */
  watchConferencesSpanningWorkers(read: () => number): void {
    this.#spanning = read;
  }

  /** A consumer was refused by a cap (conference.maxConsumersPerParticipant or media.maxConsumersPerWorker). */
  recordConsumerRefused(reason: 'participant-limit' | 'worker-limit'): void {
    this.#metrics.consumerRefusals.inc({ reason: reason === 'participant-limit' ? 'participant_limit' : 'worker_limit' });
  }

  /** A join was refused by admission control (the worker was overloaded). */
  recordJoinRefused(reason: 'worker-overloaded'): void {
    const labels: Record<typeof reason, 'worker_overloaded'> = { 'worker-overloaded': 'worker_overloaded' };
    this.#metrics.joinRefusals.inc({ reason: labels[reason] });
  }

  /** Smoothed CPU load (share of one core) of a pool slot's worker, from WorkerLoadMonitor. */
  setWorkerLoad(slotIndex: number, load: number): void {
    this.#metrics.workerLoad.set({ slot: String(slotIndex) }, load);
  }

  /** A participant joined a conference through `edge`. */
  recordParticipantJoined(edge: EdgeLabel = 'native'): void {
    this.#metrics.participantJoins.inc({ edge: edgeLabel(edge) });
    this.#metrics.participants.inc({ edge: edgeLabel(edge) });
  }

  /** `count` participants of `edge` left a conference (several when it closes with people inside). */
  recordParticipantsLeft(count = 1, edge: EdgeLabel = 'native'): void {
    if (count <= 0) return;
    this.#metrics.participantLeaves.inc({ edge: edgeLabel(edge) }, count);
    this.#metrics.participants.dec({ edge: edgeLabel(edge) }, count);
  }

  /**
   * Follows a conference registry: conference and participant gauges, joins,
   * leaves, rebuilds and first-media reports, by edge. Conferences already open are
   * counted as they are (not as created; their participants as native).
   */
  watchConferences<C extends WatchedConference>(registry: WatchedConferenceRegistry<C>): void {
    const counts = new Map<C, { participants: Record<EdgeLabel, number>; detach: () => void }>();
    const follow = (conference: C): void => {
      if (counts.has(conference)) return;
      const entry = { participants: { native: conference.participantCount, livekit: 0 }, detach: () => undefined };
      const joined = (_participantId: string, edge: EdgeLabel): void => {
        entry.participants[edgeLabel(edge)]++;
        this.recordParticipantJoined(edge);
      };
      const left = (_participantId: string, edge: EdgeLabel): void => {
        entry.participants[edgeLabel(edge)]--;
        this.recordParticipantsLeft(1, edge);
      };
      const firstMedia = (elapsedMs: number): void => this.observeFirstMedia(elapsedMs);
      const rebuilt = (): void => this.#metrics.conferenceRebuilds.inc();
      const refused = (reason: 'participant-limit' | 'worker-limit'): void => this.recordConsumerRefused(reason);
      conference.observer.on('consumerRefused', refused);
      conference.observer.on('participantJoined', joined);
      conference.observer.on('participantLeft', left);
      conference.observer.on('firstMediaReported', firstMedia);
      conference.observer.on('rebuilt', rebuilt);
      entry.detach = () => {
        conference.observer.off('participantJoined', joined);
        conference.observer.off('participantLeft', left);
        conference.observer.off('firstMediaReported', firstMedia);
        conference.observer.off('rebuilt', rebuilt);
        conference.observer.off('consumerRefused', refused);
      };
      counts.set(conference, entry);
      this.#metrics.conferences.inc();
      this.#metrics.participants.inc({ edge: 'native' }, entry.participants.native);
    };
    const created = (conference: C): void => {
      this.#metrics.conferencesCreated.inc();
      follow(conference);
    };
    const closed = (conference: C): void => {
      const entry = counts.get(conference);
      if (!entry) return;
      counts.delete(conference);
      entry.detach();
      this.#metrics.conferences.dec();
      // Conference.close() drops its participants without participantLeft events.
      for (const edge of EDGES) this.recordParticipantsLeft(entry.participants[edge], edge);
    };
    for (const conference of registry.list()) follow(conference);
    registry.observer.on('conferenceCreated', created);
    registry.observer.on('conferenceClosed', closed);
    this.#detach.push(() => {
      registry.observer.off('conferenceCreated', created);
      registry.observer.off('conferenceClosed', closed);
      for (const entry of counts.values()) entry.detach();
    });
  }

  // ---- Media ------------------------------------------------------------

  /**
   * Follows a worker pool: each worker's slot goes up and down with it, its
   * deaths are counted, and mediasoup's observer chain below it keeps the
   * router, transport, producer and consumer gauges. Starts the stats loop.
   */
  watchWorkerPool(pool: WatchedPool): void {
    const started = (slot: WatchedSlot): void => this.#tracker.watchWorker(slot.index, slot.worker);
    const died = (slotIndex: number): void => {
      this.#metrics.workerDeaths.inc({ slot: String(slotIndex) });
      this.#tracker.markSlotDown(slotIndex);
    };
    for (const slot of pool.slots) started(slot);
    pool.observer.on('workerStarted', started);
    pool.observer.on('workerDied', died);
    this.#detach.push(() => {
      pool.observer.off('workerStarted', started);
      pool.observer.off('workerDied', died);
    });
    if (!this.#closed) this.#poller.start();
  }

  /** Whether the worker of a pool slot sends through io_uring (src/server/media/ioUring.ts). */
  setWorkerIoUring(slotIndex: number, enabled: boolean): void {
    this.#metrics.workerIoUring.set({ slot: String(slotIndex) }, enabled ? 1 : 0);
  }

  /** Runs one stats cycle now (tests and benchmarks; the loop runs on its own). */
  pollStats(): Promise<PollCycleResult> {
    return this.#poller.pollOnce();
  }

  /** Stops the stats loop and detaches from everything watched. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.close();
    for (const detach of this.#detach.splice(0)) detach();
  }
}

/** A known edge label; anything else (a caller outside the type system) counts as native. */
function edgeLabel(edge: string | undefined): EdgeLabel {
  return closedLabel(EDGES, edge ?? 'native', 'native');
}

function validDuration(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 0;
}
