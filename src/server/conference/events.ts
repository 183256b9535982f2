// Event maps of the conference core. ParticipantEvents is what an edge hears
// through its ParticipantHandle: every notification its client needs and the
// one `close` that ends the handle, with a reason (README: closures table).

import type { ParticipantId } from '../../common/lib/ids.ts';
import type { ConsumerInfo, EdgeKind, PeerInfo, ProducerDemand } from './types.ts';

/**
 * Why a participant handle closed. Edge-initiated: `left` (the client said
 * goodbye), `disconnected` (its connection dropped), `evicted` (its
 * membership ended). Conference-initiated: `replaced` (the same participant
 * joined again), `conference-closed` (the conference was closed with it
 * inside), `router-lost` (the media could not be rebuilt after a worker death).
 */
export type ParticipantCloseReason = 'left' | 'disconnected' | 'evicted' | 'replaced' | 'conference-closed' | 'router-lost';

/** Reasons an edge may pass to handle.close(). */
export type EdgeCloseReason = Extract<ParticipantCloseReason, 'left' | 'disconnected' | 'evicted'>;

/** Events of a ParticipantHandle. */
export type ParticipantEvents = {
  /** The handle closed (once); no other event follows. */
  close: [reason: ParticipantCloseReason];
  peerJoined: [peer: PeerInfo];
  peerLeft: [participantId: ParticipantId];
  /** A paused consumer exists for this participant; it forwards after resumeConsumer(s). */
  consumerCreated: [consumer: ConsumerInfo];
  /** The consumer's producer went away. */
  consumerClosed: [consumerId: string];
  consumerPaused: [consumerId: string];
  consumerResumed: [consumerId: string];
  consumerLayersChanged: [consumerId: string, layers: { spatialLayer: number; temporalLayer: number } | null];
  consumerScore: [consumerId: string, score: number, producerScore: number];
  activeSpeaker: [participantId: ParticipantId | null];
  /**
   * What the subscribers of one of this participant's producers need changed (a consumer of it
   * was created, closed, paused, resumed or got other preferred layers), or it was just produced.
   * Coalesced: at most one per producer per event-loop turn, with the state of that moment.
   */
  producerDemand: [producerId: string, demand: ProducerDemand];
  /** The media objects died with their worker and the conference moved routers: rebuild transports and re-publish. */
  mediaReset: [reason: 'worker-restarted'];
};

/** Public events of a Conference. */
export type ConferenceEvents = {
  /** The last participant left; the parent should close the conference. */
  empty: [];
  /** close() ran. */
  closed: [];
};

/** Why a consumer was refused by a cap. */
export type ConsumerRefusal = 'participant-limit' | 'worker-limit';

/** Monitoring events of a Conference (metrics, admin dump). */
export type ConferenceObserverEvents = {
  participantJoined: [participantId: ParticipantId, edge: EdgeKind];
  participantLeft: [participantId: ParticipantId, edge: EdgeKind];
  firstMediaReported: [elapsedMs: number];
  rebuilt: [];
  /** A local participant joined or left, or published: the cascade tells the room's other nodes. */
  localChanged: [];
  consumerRefused: [reason: ConsumerRefusal];
};
