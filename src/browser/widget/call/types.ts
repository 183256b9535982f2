// Types of the call layer: what it needs from the Matrix side (a CallBackend, implemented by
// widget mode through the host and by standalone mode over fetch), the E2EE status source
// the tiles' badges read, and the view model the UI renders.

import type { EncodedTransforms } from '../../client/types.ts';
import type { OpenIdToken } from './admission.ts';

export type { OpenIdToken } from './admission.ts';

/** The Matrix side of one call: membership, identity, names. */
export interface CallBackend {
  readonly roomId: string;
  readonly userId: string;
  readonly deviceId: string;
  /** Base of POST /sfu/get. */
  readonly sfuServiceUrl: string;
  /** The room's name, if it has one. */
  roomName(): string | undefined;
  /** A user's display name from the room's member state, if known. */
  displayName(userId: string): string | undefined;
  /** Called whenever names, the room name or the call's memberships may have changed. */
  onRoomChanged(listener: () => void): () => void;
  /** Publishes this device's call membership; resolves once it is sent. */
  joinCall(): Promise<void>;
  /** A fresh OpenID token for admission. */
  getOpenIdToken(): Promise<OpenIdToken>;
  /** Empties this device's membership (delayed leave sent now, or `{}`). Idempotent. */
  leaveCall(): Promise<void>;
  /** Other devices' live memberships, for key distribution. */
  memberships(): ReadonlyArray<{ userId: string; deviceId: string; memberId: string; createdTs: number; transportTypes?: readonly string[] }>;
}

/** Per-participant E2EE state shown as a badge. */
export type E2eeBadge = 'off' | 'waiting' | 'present' | 'failed';

/**
 * Where the badges come from. The default says `off` for everyone (not encrypted); the E2EE
 * integration (call/e2ee.ts) reports keys and decryption per participant.
 */
export interface E2eeStatusSource {
  /** Whether media is end-to-end encrypted at all. */
  readonly enabled: boolean;
  /** The badge of a participant (`${userId}:${deviceId}`). */
  stateOf(participantId: string): E2eeBadge;
  /** Called when some participant's badge may have changed. */
  onChange(listener: () => void): () => void;
  /** Encoded-transform hooks for SfuClient (undefined: no E2EE). */
  readonly transforms: EncodedTransforms | undefined;
  /** Extra SfuClient options E2EE needs (Chromium's encodedInsertableStreams). */
  readonly encodedInsertableStreams: boolean;
  /** Starts key exchange once our membership is published. */
  start(): void;
  /** Stops key exchange and the frame transforms. Idempotent. */
  close(): void;
}

/** Where the call is. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'leaving' | 'left' | 'failed';

/** One tile on the call screen. */
export interface TileModel {
  /** Stable DOM key: the participant id, plus `#screen` for a shared screen. */
  readonly key: string;
  readonly participantId: string;
  readonly name: string;
  readonly isSelf: boolean;
  readonly kind: 'camera' | 'screen';
  /** The video to show, undefined when there is none or it is paused. */
  readonly video: MediaStreamTrack | undefined;
  /** Microphone off or absent (camera tiles). */
  readonly audioMuted: boolean;
  readonly speaking: boolean;
  readonly e2ee: E2eeBadge;
}

/** What this device sends. */
export interface LocalState {
  readonly hasMicrophone: boolean;
  readonly hasCamera: boolean;
  readonly micOn: boolean;
  readonly camOn: boolean;
  readonly sharing: boolean;
  readonly canShare: boolean;
}

/** A remote audio track to play. */
export interface RemoteAudio {
  readonly consumerId: string;
  readonly track: MediaStreamTrack;
}
