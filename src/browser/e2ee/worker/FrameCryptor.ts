// The per-frame transform of one RTCRtpSender or RTCRtpReceiver (livekit client-sdk-js
// `FrameCryptor` shape, RFC 9605 frames): senders turn each encoded frame into
// clear prefix ‖ SFrame(header ‖ ciphertext ‖ tag) (frame.ts), receivers undo it. A frame that
// cannot be encrypted or decrypted is DROPPED and counted, never passed on: no plaintext leaves a
// sender and no unauthenticated bytes reach a decoder. Empty frames pass through untouched.
//
// transform() never throws: a throw inside a TransformStream errors the stream and the track
// would stay dead for the rest of the call. Frames of one transform are processed one at a time
// in arrival order (the stream awaits each), and the spec forbids reordering them anyway.

import { isE2eeCodecAllowed } from '../../../common/e2ee/codecPrefix.ts';
import { SFrameError } from '../../../common/e2ee/errors.ts';
import { decryptFrame, encryptFrame, makeKid, parseSFrameAfterPrefix, splitKid } from '../../../common/e2ee/frame.ts';
import { MAX_RATCHET_STEPS } from '../../../common/e2ee/ratchet.ts';
import type { SFrameKey } from '../../../common/e2ee/types.ts';
import { DEFAULT_MIME_TYPE_BY_KIND, KEY_FRAME_REQUEST_INTERVAL_MS } from './constants.ts';
import type { FrameCounters } from './FrameCounters.ts';
import { KeySlotWipedError, type KeySlot } from './KeySlot.ts';
import type { PeerRecord } from './PeerRecord.ts';
import type { DropReason } from './types.ts';

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

type Outcome = { readonly frame: Uint8Array } | { readonly drop: DropReason };

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
  /** Send side: frames were dropped for want of a key, so the next encrypted one should be a key frame. */
  #wantKeyFrame = false;

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
    this.#countProcessed();
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
    // Taken synchronously, before any await: no two frames ever share a CTR (RFC 9605 §9.1).
    const kid = makeKid(options.senderIndex, own.keyIndex);
    const ctr = own.nextCounter(kid);
    if (ctr === undefined) return { drop: 'counter-exhausted' };
    const key = await own.slot.keyFor(kid);
    const frame = await encryptFrame(key, ctr, mimeType, data);
    if (this.#wantKeyFrame) {
      // RFC 9605 §6.2: after a key change, a key frame spares receivers a wait. Here the frames
      // before the first key were dropped, so receivers have nothing to decode from.
      this.#wantKeyFrame = false;
      this.#requestKeyFrame();
    }
    return { frame };
  }

  async #decrypt(options: DecryptOptions, mimeType: string, data: Uint8Array): Promise<Outcome> {
    const header = parseSFrameAfterPrefix(mimeType, data);
    if (!header) return { drop: 'bad-frame' };
    const fields = splitKid(header.kid);
    if (!fields) return { drop: 'missing-key' };
    const peer = options.peer();
    const slot = peer.keyring.get(fields.keyIndex);
    if (!slot) return { drop: 'missing-key' };
    const kid = header.kid;
    const attempt = async (candidate: KeySlot): Promise<Uint8Array | undefined> => {
      const key: SFrameKey = await candidate.keyFor(kid);
      try {
        return (await decryptFrame((wanted) => (wanted === kid ? key : undefined), mimeType, data)).frame;
      } catch (error) {
        if (error instanceof SFrameError && error.reason === 'auth-failed') return undefined;
        throw error;
      }
    };
    const plain = await attempt(slot);
    if (plain) return { frame: plain };
    // A frame sealed just before the sender replaced the key at this index (ParticipantKeyring).
    const previous = peer.keyring.previous(fields.keyIndex);
    const late = previous ? await attempt(previous) : undefined;
    if (late) return { frame: late };
    // Bounded forward ratchet (ratchet.ts): the sender may have ratcheted its key for a joiner
    // without telling us. The chain is cached in the slot, so each step costs one AEAD attempt.
    for (let steps = 1; steps <= MAX_RATCHET_STEPS; steps++) {
      const candidate = await slot.ratcheted(steps);
      const opened = await attempt(candidate);
      if (!opened) continue;
      if (peer.keyring.adopt(fields.keyIndex, slot, candidate)) peer.ratchetsAdopted++;
      return { frame: opened };
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

  #countProcessed(): void {
    const options = this.#options;
    if (options.side === 'send') {
      options.counters.processed++;
      return;
    }
    // Decoding resumes only at a key frame once frames were dropped; ask for one at once rather
    // than waiting for the decoder's own stall timeout.
    if (options.peer().decrypted(options.kind) && options.kind === 'video') this.#requestKeyFrame();
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
