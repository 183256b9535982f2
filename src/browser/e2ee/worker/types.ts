// Types shared by the frame-transform worker and the main thread: the kind-tagged messages each
// way, the options every transform carries, and the stats the worker reports. Plain data and no
// DOM or WebWorker types, so the main thread, the worker and Node tests all compile them.

import type { MediaSource } from '../../../common/protocol/messages.ts';

/** Why a frame was dropped instead of being passed on (never in clear: see FrameCryptor). */
export const DROP_REASONS = [
  /** Receive: no key for the frame's key index (or a KID outside our layout). Send: never. */
  'missing-key',
  /** Receive: the AEAD tag did not verify with the key nor any of its forward ratchets. */
  'auth-failed',
  /** Malformed: shorter than its clear prefix, or no parsable SFrame header after it. */
  'bad-frame',
  /** A codec outside E2EE_CODEC_MIME_TYPES (codecPrefix.ts), e.g. H.264. */
  'unsupported-codec',
  /** Send: no own key yet; frames are dropped rather than sent in clear. */
  'no-own-key',
  /** Send: MAX_FRAME_COUNTER frames under the current key; waits for a new key. */
  'counter-exhausted',
  /** An unexpected failure inside WebCrypto or the cryptor. */
  'internal-error',
] as const;

/** One of {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Dropped frames by reason. */
export type DropCounts = Record<DropReason, number>;

/** Options of a sender transform (RTCRtpScriptTransform options, or attachStreams). */
export interface SenderTransformOptions {
  readonly side: 'send';
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
}

/** Options of a receiver transform. */
export interface ReceiverTransformOptions {
  readonly side: 'receive';
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  /** SFU participant id of the publisher: whose keyring decrypts the frames. */
  readonly participantId: string;
}

/** What the worker learns about a transform when it is attached. */
export type TransformOptions = SenderTransformOptions | ReceiverTransformOptions;

/**
 * Media frame format our senders write (receivers read both, per frame; README §12 of
 * src/common/e2ee): RFC 9605 SFrame, or LiveKit's format (Element Call) once a call has a
 * member using it.
 */
export type FrameFormat = 'sframe' | 'livekit';

/** Every {@link FrameFormat}. */
export const FRAME_FORMATS: readonly FrameFormat[] = Object.freeze(['sframe', 'livekit'] as const);

/** Main thread → worker. Handled strictly in arrival order (one queue). */
export type WorkerRequest =
  /** Our senders write this format from the next frame on. Default `sframe`. */
  | { readonly kind: 'setFrameFormat'; readonly format: FrameFormat }
  /** Our senders encrypt with this key from now on. `key` is 16 bytes (MatrixRTC). */
  | { readonly kind: 'setOwnKey'; readonly keyIndex: number; readonly key: Uint8Array }
  /** A remote participant's key for one key index. */
  | { readonly kind: 'setPeerKey'; readonly participantId: string; readonly keyIndex: number; readonly key: Uint8Array }
  /** Forgets every key of a participant (it left); its frames then drop as `missing-key`. */
  | { readonly kind: 'removePeer'; readonly participantId: string }
  /** createEncodedStreams() fallback: the streams of one sender or receiver, transferred. */
  | { readonly kind: 'attachStreams'; readonly options: TransformOptions; readonly readable: unknown; readonly writable: unknown }
  /** Asks for a stats message carrying `requestId`. */
  | { readonly kind: 'getStats'; readonly requestId: number };

/** Worker → main thread. */
export type WorkerEvent =
  /** Periodic (no requestId) or the answer to getStats. */
  | { readonly kind: 'stats'; readonly requestId?: number; readonly stats: E2eeStats }
  /** A request or transform the worker refused; `message` names no key and no frame content. */
  | { readonly kind: 'error'; readonly message: string };

/** How decryption of one participant's media is going. */
export type DecryptState =
  /** We hold at least one key of theirs and nothing is failing. */
  | 'keys-present'
  /** We hold no key of theirs, or their frames name a key index we lack. */
  | 'waiting'
  /** Their frames fail authentication even after the forward ratchet. */
  | 'failing';

/** Frame counters of one group of transforms. */
export interface FrameCounts {
  /** Frames encrypted (senders) or decrypted (receivers). */
  readonly processed: number;
  /** Of `processed`: frames in LiveKit's format (the rest are SFrame). */
  readonly livekit: number;
  /** Empty frames passed through untouched. */
  readonly empty: number;
  readonly dropped: DropCounts;
}

/** One of our senders (by source). */
export interface SenderStats extends FrameCounts {
  readonly source: MediaSource;
  readonly senderIndex: number;
}

/** Decryption of one remote participant. */
export interface ParticipantStats {
  readonly participantId: string;
  readonly state: DecryptState;
  /** Key indexes we hold for them. */
  readonly keyIndexes: number[];
  readonly audio: FrameCounts;
  readonly video: FrameCounts;
  /** Times a forward-ratcheted key decrypted a frame and replaced the key it came from. */
  readonly ratchetsAdopted: number;
}

/** Everything the worker reports. */
export interface E2eeStats {
  /** The format our senders write. */
  readonly frameFormat: FrameFormat;
  /** Key index our senders encrypt with, if any. */
  readonly ownKeyIndex: number | undefined;
  readonly encrypted: number;
  readonly decrypted: number;
  readonly dropped: DropCounts;
  readonly senders: SenderStats[];
  readonly participants: ParticipantStats[];
}
