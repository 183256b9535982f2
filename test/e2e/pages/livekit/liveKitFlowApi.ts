// The `window.lkFlow` API of the livekit-client dynacast/resume test page (liveKitFlowPage.ts),
// shared with the Node side (test/e2e/livekitResume.test.ts) so both agree on shapes.

/** Options of connect(). */
export interface LiveKitFlowConnectOptions {
  readonly url: string;
  readonly token: string;
  readonly camera: boolean;
  readonly microphone: boolean;
  /** Room option `dynacast` (the publisher obeys SubscribedQualityUpdate). */
  readonly dynacast: boolean;
}

/** One encoding of the local camera's RTCRtpSender. */
export interface SenderEncoding {
  readonly rid: string;
  readonly active: boolean;
}

/** The page's global API. */
export interface LiveKitFlowApi {
  connect(options: LiveKitFlowConnectOptions): Promise<{ identity: string; sid: string }>;
  /** The local camera sender's encodings (getParameters()), lowest first. */
  cameraEncodings(): SenderEncoding[];
  /** Frames decoded so far from `identity`'s camera, and its current frame width. */
  videoFrom(identity: string): Promise<{ framesDecoded: number; frameWidth: number }>;
  /** RemoteTrackPublication.setVideoQuality() on `identity`'s camera. */
  setVideoQuality(identity: string, quality: 'low' | 'medium' | 'high'): void;
  /** RemoteTrackPublication.setSubscribed() on `identity`'s camera. */
  setSubscribed(identity: string, subscribed: boolean): void;
  /** Local track sids by source (unchanged by a resume; a full reconnect re-publishes them). */
  localTrackSids(): string[];
  /** Room events with the ms since connect() started, e.g. `1234 reconnected`. */
  events(): string[];
  disconnect(): Promise<void>;
}
