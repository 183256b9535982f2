// Types of the conference core: its options, the summaries it hands to edges,
// and the inputs of a participant's operations. Deliberately free of any wire
// format: the signalling edge maps these to protocol v1 messages, and another
// edge (a LiveKit-protocol one) can map the same values to its own.

import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { SfuErrorCode } from '../../common/lib/errors.ts';
import type { RouterSummary } from './ConferenceRouters.ts';
import type { Publication } from './Participant.ts';
import type { DtlsParameters, IceCandidate, IceParameters, RtpCapabilities, RtpParameters } from '../media/types.ts';

/** What a producer carries, so receivers can lay out tiles. */
export type MediaSource = 'camera' | 'microphone' | 'screen' | 'screen-audio';

/** Options the registry passes to Conference.create(). */
export interface ConferenceOptions {
  readonly id: ConferenceId;
  readonly maxParticipants: number;
  readonly maxProducersPerParticipant: number;
  /** Consumers one participant may hold at once (conference.maxConsumersPerParticipant). */
  readonly maxConsumersPerParticipant?: number;
  readonly initialAvailableOutgoingBitrate: number;
  readonly maxIncomingBitrate: number;
  readonly activeSpeakerIntervalMs: number;
  /** Routers tried when rebuilding after a worker death before giving up (router-lost). Default 3. */
  readonly maxRebuildAttempts?: number;
  /**
   * A worker carrying this many consumers (all conferences) is full for placement: new
   * participants go to a router on a less-loaded worker. 0 or absent = one router per
   * conference (conference.spreadConsumersPerWorker).
   */
  readonly spreadConsumersPerWorker?: number;
  /** A worker at this CPU share (0-1) is full for placement (conference.spreadWorkerLoad). */
  readonly spreadWorkerLoad?: number;
  readonly logger: Logger;
}

/** Summary of one publication, as other participants see it. */
export interface PublicationInfo {
  producerId: string;
  kind: 'audio' | 'video';
  source: MediaSource;
  paused: boolean;
  /** The publisher encrypts the frames end to end (it said so when producing); absent = not said. */
  encrypted?: boolean;
}

/** Summary of one participant, as others see it. */
export interface PeerInfo {
  participantId: string;
  displayName: string;
  publications: PublicationInfo[];
}

/** ICE/DTLS parameters a client needs to build its side of a transport. */
export interface TransportInfo {
  transportId: string;
  iceParameters: IceParameters;
  iceCandidates: IceCandidate[];
  dtlsParameters: DtlsParameters;
  /** Set when the transport was created with enableSctp. */
  sctpParameters?: { port: number; maxMessageSize: number };
}

/** Everything a client needs to create a consumer locally. */
export interface ConsumerInfo {
  consumerId: string;
  producerId: string;
  participantId: string;
  kind: 'audio' | 'video';
  source: MediaSource;
  rtpParameters: RtpParameters;
  type: string;
  producerPaused: boolean;
  /** The publisher encrypts the frames end to end (it said so when producing). */
  encrypted?: boolean;
}

/** Which signalling edge a participant came through (our protocol, or LiveKit's). */
export type EdgeKind = 'native' | 'livekit';

/** Input of conference.join(), once the edge parsed and admitted it. */
export interface JoinInput {
  readonly participantId: ParticipantId;
  /** The edge that admitted it (metrics label only); default 'native'. */
  readonly edge?: EdgeKind;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  /** Create consumers for every producer automatically. */
  readonly autoSubscribe: boolean;
}

/** Input of handle.createTransport(). */
export interface TransportOptions {
  readonly direction: 'send' | 'recv';
  /** Put ICE-TCP candidates first (clients behind UDP-blocking firewalls). */
  readonly preferTcp?: boolean;
  /** Open an SCTP association on the transport (data channels; the livekit edge's publisher PC carries one). */
  readonly enableSctp?: boolean;
}

/** Input of handle.produce(). */
export interface ProduceOptions {
  readonly transportId: string;
  readonly kind: 'audio' | 'video';
  readonly rtpParameters: RtpParameters;
  readonly source: MediaSource;
  readonly paused?: boolean;
  /** The publisher encrypts the frames end to end (told to other edges, e.g. LiveKit's TrackInfo.encryption). */
  readonly encrypted?: boolean;
}

/** Preferred simulcast/SVC layers of a consumer. */
export interface LayerPreference {
  readonly spatialLayer: number;
  readonly temporalLayer?: number;
}

/**
 * What the subscribers of one producer need from it, over every edge: how many consumers
 * it has, how many of them forward (not paused), and the highest preferred spatial layer
 * among those (-1 when none forwards). Publishers use it to stop encoding unwanted layers.
 */
export interface ProducerDemand {
  readonly consumers: number;
  readonly active: number;
  readonly maxSpatialLayer: number;
}

/** Outcome of one id of handle.resumeConsumers(). */
export type ResumeResult = { consumerId: string; ok: true } | { consumerId: string; ok: false; code: SfuErrorCode };

/** Snapshot for the admin dump and tests. */
export interface ConferenceDump {
  id: ConferenceId;
  /** The primary router (active-speaker observer). */
  routerId: string;
  /** Every router of the conference, one per worker it uses. */
  routers: RouterSummary[];
  closed: boolean;
  participants: Array<{
    id: ParticipantId;
    displayName: string;
    /** Worker slot of the router the participant is homed on; null while it moves. */
    slotIndex: number | null;
    /** Set for a participant served by another node: the cascade link it is shown through. */
    remoteLink?: string;
    transports: string[];
    producers: string[];
    consumers: string[];
  }>;
}

/** A participant served by another node of the cluster, as the cascade hands it over. */
export interface RemotePeerInput {
  readonly participantId: ParticipantId;
  readonly displayName: string;
  /** When it joined on its node (wall clock): of two sessions of one participant, the newer stays. */
  readonly joinedAtMs: number;
  /** Its producers, as pipe producers on this conference's primary router (same ids as on its node). */
  readonly publications: readonly Publication[];
}

/** A participant of this node, as the cascade announces it to the other nodes of the room. */
export interface LocalPeerView {
  readonly participantId: ParticipantId;
  readonly displayName: string;
  readonly joinedAtMs: number;
  readonly publications: readonly Publication[];
}
