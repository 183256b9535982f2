// Small policies of the livekit edge, kept apart from the session so each is unit-tested
// alone: the session's settings and bounds, which LeaveRequest ends a session for each handle
// close reason, the simulcast layer an UpdateTrackSettings asks for, and the connection
// quality a producer score means.

import { ConnectionQuality, DisconnectReason, LeaveRequest_Action, VideoQuality, type TrackInfo, type UpdateTrackSettings } from '@livekit/protocol';
import type { ParticipantCloseReason } from '../conference/events.ts';

/** Settings of a LiveKit session (config.livekit). */
export interface LiveKitSessionSettings {
  readonly maxFrameBytes: number;
  readonly pingIntervalS: number;
  readonly pingTimeoutS: number;
  /** Faults tolerated before the session is closed. */
  readonly maxFaults: number;
  /** How often a fresh token is sent (`refreshToken`); 0 = never. */
  readonly refreshIntervalMs: number;
  /** Requests per second sustained and burst (pings excluded); more are faults and dropped. */
  readonly ratePerSecond: number;
  readonly rateBurst: number;
  /** How long a participant whose socket dropped is held for a resume; 0 = no resume. */
  readonly resumeGraceMs: number;
  /** Dynacast: delay before a publisher is told to stop layers nobody needs. */
  readonly dynacastPauseMs: number;
  /** TURN relays with fresh credentials for JoinResponse.iceServers (src/server/turn); absent = none. */
  readonly iceServers?: (participantId: string) => ReadonlyArray<{ readonly urls: readonly string[]; readonly username: string; readonly credential: string }>;
}

/** Most requests waiting in a session's queue; more are faults and dropped (a renegotiation storm). */
export const MAX_QUEUED_REQUESTS = 32;

/** Most AddTrack requests waiting for their m-section. */
export const MAX_PENDING_TRACKS = 8;

/** Why a handle close ends the LiveKit session, as a LeaveRequest. */
export const LEAVE_FOR: Record<ParticipantCloseReason, { reason: DisconnectReason; action: LeaveRequest_Action }> = {
  left: { reason: DisconnectReason.CLIENT_INITIATED, action: LeaveRequest_Action.DISCONNECT },
  disconnected: { reason: DisconnectReason.SIGNAL_CLOSE, action: LeaveRequest_Action.DISCONNECT },
  evicted: { reason: DisconnectReason.PARTICIPANT_REMOVED, action: LeaveRequest_Action.DISCONNECT },
  replaced: { reason: DisconnectReason.DUPLICATE_IDENTITY, action: LeaveRequest_Action.DISCONNECT },
  'conference-closed': { reason: DisconnectReason.ROOM_CLOSED, action: LeaveRequest_Action.DISCONNECT },
  'router-lost': { reason: DisconnectReason.STATE_MISMATCH, action: LeaveRequest_Action.RECONNECT },
};

/** Spatial layers of a consumer from its scalability mode (`L3T3` → 3); 1 when absent. */
export function spatialLayerCount(scalabilityMode: string | undefined): number {
  const match = /^L(\d+)/.exec(scalabilityMode ?? '');
  return match ? Math.max(1, Math.min(3, Number(match[1]))) : 1;
}

/** The spatial layer for an UpdateTrackSettings: by requested width when given, else by quality. */
export function preferredSpatialLayer(settings: Pick<UpdateTrackSettings, 'width' | 'height' | 'quality'>, info: Pick<TrackInfo, 'layers'>, spatialLayers: number): number {
  const top = spatialLayers - 1;
  if (settings.width > 0 && info.layers.length > 0) {
    const widths = info.layers.map((layer) => layer.width).sort((a, b) => a - b);
    const index = widths.findIndex((width) => width >= settings.width);
    return Math.min(top, index === -1 ? widths.length - 1 : index);
  }
  switch (settings.quality) {
    case VideoQuality.LOW:
    case VideoQuality.OFF:
      return 0;
    case VideoQuality.MEDIUM:
      return Math.min(1, top);
    default:
      return top;
  }
}

/** Connection quality of a mediasoup score (0-10): 8+ EXCELLENT, 5+ GOOD, else POOR. */
export function connectionQualityOf(score: number): ConnectionQuality {
  return score >= 8 ? ConnectionQuality.EXCELLENT : score >= 5 ? ConnectionQuality.GOOD : ConnectionQuality.POOR;
}
