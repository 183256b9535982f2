// The per-frame transform of one RTCRtpSender or RTCRtpReceiver (livekit client-sdk-js
// `FrameCryptor` shape): senders turn each encoded frame into the call's format, RFC 9605
// clear prefix ‖ SFrame(header ‖ ciphertext ‖ tag) (frame.ts) or LiveKit's clear prefix ‖
// ciphertext ‖ tag ‖ IV ‖ trailer (livekitFrame.ts); receivers undo either, per frame. A frame that
// cannot be encrypted or decrypted is DROPPED and counted, never passed on: no plaintext leaves a
// sender and no unauthenticated bytes reach a decoder. Empty frames pass through untouched.
//
// transform() never throws: a throw inside a TransformStream errors the stream and the track
// would stay dead for the rest of the call. Frames of one transform are processed one at a time
// in arrival order (the stream awaits each), and the spec forbids reordering them anyway.

import { isE2eeCodecAllowed } from '../../../common/e2ee/codecPrefix.ts';
import { SFrameError } from '../../../common/e2ee/errors.ts';
import { decryptFrame, encryptFrame, makeKid, parseSFrameAfterPrefix, splitKid } from '../../../common/e2ee/frame.ts';
import { decryptLiveKitFrame, encryptLiveKitFrame, liveKitIv, parseLiveKitTrailer } from '../../../common/e2ee/livekitFrame.ts';
import { MAX_RATCHET_STEPS } from '../../../common/e2ee/ratchet.ts';
import type { SFrameKey } from '../../../common/e2ee/types.ts';
import { DEFAULT_MIME_TYPE_BY_KIND, KEY_FRAME_REQUEST_INTERVAL_MS } from './constants.ts';
import type { FrameCounters } from './FrameCounters.ts';
import { KeySlotWipedError, type KeySlot } from './KeySlot.ts';
import type { PeerRecord } from './PeerRecord.ts';
import type { DropReason, FrameFormat } from './types.ts';

/**
 * The part of RTCEncodedVideoFrame / RTCEncodedAudioFrame the cryptor uses (structural, so Node
 * tests can pass plain objects). Audio frames have no `type`.
 */
export interface EncodedFrame {
  data: ArrayBuffer;
  readonly type?: string;
  getMetadata(): { readonly mimeType?: string };
}

/** Our current own key, as the sender side sees it. */
export interface OwnKey {
  readonly keyIndex: number;
  readonly slot: KeySlot;
  /** The next CTR under a KID (ParticipantKeyring.nextCounter), undefined when exhausted. */
  readonly nextCounter: (kid: bigint) => bigint | undefined;
}

interface CommonOptions {
  readonly kind: 'audio' | 'video';
  /** Asks the encoder (send) or the remote sender (receive) for a key frame; absent in the createEncodedStreams fallback. */
  readonly requestKeyFrame?: () => void;
  /** Monotonic milliseconds (performance.now); injectable for tests. */
  readonly nowMs?: () => number;
}

/** A sender transform: encrypts with our current key under its own sender index. */
export interface EncryptOptions extends CommonOptions {
  readonly side: 'send';
  readonly senderIndex: number;
  readonly ownKey: () => OwnKey | undefined;
  /** The format to write, read per frame (the call's format may change at any time). */
  readonly format: () => FrameFormat;
  /** 32 random bits per worker, the first third of every LiveKit-format IV (livekitFrame.ts liveKitIv). */
  readonly nonceSalt: number;
  readonly counters: FrameCounters;
}

/** A receiver transform: decrypts with the publisher's keyring. */
export interface DecryptOptions extends CommonOptions {
  readonly side: 'receive';
  /** The publisher's record; looked up per frame because removePeer() may replace it. */
  readonly peer: () => PeerRecord;
}

/** Options of a FrameCryptor. */
export type FrameCryptorOptions = EncryptOptions | DecryptOptions;

type Outcome = { readonly frame: Uint8Array; readonly format: FrameFormat } | { readonly drop: DropReason };

/** A way to read one received frame: its format, the key slot it names, and the AEAD attempt. */
interface Candidate {
  readonly format: FrameFormat;
  readonly keyIndex: number;
  readonly slot: KeySlot;
  readonly previous: KeySlot | undefined;
  /** The frame decrypted under `slot`'s key, or undefined when its tag does not verify. */
  readonly open: (slot: KeySlot) => Promise<Uint8Array | undefined>;
}

/** Undefined for an authentication failure; other errors propagate (transform() maps them). */
async function unlessAuthFailed(run: () => Promise<Uint8Array>): Promise<Uint8Array | undefined> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof SFrameError && error.reason === 'auth-failed') return undefined;
    throw error;
  }
}

