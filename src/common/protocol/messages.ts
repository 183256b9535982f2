// The signalling message catalogue (protocol v1): every request a client may
// send with its data schema, every notification the server may send. The
// WebSocket subprotocol `PROTOCOL_NAME` carries the version. Shared by the
// server, the browser client and the widget; imports nothing outside protocol/.

import { arr, bool, literal, num, obj, opt, str, type Infer, type Schema } from './schema.ts';
import { dtlsParametersSchema, rtpCapabilitiesSchema, rtpParametersSchema } from './rtp.ts';
import type { IceServerInfo } from './iceServers.ts';

/** WebSocket subprotocol naming the protocol version. */
export const PROTOCOL_NAME = 'matrix-sfu.v1';

/** Current protocol version number. */
export const PROTOCOL_VERSION = 1;

const id = str({ minLength: 1, maxLength: 64, pattern: /^[A-Za-z0-9_.:-]+$/ });
const empty = obj({});

/** What a producer carries, so receivers can lay out tiles. */
export const mediaSourceSchema = literal('camera', 'microphone', 'screen', 'screen-audio');
export type MediaSource = Infer<typeof mediaSourceSchema>;

/** Most consumer ids in one resumeConsumers request. */
export const MAX_RESUME_BATCH = 64;

/** Request data schemas by method. */
export const REQUESTS = {
  getRouterRtpCapabilities: empty,
  join: obj({
    displayName: opt(str({ maxLength: 128 })),
    rtpCapabilities: rtpCapabilitiesSchema,
    /** Create consumers for every producer automatically (default true). */
    autoSubscribe: opt(bool()),
  }),
  leave: empty,
  createTransport: obj({
    direction: literal('send', 'recv'),
    /** Prefer ICE-TCP candidates first (clients behind UDP-blocking firewalls). */
    preferTcp: opt(bool()),
  }),
  connectTransport: obj({ transportId: id, dtlsParameters: dtlsParametersSchema }),
  restartIce: obj({ transportId: id }),
  produce: obj({
    transportId: id,
    kind: literal('audio', 'video'),
    rtpParameters: rtpParametersSchema,
    source: mediaSourceSchema,
    paused: opt(bool()),
    /**
     * The publisher encrypts this track's frames end to end (E2EE on). Informational for the SFU;
     * an edge that speaks LiveKit's protocol announces such tracks as encrypted (TrackInfo.encryption),
     * which livekit-client needs before it decrypts them.
     */
    encrypted: opt(bool()),
  }),
  closeProducer: obj({ producerId: id }),
  pauseProducer: obj({ producerId: id }),
  resumeProducer: obj({ producerId: id }),
  consume: obj({ producerId: id }),
  resumeConsumer: obj({ consumerId: id }),
  /** Acknowledges several consumers in one request (at most MAX_RESUME_BATCH ids); answers per id. */
  resumeConsumers: obj({ consumerIds: arr(id, { maxItems: MAX_RESUME_BATCH }) }),
  pauseConsumer: obj({ consumerId: id }),
  setConsumerPreferredLayers: obj({
    consumerId: id,
    spatialLayer: num({ int: true, min: 0, max: 3 }),
    temporalLayer: opt(num({ int: true, min: 0, max: 3 })),
  }),
  reportFirstMedia: obj({ consumerId: id, elapsedMs: num({ min: 0, max: 600_000 }) }),
} satisfies Record<string, Schema<unknown>>;

/** Request method names. */
export type RequestMethod = keyof typeof REQUESTS;
/** The parsed data of a request method. */
export type RequestData<M extends RequestMethod> = Infer<(typeof REQUESTS)[M]>;

export const REQUEST_METHODS = Object.keys(REQUESTS) as RequestMethod[];

/** Summary of one publication, as other participants see it. */
export interface PublicationInfo {
  producerId: string;
  kind: 'audio' | 'video';
  source: MediaSource;
  paused: boolean;
}

/** Summary of one participant, as others see it. */
export interface PeerInfo {
  participantId: string;
  displayName: string;
  publications: PublicationInfo[];
}

