// LiveKit wire format for the livekit edge: binary protobuf frames decoded into
// SignalRequest (bounded, every oneof case named or refused) and SignalResponse
// encoding, plus the ids and enums LiveKit clients expect (participant sids
// `PA_…`, track sids `TR_…`, track sources). Messages come from the official
// generated classes of @livekit/protocol.

import { createHash, randomBytes } from 'node:crypto';
import {
  type AddTrackRequest,
  Encryption_Type,
  ParticipantInfo,
  ParticipantInfo_State,
  ParticipantPermission,
  SignalRequest,
  SignalResponse,
  TrackInfo,
  TrackSource,
  TrackType,
} from '@livekit/protocol';
import type { MediaSource } from '../conference/types.ts';

/** Version this edge reports as `serverVersion` (livekit-server's feature level it follows). */
export const SERVER_VERSION = '1.9.0';
/** LiveKit client protocol this edge speaks (livekit-client 2.22.3 sends 17). */
export const SERVER_PROTOCOL = 16;

/** The SignalRequest cases the edge handles; anything else is a protocol fault. */
export const HANDLED_REQUESTS = [
  'offer',
  'answer',
  'trickle',
  'addTrack',
  'mute',
  'subscription',
  'trackSetting',
  'leave',
  'updateLayers',
  'subscriptionPermission',
  'syncState',
  'ping',
  'pingReq',
  'updateMetadata',
  'updateAudioTrack',
  'updateVideoTrack',
] as const;

/** A decoded request with a case the edge knows. */
export type Request = Extract<SignalRequest['message'], { case: (typeof HANDLED_REQUESTS)[number] }>;

/** A refused frame. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

/** Decodes one binary frame; throws WireError for text frames, oversize, undecodable or unknown requests. */
export function decodeRequest(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean, maxBytes: number): Request {
  if (!isBinary) throw new WireError('text frames are not accepted (protobuf only)');
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (bytes.length > maxBytes) throw new WireError(`frame of ${bytes.length} bytes exceeds ${maxBytes}`);
  let request: SignalRequest;
  try {
    request = SignalRequest.fromBinary(bytes);
  } catch (error) {
    throw new WireError(`frame does not decode: ${(error as Error).message}`);
  }
  const message = request.message;
  if (message.case === undefined) throw new WireError('request without a message');
  if (!(HANDLED_REQUESTS as readonly string[]).includes(message.case)) throw new WireError(`request ${message.case} is not supported`);
  return message as Request;
}

/** Encodes one response. */
export function encodeResponse(message: SignalResponse['message']): Uint8Array {
  return new SignalResponse({ message }).toBinary();
}

/** Participant sid: stable for a participant id within a conference (`PA_` + 16 base64url characters). */
export function participantSid(conferenceId: string, participantId: string): string {
  return 'PA_' + createHash('sha256').update(`${conferenceId}\u0000${participantId}`).digest('base64url').slice(0, 16);
}

/** A new track sid (`TR_` + 16 base64url characters). */
export function newTrackSid(): string {
  return 'TR_' + randomBytes(12).toString('base64url');
}

/** Room sid of a conference. */
export function roomSid(conferenceId: string): string {
  return 'RM_' + createHash('sha256').update(conferenceId).digest('base64url').slice(0, 16);
}

/** LiveKit track source → our media source (undefined: not publishable). */
export function mediaSourceOf(source: TrackSource, type: TrackType): MediaSource | undefined {
  switch (source) {
    case TrackSource.CAMERA:
      return 'camera';
    case TrackSource.MICROPHONE:
      return 'microphone';
    case TrackSource.SCREEN_SHARE:
      return 'screen';
    case TrackSource.SCREEN_SHARE_AUDIO:
      return 'screen-audio';
    default:
      return type === TrackType.AUDIO ? 'microphone' : type === TrackType.VIDEO ? 'camera' : undefined;
  }
}

/** Our media source → LiveKit track source. */
export function trackSourceOf(source: MediaSource): TrackSource {
  return { camera: TrackSource.CAMERA, microphone: TrackSource.MICROPHONE, screen: TrackSource.SCREEN_SHARE, 'screen-audio': TrackSource.SCREEN_SHARE_AUDIO }[source];
}

/** 2025-01-01T00:00:00Z: the origin of participant info versions. */
const VERSION_EPOCH_MS = 1_735_689_600_000;
let lastVersion = 0;

/**
 * The next ParticipantInfo version: livekit-client ignores an info whose version is below the
 * one it holds, and a client that reconnects fully keeps what it held about its peers, so
 * versions must grow across sessions and node restarts: tenths of a second since 2025
 * (a uint32 until 2038), bumped by one when two changes fall in the same tenth.
 */
export function nextParticipantVersion(now = Date.now()): number {
  lastVersion = Math.max(lastVersion + 1, Math.floor((now - VERSION_EPOCH_MS) / 100));
  return lastVersion;
}

/** What a ParticipantInfo is made of. */
export interface ParticipantView {
  readonly sid: string;
  readonly identity: string;
  readonly name: string;
  readonly joinedAtMs: number;
  /** Raised on every change (nextParticipantVersion): clients ignore infos older than the one they hold. */
  version: number;
  state: ParticipantInfo_State;
  readonly tracks: Map<string, TrackInfo>;
  readonly canPublish: boolean;
}

/** The ParticipantInfo of a view. */
export function participantInfo(view: ParticipantView): ParticipantInfo {
  return new ParticipantInfo({
    sid: view.sid,
    identity: view.identity,
    name: view.name,
    state: view.state,
    tracks: [...view.tracks.values()],
    joinedAt: BigInt(Math.floor(view.joinedAtMs / 1000)),
    joinedAtMs: BigInt(view.joinedAtMs),
    version: view.version,
    isPublisher: view.tracks.size > 0,
    permission: new ParticipantPermission({
      canSubscribe: true,
      canPublish: view.canPublish,
      canPublishData: view.canPublish,
      canUpdateMetadata: false,
    }),
  });
}

/** The TrackInfo announced for an AddTrack (a new sid; names and layers bounded). */
export function trackInfoOfAddTrack(request: AddTrackRequest): TrackInfo {
  return new TrackInfo({
    sid: newTrackSid(),
    type: request.type,
    name: request.name.slice(0, 128),
    muted: request.muted,
    width: request.width,
    height: request.height,
    simulcast: request.layers.length > 1,
    source: request.source,
    layers: request.layers.slice(0, 3),
    disableDtx: request.disableDtx,
    stereo: request.stereo,
    encryption: request.encryption,
    stream: request.stream.slice(0, 128),
  });
}

export { Encryption_Type, ParticipantInfo_State, TrackInfo, TrackSource, TrackType };
