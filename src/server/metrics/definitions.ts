// Every metric of the SFU, registered in one place with its help text and
// explicit buckets (jitsi-videobridge's VideobridgeMetrics, LiveKit's explicit
// buckets). Names are `sfu_…` with base units in the name (`_seconds`,
// `_bytes`, `_total`); labels come only from the closed sets in constants.ts.
// Nothing outside src/server/metrics touches these objects: code calls the domain
// verbs of SfuMetrics instead.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  ADMISSION_OUTCOMES,
  ADMISSION_REASONS,
  CONSUMER_REFUSAL_REASONS,
  EDGES,
  EVICTION_REASONS,
  ICE_PATHS,
  JOIN_REFUSAL_REASONS,
  MEDIA_DIRECTIONS,
  MEDIA_KINDS,
  TURN_EDGES,
} from './constants.ts';

/** Signalling request latency: most requests are one IPC round trip (ms); join and produce can take longer. */
export const SIGNALLING_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** Admission latency: a local JWT check is sub-millisecond; the token endpoint may ask a homeserver over federation. */
export const ADMISSION_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Time to first media as users perceive it: under a second is good, several seconds is a complaint. */
export const FIRST_MEDIA_BUCKETS_SECONDS: readonly number[] = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60];

/** mediasoup scores are integers 0 (unusable) … 10 (perfect); one bucket per score. */
export const SCORE_BUCKETS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/** Duration of one stats polling cycle; the cycle's time budget caps it (default 2 s). */
export const STATS_POLL_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5,
];

/** The metric objects, by role. */
export interface MetricDefinitions {
  readonly workerUp: Gauge<'slot'>;
  readonly workerDeaths: Counter<'slot'>;
  readonly workerCpuSeconds: Counter<'slot' | 'mode'>;
  readonly workerMaxRssBytes: Gauge<'slot'>;
  readonly workerIoUring: Gauge<'slot'>;
  readonly workerLoad: Gauge<'slot'>;
  readonly joinRefusals: Counter<'reason'>;
  readonly routers: Gauge;
  readonly transports: Gauge;
  readonly pipeTransports: Gauge;
  readonly clusterRedisUp: Gauge;
  readonly clusterNodes: Gauge;
  readonly clusterRoomsSpanningNodes: Gauge;
  readonly clusterPipeLinks: Gauge;
  readonly conferencesSpanningWorkers: Gauge;
  readonly producers: Gauge<'kind'>;
  readonly consumers: Gauge<'kind'>;
  readonly conferences: Gauge;
  readonly conferencesCreated: Counter;
  readonly conferenceRebuilds: Counter;
  readonly consumerRefusals: Counter<'reason'>;
  readonly participants: Gauge<'edge'>;
  readonly participantJoins: Counter<'edge'>;
  readonly participantLeaves: Counter<'edge'>;
  readonly transportBytes: Counter<'direction'>;
  readonly rtpBytes: Counter<'direction' | 'kind'>;
  readonly rtpPackets: Counter<'direction' | 'kind'>;
  readonly rtpPacketsLost: Counter<'direction' | 'kind'>;
  readonly rtpNacks: Counter<'direction' | 'kind'>;
  readonly rtpPlis: Counter<'direction' | 'kind'>;
  readonly rtpFirs: Counter<'direction' | 'kind'>;
  readonly consumerScore: Histogram<'kind'>;
  readonly statsPollDuration: Histogram;
  readonly statsPollSkipped: Counter;
  readonly websocketSessions: Gauge<'edge'>;
  readonly websocketCloses: Counter<'code'>;
  readonly signallingRequests: Counter<'method' | 'outcome' | 'code'>;
  readonly signallingRequestDuration: Histogram<'method' | 'outcome'>;
  readonly admissions: Counter<'outcome' | 'reason' | 'edge'>;
  readonly admissionDuration: Histogram<'outcome' | 'edge'>;
  readonly evictions: Counter<'reason'>;
  readonly membershipGraces: Counter<'outcome'>;
  readonly liveKitDataMessages: Counter<'channel' | 'outcome'>;
  readonly liveKitResumes: Counter<'outcome'>;
  readonly liveKitDataBytes: Counter<'channel'>;
  readonly liveKitDataDeliveries: Counter<'channel' | 'outcome'>;
  readonly firstMedia: Histogram;
  readonly matrixSyncLag: Gauge;
  readonly transportIcePaths: Counter<'path'>;
  readonly turnCredentialsIssued: Counter<'edge'>;
}