/** The frame read as SFrame, or why it cannot be: `bad-frame` (no header) or `missing-key`. */
function sframeCandidate(peer: PeerRecord, mimeType: string, data: Uint8Array): Candidate | 'bad-frame' | 'missing-key' {
  const header = parseSFrameAfterPrefix(mimeType, data);
  if (!header) return 'bad-frame';
  const fields = splitKid(header.kid);
  const slot = fields ? peer.keyring.get(fields.keyIndex) : undefined;
  if (!fields || !slot) return 'missing-key';
  const kid = header.kid;
  const open = async (candidate: KeySlot): Promise<Uint8Array | undefined> => {
    const key: SFrameKey = await candidate.keyFor(kid);
    return unlessAuthFailed(async () => (await decryptFrame((wanted) => (wanted === kid ? key : undefined), mimeType, data)).frame);
  };
  return { format: 'sframe', keyIndex: fields.keyIndex, slot, previous: peer.keyring.previous(fields.keyIndex), open };
}

/** The frame read as LiveKit's format (livekitFrame.ts), or why it cannot be. */
function liveKitCandidate(peer: PeerRecord, mimeType: string, data: Uint8Array): Candidate | 'bad-frame' | 'missing-key' {
  const trailer = parseLiveKitTrailer(mimeType, data);
  if (!trailer) return 'bad-frame';
  const slot = peer.keyring.get(trailer.keyIndex);
  if (!slot) return 'missing-key';
  const open = async (candidate: KeySlot): Promise<Uint8Array | undefined> => {
    const key = await candidate.liveKitKey();
    return unlessAuthFailed(() => decryptLiveKitFrame(key, mimeType, data));
  };
  return { format: 'livekit', keyIndex: trailer.keyIndex, slot, previous: peer.keyring.previous(trailer.keyIndex), open };
}

function reasonOf(error: unknown): DropReason {
  if (error instanceof KeySlotWipedError) return 'missing-key';
  if (!(error instanceof SFrameError)) return 'internal-error';
  switch (error.reason) {
    case 'auth-failed':
      return 'auth-failed';
    case 'unknown-kid':
      return 'missing-key';
    case 'unsupported-codec':
      return 'unsupported-codec';
    case 'bad-header':
    case 'bad-frame':
      return 'bad-frame';
    default:
      return 'internal-error';
  }
}

/** Encrypts or decrypts the frames of one sender or receiver. */
export class FrameCryptor {
  readonly #options: FrameCryptorOptions;
  readonly #nowMs: () => number;
  #lastKeyFrameRequestMs = Number.NEGATIVE_INFINITY;
  /** Send side: frames were dropped for want of a key, or the format changed, so the next encrypted one should be a key frame. */
  #wantKeyFrame = false;
  /** Send side: the format of the last frame written. */
  #lastFormat: FrameFormat | undefined;

  constructor(options: FrameCryptorOptions) {
    this.#options = options;
    this.#nowMs = options.nowMs ?? (() => performance.now());
  }

  get side(): 'send' | 'receive' {
    return this.#options.side;
  }

  /** Returns the frame to pass on (its data replaced), or undefined to drop it. Never throws. */
  async transform<F extends EncodedFrame>(frame: F): Promise<F | undefined> {
    const options = this.#options;
    const data = new Uint8Array(frame.data);
    if (data.length === 0 || frame.type === 'empty') {
      this.#countEmpty();
      return frame;
    }
    const mimeType = this.#mimeTypeOf(frame);
    let outcome: Outcome;
    try {
      if (!isE2eeCodecAllowed(mimeType)) outcome = { drop: 'unsupported-codec' };
      else outcome = options.side === 'send' ? await this.#encrypt(options, mimeType, data) : await this.#decrypt(options, mimeType, data);
    } catch (error) {
      outcome = { drop: reasonOf(error) };
    }
    if ('drop' in outcome) {
      this.#countDrop(outcome.drop);
      return undefined;
    }
    // A fresh Uint8Array owns its whole buffer, so the buffer is exactly the frame.
    frame.data = outcome.frame.buffer as ArrayBuffer;
    this.#countProcessed(outcome.format);
    return frame;
  }

  #mimeTypeOf(frame: EncodedFrame): string {
    let mimeType: string | undefined;
    try {
      mimeType = frame.getMetadata().mimeType;
    } catch {
      mimeType = undefined;
    }
    return mimeType ?? DEFAULT_MIME_TYPE_BY_KIND[this.#options.kind];
  }

