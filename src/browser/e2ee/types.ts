// Types of the main-thread side of E2EE: the transform modes, and structural stand-ins for the
// Worker, RTCRtpSender/RTCRtpReceiver and RTCRtpScriptTransform it touches. Structural on purpose:
// the real DOM objects fit them, the root (Node) type-check and Node unit tests can use fakes,
// and Chromium's createEncodedStreams() (missing from the DOM typings) gets a declared shape.

import type { MediaSource } from '../../common/protocol/messages.ts';
import type { DecryptState, E2eeStats } from './worker/types.ts';

/**
 * How frames reach the worker.
 * - `script-transform`: `RTCRtpScriptTransform` (W3C WebRTC Encoded Transform; Chrome 141+,
 *   Firefox 117+, Safari). The standard; it also lets the worker request key frames.
 * - `encoded-streams`: Chromium's legacy `createEncodedStreams()`, streams transferred to the
 *   worker. Needs `encodedInsertableStreams: true` on the PeerConnections. LiveKit and Element
 *   Call use it on Chromium after sporadic script-transform failures on Chrome 141
 *   (src/common/e2ee/README.md §10).
 * - `auto`: `script-transform` where `RTCRtpScriptTransform` exists, else `encoded-streams`.
 */
export type E2eeTransformMode = 'auto' | 'script-transform' | 'encoded-streams';

/** The Worker running the bundled e2ee worker (dist/client/e2ee-worker.js). A DOM Worker fits. */
export interface E2eeWorkerPort {
  postMessage(message: unknown, transfer: unknown[]): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  terminate(): void;
}

/** What a transform is attached to: an RTCRtpSender or RTCRtpReceiver. */
export interface TransformTarget {
  transform: unknown;
  /** Chromium only, and only with `encodedInsertableStreams` set on the PeerConnection. */
  createEncodedStreams?(): { readonly readable: unknown; readonly writable: unknown };
}

/** `new RTCRtpScriptTransform(worker, options)`. */
export type ScriptTransformConstructor = new (worker: E2eeWorkerPort, options: unknown) => unknown;

/** The sender hook's view of a publication (SfuClient's SenderTransformInfo fits). */
export interface E2eeSenderInfo {
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
}

/** The receiver hook's view of a consumer (SfuClient's ReceiverTransformInfo fits). */
export interface E2eeReceiverInfo {
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly participantId: string;
}

/** Hooks to pass as SfuClient's `transforms` (they fit EncodedTransforms). */
export interface E2eeTransforms {
  sender(sender: TransformTarget, info: E2eeSenderInfo): void;
  receiver(receiver: TransformTarget, info: E2eeReceiverInfo): void;
}

/** Log sink of the manager (a Console or the client's logger fits). Never receives keys. */
export interface E2eeLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Options of `new E2eeManager()`. */
export interface E2eeManagerOptions {
  /** The started e2ee worker; the manager owns it from now on and terminates it in close(). */
  readonly worker: E2eeWorkerPort;
  /** Transform mode. Default `auto`. */
  readonly mode?: E2eeTransformMode;
  /** RTCRtpScriptTransform to use. Default `globalThis.RTCRtpScriptTransform`; tests inject a fake. */
  readonly scriptTransform?: ScriptTransformConstructor;
  /** Whether createEncodedStreams() exists. Default: probed on `RTCRtpSender.prototype`. */
  readonly encodedStreamsSupported?: boolean;
  /** How long getStats() waits for the worker. Default 5000 ms. */
  readonly statsTimeoutMs?: number;
  /** Default: the console, warnings only. */
  readonly logger?: E2eeLogger;
}

/** Events of E2eeManager. */
export type E2eeManagerEvents = {
  /** Every stats message of the worker (about once a second, and each getStats()). */
  stats: [E2eeStats];
  /** A participant's decrypt state changed (from the stats). */
  decryptStateChanged: [{ readonly participantId: string; readonly state: DecryptState }];
};
