// The public event map of SfuClient, and the typed emitter it uses
// (src/common/lib/TypedEmitter.ts, shared with the server).

import type { MediaSource, PeerInfo } from '../../common/protocol/messages.ts';
import type { SfuClientError } from './errors.ts';
import type { MediaPath } from './mediaPath.ts';

/** The client's emitter is the shared typed emitter (browser-safe). */
export { TypedEmitter as Emitter, type EventMap } from '../../common/lib/TypedEmitter.ts';

/** A remote track that became available (a local consumer exists and was acknowledged). */
export interface TrackAddedEvent {
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly track: MediaStreamTrack;
  /** The publisher has paused it; no media flows until `trackResumed`. */
  readonly paused: boolean;
}

/** A remote track that went away (its producer closed, its publisher left, or media is being rebuilt). */
export interface TrackRemovedEvent {
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
}

/** Why the client is rebuilding or must move its media. */
export interface ReconnectingEvent {
  /**
   * `worker-restarted`: the client rebuilds its transports and re-publishes on
   * its own, then emits `reconnected`. `draining`: this server is shutting
   * down; the caller should connect to another one (the client does nothing).
   */
  readonly reason: 'worker-restarted' | 'draining';
}

/** Public events of SfuClient. */
export type SfuClientEvents = {
  peerJoined: [peer: PeerInfo];
  peerLeft: [event: { participantId: string }];
  trackAdded: [event: TrackAddedEvent];
  trackRemoved: [event: TrackRemovedEvent];
  /** The publisher paused the producer behind this consumer. */
  trackPaused: [event: { consumerId: string }];
  trackResumed: [event: { consumerId: string }];
  /** The simulcast/SVC layers the server forwards changed (null: none). */
  layersChanged: [event: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null }];
  /** The first video frame of a consumer was decoded, `elapsedMs` after its consumerCreated arrived. */
  firstMedia: [event: { consumerId: string; participantId: string; elapsedMs: number }];
  activeSpeaker: [event: { participantId: string | null }];
  reconnecting: [event: ReconnectingEvent];
  /** Media was rebuilt after `reconnecting` (worker-restarted). */
  reconnected: [];
  /**
   * The network path of a transport's media once connected: `relay` (through a TURN server),
   * `direct`, or `failed` (ICE failed: neither directly nor through a relay; the client
   * restarts ICE once per failure).
   */
  mediaPath: [event: { direction: 'send' | 'recv'; path: MediaPath }];
  /** A background operation failed (consuming a remote track, rebuilding media). The client stays usable. */
  error: [error: SfuClientError];
  /** The signalling connection closed; the client is unusable. `code` is a CLOSE_CODES value. */
  closed: [event: { code: number; reason: string }];
};