/** ICE/DTLS parameters the client needs to build a transport. */
export interface TransportInfo {
  transportId: string;
  iceParameters: { usernameFragment: string; password: string; iceLite?: boolean };
  iceCandidates: Array<{
    foundation: string;
    priority: number;
    ip: string;
    address?: string;
    protocol: 'udp' | 'tcp';
    port: number;
    type: 'host' | 'srflx' | 'prflx' | 'relay';
    tcpType?: 'passive' | 'active' | 'so';
  }>;
  dtlsParameters: { role?: 'auto' | 'client' | 'server'; fingerprints: Array<{ algorithm: string; value: string }> };
}

/** Everything a client needs to create a consumer locally. */
export interface ConsumerInfo {
  consumerId: string;
  producerId: string;
  participantId: string;
  kind: 'audio' | 'video';
  source: MediaSource;
  rtpParameters: unknown;
  type: string;
  producerPaused: boolean;
}

/** Response data by method. */
export interface ResponseDataMap {
  getRouterRtpCapabilities: { rtpCapabilities: unknown };
  /** `iceServers`: TURN relays with credentials for this session (absent when the server has no TURN configured). */
  join: { participantId: string; peers: PeerInfo[]; iceServers?: IceServerInfo[] };
  leave: Record<string, never>;
  createTransport: TransportInfo;
  connectTransport: Record<string, never>;
  restartIce: { iceParameters: TransportInfo['iceParameters'] };
  produce: { producerId: string };
  closeProducer: Record<string, never>;
  pauseProducer: Record<string, never>;
  resumeProducer: Record<string, never>;
  consume: ConsumerInfo;
  resumeConsumer: Record<string, never>;
  /** One result per distinct id: ok, or the error code that id alone got (GONE when its producer left meanwhile). */
  resumeConsumers: { results: Array<{ consumerId: string; ok: true } | { consumerId: string; ok: false; code: WireErrorCode }> };
  pauseConsumer: Record<string, never>;
  setConsumerPreferredLayers: Record<string, never>;
  reportFirstMedia: Record<string, never>;
}

/** Notification data by name (server → client). */
export interface NotificationDataMap {
  peerJoined: PeerInfo;
  peerLeft: { participantId: string };
  consumerCreated: ConsumerInfo;
  consumerClosed: { consumerId: string };
  consumerPaused: { consumerId: string };
  consumerResumed: { consumerId: string };
  consumerLayersChanged: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null };
  consumerScore: { consumerId: string; score: number; producerScore: number };
  producerClosed: { producerId: string };
  activeSpeaker: { participantId: string | null };
  /** The server lost this participant's media objects (worker restart): rebuild transports and re-publish. */
  reconnectRequested: { reason: 'worker-restarted' | 'draining' };
}
export type NotificationName = keyof NotificationDataMap;

/** Client → server frame. */
export interface RequestFrame {
  type: 'request';
  id: number;
  method: string;
  data?: unknown;
}

/** Server → client success or failure reply. */
export type ResponseFrame =
  | { type: 'response'; id: number; ok: true; data: unknown }
  | { type: 'response'; id: number | null; ok: false; error: { code: string; message: string } };

/** Server → client notification. */
export interface NotificationFrame<N extends NotificationName = NotificationName> {
  type: 'notification';
  method: N;
  data: NotificationDataMap[N];
}

/** Envelope schema of a request frame; `data` is parsed per method afterwards. */
export const requestEnvelopeSchema = obj({
  type: literal('request'),
  id: num({ int: true, min: 0, max: Number.MAX_SAFE_INTEGER }),
  method: str({ minLength: 1, maxLength: 64 }),
  data: opt({ parse: (input) => input }),
});

/** All wire error codes a response may carry (stable: clients branch on them). */
export const WIRE_ERROR_CODES = [
  'BAD_FRAME',
  'BAD_REQUEST',
  'UNKNOWN_METHOD',
  'NOT_JOINED',
  'ALREADY_JOINED',
  'NOT_FOUND',
  'GONE',
  'INVALID_STATE',
  'LIMIT_EXCEEDED',
  'UNSUPPORTED',
  'RATE_LIMITED',
  'FORBIDDEN',
  'UNAUTHORIZED',
  'CONFERENCE_FULL',
  /** The join was refused because the media worker is at capacity (media.maxWorkerLoad); try again later or elsewhere. */
  'OVERLOADED',
  'DRAINING',
  'INTERNAL',
] as const;
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

