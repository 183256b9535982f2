// The contract between the e2e tests (Node, playwright) and the test page
// (browser): `window.sfuTest`. Plain serialisable data only and no DOM types,
// because the Node side type-checks this file without the DOM library.

import type { E2eeStats } from '../../../src/browser/e2ee/worker/types.ts';

/** E2EE on the test page (src/browser/e2ee/E2eeManager.ts); keys come from the test (setOwnKey/setPeerKey). */
export interface TestE2eeOptions {
  /** Transform mode; default `auto` (RTCRtpScriptTransform where available). */
  readonly mode?: 'auto' | 'script-transform' | 'encoded-streams';
}

/** Options of sfuTest.join(). */
export interface TestJoinOptions {
  /** Signalling URL; default `ws://<page host>/ws`. */
  readonly url?: string;
  readonly conference: string;
  readonly participant: string;
  readonly name?: string;
  /** Publish the (fake) camera; an object gives getUserMedia constraints. Default true. */
  readonly video?: boolean | { readonly width?: number; readonly height?: number; readonly frameRate?: number };
  /** Publish the (fake) microphone. Default true. */
  readonly audio?: boolean;
  /** Simulcast the camera. Default true. */
  readonly simulcast?: boolean;
  /** `relay` makes both PeerConnections use only TURN candidates (the join reply's TURN servers). Default `all`. */
  readonly iceTransportPolicy?: 'all' | 'relay';
  /**
   * Attach RTCRtpScriptTransforms to every sender and receiver: senders XOR
   * the frame payload past its unencrypted header, receivers undo it, both
   * count frames. Default false.
   */
  readonly transform?: boolean;
  /**
   * RFC 9605 SFrame E2EE on every sender and receiver, codecs restricted to
   * Opus/VP8/VP9. Senders drop frames until setOwnKey(); receivers drop frames
   * of participants without keys. Not together with `transform`. Default off.
   */
  readonly e2ee?: boolean | TestE2eeOptions;
  /**
   * Join through Matrix admission instead of dev admission: log in, publish the
   * call membership, trade an OpenID token for a JWT, connect with it.
   */
  readonly matrix?: {
    readonly homeserverUrl: string;
    readonly user: string;
    readonly password: string;
    readonly roomId: string;
    readonly sfuServiceUrl: string;
  };
}

/** Receiver-side numbers of one remote track (from inbound-rtp). */
export interface ConsumerStat {
  readonly consumerId: string;
  readonly participantId: string;
  readonly kind: 'audio' | 'video';
  readonly source: string;
  readonly framesDecoded: number;
  readonly frameWidth: number;
  readonly frameHeight: number;
  readonly packetsReceived: number;
  /** Audio: samples received, and how many of them the jitter buffer concealed (not decoded). */
  readonly totalSamplesReceived: number;
  readonly concealedSamples: number;
}

/** Sender-side numbers of one publication encoding (from outbound-rtp). */
export interface ProducerStat {
  readonly source: string;
  readonly kind: string;
  readonly rid: string | undefined;
  readonly frameWidth: number;
  readonly framesEncoded: number;
  readonly bytesSent: number;
}

/** A client event as recorded by the test page. */
export interface TestEvent {
  readonly name: string;
  /** performance.now() in the page when it was emitted. */
  readonly atMs: number;
  readonly data: Record<string, unknown>;
}

/** Frames seen by the test transforms. */
export interface TransformCounts {
  readonly sent: number;
  readonly received: number;
}

/** `window.sfuTest`. */
export interface SfuTestApi {
  join(options: TestJoinOptions): Promise<{ participantId: string }>;
  stats(): Promise<ConsumerStat[]>;
  publisherStats(): Promise<ProducerStat[]>;
  setPreferredLayers(consumerId: string, spatialLayer: number, temporalLayer?: number): Promise<void>;
  events(): TestEvent[];
  transformCounts(): TransformCounts;
  /** E2EE: our senders encrypt with this 16-byte key (32 hex digits) from now on. */
  setOwnKey(keyIndex: number, keyHex: string): void;
  /** E2EE: frames of `participantId` naming `keyIndex` decrypt with this key. */
  setPeerKey(participantId: string, keyIndex: number, keyHex: string): void;
  /** E2EE: forget a participant's keys. */
  removePeer(participantId: string): void;
  /** E2EE: our senders write this frame format from now on (receivers read both). */
  setFrameFormat(format: 'sframe' | 'livekit'): void;
  /** E2EE: fresh worker stats; undefined without e2ee. */
  e2eeStats(): Promise<E2eeStats | undefined>;
  /** E2EE: the transform mode in use; undefined without e2ee. */
  e2eeMode(): string | undefined;
  leave(): Promise<void>;
}
