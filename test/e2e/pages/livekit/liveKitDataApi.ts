// The `window.lkData` API of the livekit-client data test page (liveKitDataPage.ts),
// shared with test/e2e/livekitData.test.ts so both agree on shapes.

/** One RoomEvent.DataReceived, as the page saw it. */
export interface ReceivedData {
  /** The sender participant's identity (undefined: the client found no such participant). */
  readonly from: string | undefined;
  readonly text: string;
  readonly topic: string | undefined;
  readonly kind: 'reliable' | 'lossy';
  /** Date.now() at receipt (pages share the machine clock: latency = this − the send time). */
  readonly atMs: number;
}

/** Options of publish(). */
export interface PublishOptions {
  readonly reliable: boolean;
  readonly topic?: string;
  readonly destinationIdentities?: string[];
}

/** The page's API. */
export interface LiveKitDataTestApi {
  /** Connects without media; resolves with the local identity. */
  connect(url: string, token: string): Promise<string>;
  /** Resolves once the publisher's `_reliable` and `_lossy` channels are open; returns their SCTP stream ids. */
  channelsOpen(): Promise<Record<string, number | null>>;
  /** Resolves with Date.now() taken just before publishData(). */
  publish(text: string, options: PublishOptions): Promise<number>;
  /** Sends a user DataPacket that claims another sender, written straight on a channel. */
  publishSpoofed(text: string, claimedIdentity: string, claimedSid: string, label: '_reliable' | '_lossy'): void;
  /** Writes raw bytes straight on a publisher channel (no DataPacket framing). */
  sendRaw(label: '_reliable' | '_lossy', bytes: number[] | { fill: number; length: number }): void;
  received(): ReceivedData[];
  remoteIdentities(): string[];
  /** 'connected', 'disconnected …' from room events. */
  state(): string;
  disconnect(): Promise<void>;
  version(): string;
}
