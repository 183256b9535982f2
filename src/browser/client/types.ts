// Public option and value types of the browser client: connection options
// (including the encoded-transform hooks E2EE needs), join and publish
// options, and what the client reports about remote tracks.

import type { ProducerCodecOptions, RtpCodecCapability, RtpEncodingParameters } from 'mediasoup-client/types';
import type { MediaSource, PeerInfo } from '../../common/protocol/messages.ts';

/** Where the client writes its log lines (a Console fits). Never receives SDP or keys. */
export interface ClientLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Default logger: warnings and errors to the console, the rest dropped. */
export const defaultLogger: ClientLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) => console.warn(`[sfu] ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`[sfu] ${message}`, fields ?? ''),
};

/** What a sender transform hook learns about the RTCRtpSender it is given. */
export interface SenderTransformInfo {
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  /** Id of the local MediaStreamTrack being sent. */
  readonly trackId: string;
}

/** What a receiver transform hook learns about the RTCRtpReceiver it is given. */
export interface ReceiverTransformInfo {
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  /** Publisher of the media (whose key decrypts it). */
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
}

/**
 * Hooks that attach encoded transforms (E2EE) to every RTCRtpSender and
 * RTCRtpReceiver the client creates. Each is called synchronously right
 * after the transceiver exists and BEFORE its SDP negotiation completes:
 * Chromium ignores an RTCRtpScriptTransform assigned after that. Assign
 * `sender.transform = new RTCRtpScriptTransform(worker, options)` here, or
 * call createEncodedStreams() (then also set `encodedInsertableStreams`).
 * A hook runs again for the new sender/receiver after a media rebuild.
 */
export interface EncodedTransforms {
  sender?(sender: RTCRtpSender, info: SenderTransformInfo): void;
  receiver?(receiver: RTCRtpReceiver, info: ReceiverTransformInfo): void;
}

/** Options of SfuClient.connect(). */
export interface SfuClientOptions {
  /** Signalling endpoint, e.g. `ws://127.0.0.1:8080/ws` (a query here is kept). */
  readonly url: string;
  /**
   * Admission parameters added to the URL query: `{ conference, participant,
   * name }` for dev admission (`auth.mode: none`), `{ jwt }` for Matrix admission.
   */
  readonly query?: Readonly<Record<string, string>>;
  /** WebSocket subprotocols offered. Default `[PROTOCOL_NAME]` (`matrix-sfu.v1`). */
  readonly protocols?: readonly string[];
  /** Response timeout per request. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Timeout for opening the WebSocket. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Encoded-transform hooks (E2EE). Default none. */
  readonly transforms?: EncodedTransforms;
  /**
   * Sets Chromium's `encodedInsertableStreams` on both PeerConnections, which
   * createEncodedStreams() needs. Default false. When true, every sender and
   * receiver MUST call createEncodedStreams() in its hook, or its media stops
   * in Chromium. RTCRtpScriptTransform does not need it.
   */
  readonly encodedInsertableStreams?: boolean;
  /** Every publication is end-to-end encrypted: `produce` says so (the SFU's LiveKit edge announces it). Default false. */
  readonly encryptedMedia?: boolean;
  /**
   * Media codecs (MIME types, case-insensitive) this client may send or receive; RTX follows its
   * codec. Join announces only these, so the SFU never forwards another codec to us, and
   * publish() picks the first of the device's send codecs on the list (or refuses a `codec`
   * outside it). E2EE passes E2EE_CODEC_MIME_TYPES (no H.264). Default: every codec.
   */
  readonly codecMimeTypes?: readonly string[];
  /** ICE servers (TURN) for both transports. Default none: the SFU's candidates are public. */
  readonly iceServers?: RTCIceServer[];
  /** `relay` forces TURN. Default `all`. */
  readonly iceTransportPolicy?: RTCIceTransportPolicy;
  /** Ask the server to list ICE-TCP candidates first (UDP-hostile networks). Default false. */
  readonly preferTcp?: boolean;
  /** Give up measuring a consumer's first decoded frame after this long. Default 30 000 ms. */
  readonly firstMediaTimeoutMs?: number;
  /** Log sink. Default: warnings and errors to the console. */
  readonly logger?: ClientLogger;
}

/** Options of SfuClient.join(). */
export interface JoinOptions {
  /** Name others see. Default: the one admission assigned. */
  readonly displayName?: string;
  /**
   * Receive every publication automatically (the server sends consumerCreated).
   * Default true. When false, call `subscribe(producerId)` per publication.
   */
  readonly autoSubscribe?: boolean;
}

/** Result of SfuClient.join(). */
export interface JoinResult {
  readonly participantId: string;
  /** Participants already in the conference. */
  readonly peers: PeerInfo[];
}

/** Options of SfuClient.publish(). */
export interface PublishOptions {
  /** What the track carries, so receivers can lay out tiles. */
  readonly source: MediaSource;
  /**
   * Send video as three simulcast layers (¼, ½ and full resolution) so the
   * SFU can forward a smaller one to constrained receivers. Default true for
   * video; costs about 30 % more upstream bandwidth and encoder CPU. Ignored
   * for audio and when `encodings` is given.
   */
  readonly simulcast?: boolean;
  /** Explicit encodings (overrides `simulcast`). */
  readonly encodings?: RtpEncodingParameters[];
  /** Codec options. Default: Opus FEC and DTX for audio; 1 Mbps start bitrate for video. */
  readonly codecOptions?: ProducerCodecOptions;
  /** Preferred codec from the device's send capabilities. Default: the router's first (VP8, Opus). */
  readonly codec?: RtpCodecCapability;
  /** Start paused (nothing is forwarded until resume). Default false. */
  readonly paused?: boolean;
}

/** A remote track currently received. */
export interface RemoteTrack {
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly track: MediaStreamTrack;
  /** Paused by its publisher. */
  readonly producerPaused: boolean;
}
