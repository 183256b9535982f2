// An SFU-side tap for livekit-client E2EE tests: a DirectTransport consumer on the conference's
// router (the same hook as rtpTap.ts: `node.registry.get(id).router`, no production code) of
// one VP8 or Opus producer, so the tap sees exactly what the SFU forwards. It reassembles VP8
// frames (RFC 7741 descriptor, S bit with PID 0 … marker) or takes each Opus packet as a frame,
// and checks LiveKit's E2EE frame format, learned from livekit-client's FrameCryptor:
//
//   clear prefix (VP8 key frame 10 bytes, VP8 delta 3, Opus 1) ‖ AES-GCM ciphertext ‖ 16-byte tag
//   ‖ IV (12 bytes) ‖ IV length (1 byte, 12) ‖ key index (1 byte)
//
// with the prefix as AES-GCM additional data, and the key derived from the shared passphrase
// the way ExternalE2EEKeyProvider.setKey(string) does: PBKDF2-SHA-256, 100 000 iterations, salt
// "LKFrameEncryptionKey" → AES-GCM-128. Without a passphrase it only parses (the plaintext
// control). A VP8 key frame "parses as plaintext" when it has the start code, a size, and its
// first bool-coded header bits (color_space, clamping_type) are 0, as libvpx writes them; the
// tap asks that of the forwarded bytes and, under E2EE, of the decrypted ones.

import { webcrypto } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { parseRtp, parseVp8Descriptor } from './rtpTap.ts';

/** livekit-client's IV length (written in the trailer). */
const IV_LENGTH = 12;
const TRAILER_LENGTH = 2;
const TAG_LENGTH = 16;
const CLEAR_PREFIX = { key: 10, delta: 3, audio: 1 } as const;
/** KEY_PROVIDER_DEFAULTS.ratchetSalt: the PBKDF2 salt of a passphrase key. */
const LIVEKIT_SALT = 'LKFrameEncryptionKey';
const PBKDF2_ITERATIONS = 100_000;
/** Bytes of each frame's decrypted body the leak check looks for in the forwarded frame. */
const LEAK_PROBE_BYTES = 16;
const MAX_FAILURE_SAMPLES = 10;