/**
 * Registers every SFU metric on `registry` (never the global default one)
 * and pre-creates the series of small closed label sets at zero, so that
 * rates and alerts have a baseline from the first scrape.
 */
export function createMetricDefinitions(registry: Registry): MetricDefinitions {
  const registers = [registry];
  const mediaLabels = ['direction', 'kind'] as const;

  const definitions: MetricDefinitions = {
    // Workers: from WorkerPool's observer and worker.getResourceUsage().
    workerUp: new Gauge({
      name: 'sfu_worker_up',
      help: 'Whether the mediasoup worker of this pool slot is running (1) or not (0).',
      labelNames: ['slot'],
      registers,
    }),
    workerDeaths: new Counter({
      name: 'sfu_worker_deaths_total',
      help: 'mediasoup workers that died unexpectedly, by pool slot (each is replaced in the same slot).',
      labelNames: ['slot'],
      registers,
    }),
    workerCpuSeconds: new Counter({
      name: 'sfu_worker_cpu_seconds_total',
      help: 'CPU time used by the mediasoup worker processes of a pool slot (getrusage ru_utime/ru_stime), by mode.',
      labelNames: ['slot', 'mode'],
      registers,
    }),
    workerMaxRssBytes: new Gauge({
      name: 'sfu_worker_max_rss_bytes',
      help: 'Peak resident set size of the current mediasoup worker of a pool slot (getrusage ru_maxrss).',
      labelNames: ['slot'],
      registers,
    }),
    workerLoad: new Gauge({
      name: 'sfu_worker_load_ratio',
      help: 'CPU load of the current mediasoup worker of a pool slot as a share of one core (0-1), smoothed over a few seconds; admission control refuses joins on a worker at or above media.maxWorkerLoad.',
      labelNames: ['slot'],
      registers,
    }),
    joinRefusals: new Counter({
      name: 'sfu_join_refusals_total',
      help: 'Joins refused by admission control (OVERLOADED), by reason: worker_overloaded (the conference\'s worker, or every worker for a new conference, at or above media.maxWorkerLoad).',
      labelNames: ['reason'],
      registers,
    }),
    workerIoUring: new Gauge({
      name: 'sfu_worker_io_uring',
      help: 'Whether the mediasoup worker of this pool slot sends through io_uring (1) or libuv (0); the log says why not.',
      labelNames: ['slot'],
      registers,
    }),

    // mediasoup objects: kept in step by mediasoup's observer events.
    routers: new Gauge({ name: 'sfu_routers', help: 'Open mediasoup routers (one per conference and worker it uses).', registers }),
    pipeTransports: new Gauge({
      name: 'sfu_pipe_transports',
      help: 'Open pipe transports between the routers of conferences that span workers (two per pair of routers).',
      registers,
    }),
    clusterRedisUp: new Gauge({
      name: 'sfu_cluster_redis_up',
      help: 'Cluster mode: 1 while this node is connected to the cluster Redis, 0 while not (new joins are refused meanwhile). Absent on a single node.',
      registers: [],
    }),
    clusterNodes: new Gauge({
      name: 'sfu_cluster_nodes',
      help: 'Cluster mode: live nodes this node saw in the registry at its last heartbeat (itself included). Absent on a single node.',
      registers: [],
    }),
    clusterRoomsSpanningNodes: new Gauge({
      name: 'sfu_cluster_rooms_spanning_nodes',
      help: 'Cluster mode: conferences of this node linked to the same room on at least one other node (read at each scrape). Absent on a single node.',
      registers: [],
    }),
    clusterPipeLinks: new Gauge({
      name: 'sfu_cluster_pipe_links',
      help: 'Cluster mode: cascade links of this node to other nodes (one pipe transport each, SRTP), by state: offered (waiting for the answer) or up (read at each scrape). Absent on a single node.',
      labelNames: ['state'],
      registers: [],
    }),
    conferencesSpanningWorkers: new Gauge({
      name: 'sfu_conferences_spanning_workers',
      help: 'Open conferences with routers on more than one worker (read at each scrape).',
      registers,
    }),
    transports: new Gauge({ name: 'sfu_transports', help: 'Open mediasoup WebRTC transports.', registers }),
    producers: new Gauge({
      name: 'sfu_producers',
      help: 'Open mediasoup producers (published tracks), by media kind.',
      labelNames: ['kind'],
      registers,
    }),
    consumers: new Gauge({
      name: 'sfu_consumers',
      help: 'Open mediasoup consumers (forwarded tracks), by media kind.',
      labelNames: ['kind'],
      registers,
    }),

    // Conferences and participants: from the ConferenceRegistry and Conference observers.
    conferences: new Gauge({ name: 'sfu_conferences', help: 'Open conferences on this node.', registers }),
    conferencesCreated: new Counter({
      name: 'sfu_conferences_created_total',
      help: 'Conferences created on this node.',
      registers,
    }),
    conferenceRebuilds: new Counter({
      name: 'sfu_conference_rebuilds_total',
      help: 'Conferences moved to a new router after their mediasoup worker died.',
      registers,
    }),
    consumerRefusals: new Counter({
      name: 'sfu_consumer_refusals_total',
      help: 'Consumers refused by a cap (LIMIT_EXCEEDED), by reason: participant_limit (conference.maxConsumersPerParticipant) or worker_limit (media.maxConsumersPerWorker).',
      labelNames: ['reason'],
      registers,
    }),
    participants: new Gauge({
      name: 'sfu_participants',
      help: 'Participants joined to a conference on this node, by the signalling edge they came through (native, livekit).',
      labelNames: ['edge'],
      registers,
    }),
    participantJoins: new Counter({ name: 'sfu_participant_joins_total', help: 'Successful conference joins, by signalling edge (native, livekit).', labelNames: ['edge'], registers }),
    participantLeaves: new Counter({
      name: 'sfu_participant_leaves_total',
      help: 'Participants that left a conference (leave, disconnect, eviction), by signalling edge (native, livekit).',
      labelNames: ['edge'],
      registers,
    }),

    // Media statistics: deltas of mediasoup's cumulative stats, polled by StatsPoller.
    transportBytes: new Counter({
      name: 'sfu_transport_bytes_total',
      help: 'Bytes received (in) and sent (out) on WebRTC transports, all traffic (RTP, RTCP, ICE, DTLS).',
      labelNames: ['direction'],
      registers,
    }),
    rtpBytes: new Counter({
      name: 'sfu_rtp_bytes_total',
      help: 'RTP bytes received from senders (in, producer streams) and sent to receivers (out, consumer streams).',
      labelNames: mediaLabels,
      registers,
    }),
    rtpPackets: new Counter({
      name: 'sfu_rtp_packets_total',
      help: 'RTP packets received from senders (in) and sent to receivers (out).',
      labelNames: mediaLabels,
      registers,
    }),
    rtpPacketsLost: new Counter({
      name: 'sfu_rtp_packets_lost_total',
      help: 'RTP packets lost from senders to the SFU (in, seen by the SFU) and from the SFU to receivers (out, receiver reports).',
      labelNames: mediaLabels,
      registers,
    }),
    rtpNacks: new Counter({
      name: 'sfu_rtp_nacks_total',
      help: 'RTCP NACK messages sent to senders (in) and received from receivers (out).',
      labelNames: mediaLabels,
      registers,
    }),
    rtpPlis: new Counter({
      name: 'sfu_rtp_plis_total',
      help: 'RTCP picture loss indications sent to senders (in) and received from receivers (out).',
      labelNames: mediaLabels,
      registers,
    }),
    rtpFirs: new Counter({
      name: 'sfu_rtp_firs_total',
      help: 'RTCP full intra requests sent to senders (in) and received from receivers (out).',
      labelNames: mediaLabels,
      registers,
    }),
    consumerScore: new Histogram({
      name: 'sfu_consumer_score',
      help: 'mediasoup consumer scores (0 worst, 10 best), one observation per consumer per stats cycle, by kind.',
      labelNames: ['kind'],
      buckets: [...SCORE_BUCKETS],
      registers,
    }),
    statsPollDuration: new Histogram({
      name: 'sfu_stats_poll_duration_seconds',
      help: 'Duration of one media stats polling cycle (bounded by its time budget).',
      buckets: [...STATS_POLL_DURATION_BUCKETS_SECONDS],
      registers,
    }),
    statsPollSkipped: new Counter({
      name: 'sfu_stats_poll_skipped_total',
      help: 'Stats requests not made in a cycle because its time budget or its request caps (500 transports and producers, 100 consumers per cycle) ran out, or a previous request was still pending; they go first in the next cycle.',
      registers,
    }),

    // Signalling: from the SignallingServer / Session observer.
    websocketSessions: new Gauge({
      name: 'sfu_websocket_sessions',
      help: 'Open signalling WebSocket sessions, by edge (native /ws, livekit /rtc; a livekit session held for a resume counts).',
      labelNames: ['edge'],
      registers,
    }),
    websocketCloses: new Counter({
      name: 'sfu_websocket_closes_total',
      help: 'Signalling WebSocket closes, by close code (ours from closeCodes.ts, 1005, 1006, else other).',
      labelNames: ['code'],
      registers,
    }),
    signallingRequests: new Counter({
      name: 'sfu_signalling_requests_total',
      help: 'Signalling requests handled, by method, outcome and error code (none on success).',
      labelNames: ['method', 'outcome', 'code'],
      registers,
    }),
    signallingRequestDuration: new Histogram({
      name: 'sfu_signalling_request_duration_seconds',
      help: 'Time to handle a signalling request, from parsed frame to response, by method and outcome.',
      labelNames: ['method', 'outcome'],
      buckets: [...SIGNALLING_DURATION_BUCKETS_SECONDS],
      registers,
    }),

    // Admission and eviction: called by the Matrix admission code.
    admissions: new Counter({
      name: 'sfu_admissions_total',
      help: 'Admission decisions (token endpoints and WebSocket sessions), by outcome, reason and edge (native: /sfu/get and /ws; livekit: /get_token and /rtc).',
      labelNames: ['outcome', 'reason', 'edge'],
      registers,
    }),
    admissionDuration: new Histogram({
      name: 'sfu_admission_duration_seconds',
      help: 'Time to reach an admission decision (token endpoints and WebSocket sessions), by outcome and edge.',
      labelNames: ['outcome', 'edge'],
      buckets: [...ADMISSION_DURATION_BUCKETS_SECONDS],
      registers,
    }),
    evictions: new Counter({
      name: 'sfu_evictions_total',
      help: 'Sessions ended because their call membership ended, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    membershipGraces: new Counter({
      name: 'sfu_membership_graces_total',
      help: 'Grace periods of connected sessions whose membership was emptied or expired, by outcome (restored by the client, or expired into an eviction).',
      labelNames: ['outcome'],
      registers,
    }),

    // LiveKit signalling resumes (src/server/livekit/SignalChannel.ts).
    liveKitResumes: new Counter({
      name: 'sfu_livekit_resumes_total',
      help: 'LiveKit participants whose signalling socket dropped without a leave, by outcome: resumed (the client came back on a new socket within livekit.resumeGraceMs) or expired (it did not, and left).',
      labelNames: ['outcome'],
      registers,
    }),

    // LiveKit data channels (src/server/livekit/DataRelay.ts).
    liveKitDataMessages: new Counter({
      name: 'sfu_livekit_data_messages_total',
      help: 'Data channel messages from LiveKit clients, by channel (reliable, lossy) and outcome: relayed, refused (a fault of the sender), rate_limited or dropped (not for other clients, e.g. metrics).',
      labelNames: ['channel', 'outcome'],
      registers,
    }),
    liveKitDataBytes: new Counter({
      name: 'sfu_livekit_data_bytes_total',
      help: 'Bytes of the relayed data channel messages from LiveKit clients, by channel (counted once per message, not per receiver).',
      labelNames: ['channel'],
      registers,
    }),
    liveKitDataDeliveries: new Counter({
      name: 'sfu_livekit_data_deliveries_total',
      help: 'Copies of relayed data packets to LiveKit receivers, by channel and outcome: sent (handed to the SCTP association) or dropped (no data channels yet, too many copies in flight, or refused by the worker).',
      labelNames: ['channel', 'outcome'],
      registers,
    }),

    // User experience and Matrix.
    firstMedia: new Histogram({
      name: 'sfu_first_media_seconds',
      help: 'Client-reported time from receiving consumerCreated to decoding the first frame of that consumer (reportFirstMedia).',
      buckets: [...FIRST_MEDIA_BUCKETS_SECONDS],
      registers,
    }),
    matrixSyncLag: new Gauge({
      name: 'sfu_matrix_sync_lag_seconds',
      help: 'How far the SFU view of Matrix room state lags behind the homeserver (age of the last completed sync).',
      registers,
    }),
    // TURN relay: from the transports' selected ICE tuples and the TurnService.
    transportIcePaths: new Counter({
      name: 'sfu_transport_ice_paths_total',
      help: 'WebRTC transports by the path of their selected ICE tuple: relay (the remote address is a TURN relay of turn.relayAddresses) or direct; counted when a transport first selects a tuple and again when its path changes.',
      labelNames: ['path'],
      registers,
    }),
    turnCredentialsIssued: new Counter({
      name: 'sfu_turn_credentials_issued_total',
      help: 'TURN credentials handed out with admissions, by signalling edge (native join reply, livekit JoinResponse).',
      labelNames: ['edge'],
      registers,
    }),
  };

  for (const kind of MEDIA_KINDS) {
    definitions.producers.set({ kind }, 0);
    definitions.consumers.set({ kind }, 0);
    for (const direction of MEDIA_DIRECTIONS) {
      for (const counter of [
        definitions.rtpBytes,
        definitions.rtpPackets,
        definitions.rtpPacketsLost,
        definitions.rtpNacks,
        definitions.rtpPlis,
        definitions.rtpFirs,
      ]) {
        counter.inc({ direction, kind }, 0);
      }
    }
  }
  for (const direction of MEDIA_DIRECTIONS) definitions.transportBytes.inc({ direction }, 0);
  for (const edge of EDGES) {
    definitions.participants.set({ edge }, 0);
    definitions.participantJoins.inc({ edge }, 0);
    definitions.participantLeaves.inc({ edge }, 0);
    definitions.websocketSessions.set({ edge }, 0);
    for (const outcome of ADMISSION_OUTCOMES) {
      for (const reason of ADMISSION_REASONS) {
        if ((outcome === 'granted') === (reason === 'ok')) definitions.admissions.inc({ outcome, reason, edge }, 0);
      }
    }
  }
  for (const reason of EVICTION_REASONS) definitions.evictions.inc({ reason }, 0);
  for (const outcome of ['restored', 'expired']) definitions.membershipGraces.inc({ outcome }, 0);
  for (const outcome of ['resumed', 'expired']) definitions.liveKitResumes.inc({ outcome }, 0);
  for (const channel of ['reliable', 'lossy']) {
    for (const outcome of ['relayed', 'refused', 'rate_limited', 'dropped']) definitions.liveKitDataMessages.inc({ channel, outcome }, 0);
    for (const outcome of ['sent', 'dropped']) definitions.liveKitDataDeliveries.inc({ channel, outcome }, 0);
    definitions.liveKitDataBytes.inc({ channel }, 0);
  }
  for (const reason of CONSUMER_REFUSAL_REASONS) definitions.consumerRefusals.inc({ reason }, 0);
  for (const reason of JOIN_REFUSAL_REASONS) definitions.joinRefusals.inc({ reason }, 0);
  for (const path of ICE_PATHS) definitions.transportIcePaths.inc({ path }, 0);
  for (const edge of TURN_EDGES) definitions.turnCredentialsIssued.inc({ edge }, 0);
  return definitions;
}