  async #encrypt(options: EncryptOptions, mimeType: string, data: Uint8Array): Promise<Outcome> {
    const own = options.ownKey();
    if (!own) {
      this.#wantKeyFrame = true;
      return { drop: 'no-own-key' };
    }
    const format = options.format();
    if (format !== this.#lastFormat) {
      // Receivers that could not read the previous format (Element Call after a switch to
      // LiveKit's) need a key frame to start decoding.
      if (this.#lastFormat !== undefined) this.#wantKeyFrame = true;
      this.#lastFormat = format;
    }
    // Taken synchronously, before any await: no two frames ever share a CTR (RFC 9605 §9.1) or,
    // in LiveKit's format, an IV (the counter is part of it). One counter per KID serves both.
    const kid = makeKid(options.senderIndex, own.keyIndex);
    const ctr = own.nextCounter(kid);
    if (ctr === undefined) return { drop: 'counter-exhausted' };
    let frame: Uint8Array;
    if (format === 'livekit') {
      const iv = liveKitIv(options.nonceSalt, kid, ctr);
      frame = await encryptLiveKitFrame(await own.slot.liveKitKey(), iv, own.keyIndex, mimeType, data);
    } else {
      frame = await encryptFrame(await own.slot.keyFor(kid), ctr, mimeType, data);
    }
    if (this.#wantKeyFrame) {
      // RFC 9605 §6.2: after a key change, a key frame spares receivers a wait. Here the frames
      // before the first key were dropped, so receivers have nothing to decode from.
      this.#wantKeyFrame = false;
      this.#requestKeyFrame();
    }
    return { frame, format };
  }

  /**
   * Receivers read both formats, per frame (src/common/e2ee/README.md §12): first the cheap
   * attempts (the key at the frame's index and the one it replaced) in the format this peer
   * used last, then in the other; only if all fail, the bounded forward ratchet, in the same
   * order. A frame of either format passes only if its AEAD tag verifies.
   */
  async #decrypt(options: DecryptOptions, mimeType: string, data: Uint8Array): Promise<Outcome> {
    const peer = options.peer();
    const order: readonly FrameFormat[] = peer.lastFormat === 'livekit' ? ['livekit', 'sframe'] : ['sframe', 'livekit'];
    const candidates: Candidate[] = [];
    for (const format of order) {
      const candidate = format === 'livekit' ? liveKitCandidate(peer, mimeType, data) : sframeCandidate(peer, mimeType, data);
      if (typeof candidate === 'string') continue;
      candidates.push(candidate);
    }
    if (candidates.length === 0) {
      const anyHeader = parseSFrameAfterPrefix(mimeType, data) !== undefined || parseLiveKitTrailer(mimeType, data) !== undefined;
      return { drop: anyHeader ? 'missing-key' : 'bad-frame' };
    }
    for (const candidate of candidates) {
      const plain = (await candidate.open(candidate.slot)) ?? (candidate.previous ? await candidate.open(candidate.previous) : undefined);
      if (plain) return { frame: plain, format: candidate.format };
    }
    // Bounded forward ratchet (ratchet.ts): the sender may have ratcheted its key for a joiner
    // without telling us. The chain is cached in the slot, so each step costs one AEAD attempt.
    for (const candidate of candidates) {
      for (let steps = 1; steps <= MAX_RATCHET_STEPS; steps++) {
        const ratcheted = await candidate.slot.ratcheted(steps);
        const opened = await candidate.open(ratcheted);
        if (!opened) continue;
        if (peer.keyring.adopt(candidate.keyIndex, candidate.slot, ratcheted)) peer.ratchetsAdopted++;
        return { frame: opened, format: candidate.format };
      }
    }
    return { drop: 'auth-failed' };
  }

  #countEmpty(): void {
    const options = this.#options;
    if (options.side === 'send') options.counters.empty++;
    else options.peer().counters(options.kind).empty++;
  }

  #countDrop(reason: DropReason): void {
    const options = this.#options;
    if (options.side === 'send') options.counters.drop(reason);
    else options.peer().dropped(options.kind, reason);
  }

  #countProcessed(format: FrameFormat): void {
    const options = this.#options;
    if (options.side === 'send') {
      options.counters.processed++;
      if (format === 'livekit') options.counters.livekit++;
      return;
    }
    // Decoding resumes only at a key frame once frames were dropped; ask for one at once rather
    // than waiting for the decoder's own stall timeout.
    if (options.peer().decrypted(options.kind, format) && options.kind === 'video') this.#requestKeyFrame();
  }

  #requestKeyFrame(): void {
    const request = this.#options.requestKeyFrame;
    if (!request || this.#options.kind !== 'video') return;
    const now = this.#nowMs();
    if (now - this.#lastKeyFrameRequestMs < KEY_FRAME_REQUEST_INTERVAL_MS) return;
    this.#lastKeyFrameRequestMs = now;
    request();
  }
}