/** The AES-GCM key livekit-client derives from a passphrase (ExternalE2EEKeyProvider.setKey(string)). */
export async function liveKitPassphraseKey(passphrase: string): Promise<webcrypto.CryptoKey> {
  const encoder = new TextEncoder();
  const material = await webcrypto.subtle.importKey('raw', encoder.encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return webcrypto.subtle.deriveKey(
    { name: 'PBKDF2', salt: encoder.encode(LIVEKIT_SALT), hash: 'SHA-256', iterations: PBKDF2_ITERATIONS },
    material,
    { name: 'AES-GCM', length: 128 },
    false,
    ['decrypt'],
  );
}

/** A VP8 key frame's uncompressed header (RFC 6386 §9.1), or undefined if `frame` is not one. */
export function vp8KeyFrameSize(frame: Uint8Array): { width: number; height: number; firstPartitionSize: number } | undefined {
  if (frame.length < 10 || (frame[0]! & 0x01) !== 0) return undefined;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  const firstPartitionSize = (frame[0]! | (frame[1]! << 8) | (frame[2]! << 16)) >> 5;
  return { width: (frame[6]! | (frame[7]! << 8)) & 0x3fff, height: (frame[8]! | (frame[9]! << 8)) & 0x3fff, firstPartitionSize };
}

/** The first two bool-coded bits of a VP8 key frame's first partition (RFC 6386 §7.3, §9.2): color_space, clamping_type. */
export function vp8KeyFrameHeaderBits(partition: Uint8Array): [number, number] | undefined {
  if (partition.length < 2) return undefined;
  let value = (partition[0]! << 8) | partition[1]!;
  let range = 255;
  let bitCount = 0;
  let next = 2;
  const readBit = (): number => {
    const split = 1 + (((range - 1) * 128) >> 8);
    const bigSplit = split << 8;
    let bit: number;
    if (value >= bigSplit) {
      bit = 1;
      range -= split;
      value -= bigSplit;
    } else {
      bit = 0;
      range = split;
    }
    while (range < 128) {
      value = (value << 1) & 0xffff;
      range <<= 1;
      if (++bitCount === 8) {
        bitCount = 0;
        value |= partition[next++] ?? 0;
      }
    }
    return bit;
  };
  return [readBit(), readBit()];
}

/** Whether a whole VP8 frame parses as a plaintext key frame (start code, size, color_space 0, clamping_type 0). */
export function parsesAsVp8PlaintextKeyFrame(frame: Uint8Array): boolean {
  const header = vp8KeyFrameSize(frame);
  if (!header || header.width === 0 || header.height === 0 || header.firstPartitionSize === 0 || 10 + header.firstPartitionSize > frame.length) return false;
  const bits = vp8KeyFrameHeaderBits(frame.subarray(10));
  return bits !== undefined && bits[0] === 0 && bits[1] === 0;
}

/** Options of LiveKitFrameTap.create(). */
export interface LiveKitFrameTapOptions {
  /** The conference's router: `node.registry.get(conferenceId)!.router`. */
  readonly router: ms.Router;
  /** A VP8 camera or Opus microphone producer. */
  readonly producerId: string;
  /** The shared E2EE passphrase; absent for a plaintext control (parse only). */
  readonly passphrase?: string;
  /** Ask the publisher for a key frame this often (video); default 500 ms. */
  readonly keyFrameRequestMs?: number;
  /**
   * Key indexes the trailer may carry; default [0] (livekit-client with one shared key).
   * Per-participant keys (Element Call, our widget) move to higher indexes as they rotate.
   */
  readonly keyIndexes?: readonly number[];
}

/** What the tap saw. */
export interface LiveKitFrameTapReport {
  readonly kind: 'audio' | 'video';
  /** Complete frames checked. */
  readonly frames: number;
  /** VP8 key frames (by the clear frame tag and start code). */
  readonly keyFrames: number;
  /** Frames lost to a missing packet (not checked). */
  readonly incompleteFrames: number;
  /** Frames ending in the trailer `IV length 12 ‖ key index` (one of `keyIndexes`, default 0). */
  readonly withTrailer: number;
  /** Frames whose ciphertext authenticated under the passphrase's key (0 without a passphrase). */
  readonly authenticated: number;
  /** Frames whose forwarded length is exactly the decrypted length + tag + IV + trailer. */
  readonly exactOverhead: number;
  /** Key frames whose forwarded bytes parse as a plaintext VP8 key frame. */
  readonly forwardedParsesAsPlaintext: number;
  /** Key frames whose decrypted bytes parse as a plaintext VP8 key frame. */
  readonly decryptedParsesAsPlaintext: number;
  /** Frames carrying the first bytes of their own decrypted body (an encryption bypass). */
  readonly plaintextLeaks: number;
  /** IVs seen more than once. */
  readonly repeatedIvs: number;
  /** Whether a frame was refused under a wrong key (the check is not vacuous); undefined before any. */
  readonly wrongKeyRejected: boolean | undefined;
  /** Sizes of the key frames seen, `WxH`. */
  readonly keyFrameSizes: string[];
  readonly failureSamples: string[];
}

interface FrameInProgress {
  readonly timestamp: number;
  nextSequence: number;
  readonly parts: Uint8Array[];
  broken: boolean;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** A tap on one producer; close() it (the transport is closed, the router is untouched). */
export class LiveKitFrameTap {
  readonly #transport: ms.DirectTransport;
  readonly #kind: 'audio' | 'video';
  readonly #payloadType: number;
  readonly #key: webcrypto.CryptoKey | undefined;
  readonly #wrongKey: webcrypto.CryptoKey | undefined;
  readonly #keyIndexes: ReadonlySet<number>;
  readonly #ivs = new Set<string>();
  readonly #keyFrameSizes = new Set<string>();
  readonly #failureSamples: string[] = [];
  readonly #timer: NodeJS.Timeout | undefined;
  #current: FrameInProgress | undefined;
  #work: Promise<void> = Promise.resolve();
  #counts = {
    frames: 0,
    keyFrames: 0,
    incompleteFrames: 0,
    withTrailer: 0,
    authenticated: 0,
    exactOverhead: 0,
    forwardedParsesAsPlaintext: 0,
    decryptedParsesAsPlaintext: 0,
    plaintextLeaks: 0,
    repeatedIvs: 0,
  };
  #wrongKeyRejected: boolean | undefined;

  /** Creates the DirectTransport and a consumer of the producer, and starts checking. */
  static async create(options: LiveKitFrameTapOptions): Promise<LiveKitFrameTap> {
    const [key, wrongKey] = options.passphrase === undefined ? [] : await Promise.all([liveKitPassphraseKey(options.passphrase), liveKitPassphraseKey(`${options.passphrase}-wrong`)]);
    const transport = await options.router.createDirectTransport();
    try {
      const consumer = await transport.consume({ producerId: options.producerId, rtpCapabilities: options.router.rtpCapabilities });
      const codec = consumer.rtpParameters.codecs.find((c) => /^(video\/VP8|audio\/opus)$/i.test(c.mimeType));
      if (!codec) throw new Error(`producer ${options.producerId} is neither VP8 nor Opus: ${consumer.rtpParameters.codecs.map((c) => c.mimeType).join(', ')}`);
      const timer =
        consumer.kind === 'video'
          ? setInterval(() => {
              consumer.requestKeyFrame().catch((error: unknown) => console.log(`[tap] key frame request failed: ${String(error)}`));
            }, options.keyFrameRequestMs ?? 500)
          : undefined;
      const tap = new LiveKitFrameTap(transport, consumer.kind, codec.payloadType, key, wrongKey, timer, new Set(options.keyIndexes ?? [0]));
      consumer.on('rtp', (packet: Buffer) => tap.#onPacket(packet));
      if (consumer.kind === 'video') await consumer.requestKeyFrame();
      return tap;
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  private constructor(
    transport: ms.DirectTransport,
    kind: 'audio' | 'video',
    payloadType: number,
    key: webcrypto.CryptoKey | undefined,
    wrongKey: webcrypto.CryptoKey | undefined,
    timer: NodeJS.Timeout | undefined,
    keyIndexes: ReadonlySet<number>,
  ) {
    this.#keyIndexes = keyIndexes;
    this.#transport = transport;
    this.#kind = kind;
    this.#payloadType = payloadType;
    this.#key = key;
    this.#wrongKey = wrongKey;
    this.#timer = timer;
  }

  /** Counts so far, after every frame received until now has been checked. */
  async report(): Promise<LiveKitFrameTapReport> {
    await this.#work;
    return {
      kind: this.#kind,
      ...this.#counts,
      wrongKeyRejected: this.#wrongKeyRejected,
      keyFrameSizes: [...this.#keyFrameSizes],
      failureSamples: [...this.#failureSamples],
    };
  }

  /** Stops tapping (closes the DirectTransport and its consumer) and returns the final report. */
  async close(): Promise<LiveKitFrameTapReport> {
    if (this.#timer) clearInterval(this.#timer);
    this.#transport.close();
    return this.report();
  }

  #onPacket(packet: Buffer): void {
    const rtp = parseRtp(packet);
    if (!rtp || rtp.payloadType !== this.#payloadType || rtp.payload.length === 0) return;
    if (this.#kind === 'audio') {
      const frame = Uint8Array.from(rtp.payload);
      this.#work = this.#work.then(() => this.#check(frame));
      return;
    }
    const vp8 = parseVp8Descriptor(rtp.payload);
    if (!vp8) return;
    if (vp8.startsFrame) {
      if (this.#current) this.#counts.incompleteFrames++;
      this.#current = { timestamp: rtp.timestamp, nextSequence: rtp.sequenceNumber, parts: [], broken: false };
    }
    const frame = this.#current;
    if (!frame) return; // joined mid-frame
    if (rtp.timestamp !== frame.timestamp || rtp.sequenceNumber !== frame.nextSequence) frame.broken = true;
    frame.nextSequence = (rtp.sequenceNumber + 1) & 0xffff;
    frame.parts.push(Uint8Array.from(vp8.data));
    if (!rtp.marker) return;
    this.#current = undefined;
    if (frame.broken) {
      this.#counts.incompleteFrames++;
      return;
    }
    const data = concat(frame.parts);
    this.#work = this.#work.then(() => this.#check(data));
  }

  #fail(reason: string): void {
    if (this.#failureSamples.length < MAX_FAILURE_SAMPLES) this.#failureSamples.push(`frame ${this.#counts.frames}: ${reason}`);
  }

  async #check(frame: Uint8Array): Promise<void> {
    const counts = this.#counts;
    counts.frames++;
    const keyFrame = this.#kind === 'video' && vp8KeyFrameSize(frame) !== undefined;
    const prefixLength = this.#kind === 'audio' ? CLEAR_PREFIX.audio : keyFrame ? CLEAR_PREFIX.key : CLEAR_PREFIX.delta;
    if (keyFrame) {
      counts.keyFrames++;
      const size = vp8KeyFrameSize(frame)!;
      this.#keyFrameSizes.add(`${size.width}x${size.height}`);
      if (parsesAsVp8PlaintextKeyFrame(frame)) counts.forwardedParsesAsPlaintext++;
    }
    const overhead = TAG_LENGTH + IV_LENGTH + TRAILER_LENGTH;
    const trailer = frame.length >= prefixLength + overhead && frame[frame.length - 2] === IV_LENGTH && this.#keyIndexes.has(frame[frame.length - 1]!);
    if (trailer) counts.withTrailer++;
    if (!this.#key) return;
    if (!trailer) return this.#fail(`no LiveKit trailer (${frame.length} bytes, ends ${Buffer.from(frame.subarray(-2)).toString('hex')})`);
    const ivStart = frame.length - TRAILER_LENGTH - IV_LENGTH;
    const iv = frame.subarray(ivStart, ivStart + IV_LENGTH);
    const ivHex = Buffer.from(iv).toString('hex');
    if (this.#ivs.has(ivHex)) counts.repeatedIvs++;
    this.#ivs.add(ivHex);
    const header = frame.subarray(0, prefixLength);
    const sealed = frame.subarray(prefixLength, ivStart);
    const decrypt = (key: webcrypto.CryptoKey) => webcrypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: header }, key, sealed);
    if (this.#wrongKeyRejected === undefined && this.#wrongKey) {
      this.#wrongKeyRejected = await decrypt(this.#wrongKey).then(
        () => false,
        () => true,
      );
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await decrypt(this.#key));
    } catch (error) {
      return this.#fail(`does not authenticate: ${error instanceof Error ? error.message : String(error)}`);
    }
    counts.authenticated++;
    if (frame.length === prefixLength + body.length + overhead) counts.exactOverhead++;
    const probe = body.subarray(0, LEAK_PROBE_BYTES);
    if (probe.length === LEAK_PROBE_BYTES && contains(frame.subarray(prefixLength), probe)) {
      counts.plaintextLeaks++;
      this.#fail('carries its own plaintext');
    }
    if (keyFrame && parsesAsVp8PlaintextKeyFrame(concat([header, body]))) counts.decryptedParsesAsPlaintext++;
  }
}
