// The `window.lkTest` API of the livekit-client test page (liveKitPage.ts), shared with
// the Node side (test/e2e/livekit*.test.ts) so both agree on shapes.

/** Options of connect(). */
export interface LiveKitConnectOptions {
  readonly url: string;
  readonly token: string;
  readonly camera: boolean;
  readonly microphone: boolean;
  /** Publish the camera with simulcast layers (livekit-client default true). */
  readonly simulcast?: boolean;
  /**
   * Publish camera and microphone tracks the page captured itself (livekit-client then does
   * not restart them when it re-publishes after a full reconnect). Default false.
   */
  readonly ownTracks?: boolean;
  /** Encrypt and decrypt with livekit-client's E2EE (insertable streams) under this shared key. */
  readonly e2eeKey?: string;
  /**
   * livekit-client E2EE with per-participant keys set as Element Call sets them
   * (matrixStyleKeyProvider.ts): raw key bytes (hex) at a key index per identity. Wins over e2eeKey.
   */
  readonly e2eeParticipantKeys?: ReadonlyArray<{ readonly identity: string; readonly keyIndex: number; readonly keyHex: string }>;
}

/** What one remote track shows in the receiver's stats. */
export interface LiveKitRemoteTrackStat {
  readonly identity: string;
  readonly kind: 'audio' | 'video';
  readonly trackSid: string;
  readonly muted: boolean;
  readonly subscribed: boolean;
  readonly framesDecoded: number;
  readonly bytesReceived: number;
  readonly frameWidth: number;
}

/** The page's global API. */
export interface LiveKitTestApi {
  connect(options: LiveKitConnectOptions): Promise<{ identity: string; sid: string; connectMs: number }>;
  remoteTracks(): Promise<LiveKitRemoteTrackStat[]>;
  remoteIdentities(): string[];
  /** RemoteTrackPublication.setVideoQuality() on `identity`'s camera (UpdateTrackSettings). */
  setVideoQuality(identity: string, quality: 'low' | 'medium' | 'high'): void;
  /** Bytes sent per local track kind (outbound-rtp, all layers). */
  localSent(): Promise<Record<string, number>>;
  setMuted(kind: 'audio' | 'video', muted: boolean): Promise<void>;
  /** Milliseconds from connect() start to the first decoded frame of each remote video identity. */
  firstFrames(): Record<string, number>;
  events(): string[];
  /** The bundled livekit-client version. */
  version(): string;
  disconnect(): Promise<void>;
  /**
   * POSTs `body` as JSON to `url` from the page (as Element Call does from its own origin, so
   * CORS applies) and returns the status, the parsed JSON reply and the request's duration.
   */
  fetchJson(url: string, body: unknown): Promise<{ status: number; body: unknown; ms: number }>;
  /** Element Call's reading of a JWT: `JSON.parse(atob(payload))` (throws on base64url `-`/`_`). */
  elementCallPayload(jwt: string): unknown;
  /** The local participant's publish/subscribe permissions as the server granted them. */
  permissions(): { canPublish: boolean; canSubscribe: boolean } | undefined;
  /** Tries to publish the camera; resolves 'published' or `${error.name}: ${error.message}`. */
  tryPublishCamera(): Promise<string>;
  /**
   * A client that ignores its grant: sets canPublish on its own copy of the permissions, then
   * publishes the camera; resolves 'published' or the error, as tryPublishCamera().
   */
  forcePublishCamera(): Promise<string>;
  /**
   * Tells livekit-client's E2EE that `identity` publishes encrypted media (its cryptors then
   * decrypt that participant's frames), as TrackInfo.encryption ≠ NONE would. Stands in for an
   * edge that does not yet announce encryption on native participants' tracks.
   */
  treatAsEncrypted(identity: string): void;
  /** Date.now() when RoomEvent.Disconnected fired, if it did. */
  disconnectedAt(): number | undefined;
}
