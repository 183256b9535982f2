// An SFU-side RTP tap for E2EE tests: a DirectTransport on the conference's router consumes one
// VP8 producer (mediasoup 3.12 DirectTransport consumers emit 'rtp' with each packet Buffer), so
// the tap sees exactly what the SFU forwards. It parses RTP and the VP8 payload descriptor
// (RFC 7741), reassembles frames (start bit S with PID 0 … marker bit) and checks that EVERY
// complete frame is clear prefix (10 bytes on key frames, 3 on delta) ‖ SFrame header with the
// expected KID and a strictly increasing CTR ‖ ciphertext that authenticates under the test's
// key, and that no frame carries its own plaintext. Keys never leave the test process.

import type { types as ms } from 'mediasoup';
import { decryptFrame, parseSFrameAfterPrefix, splitKid } from '../../src/common/e2ee/frame.ts';
import { deriveSFrameKey } from '../../src/common/e2ee/sframe.ts';
import type { SFrameKey } from '../../src/common/e2ee/types.ts';
import { E2EE_CIPHER_SUITE } from '../../src/browser/e2ee/worker/constants.ts';

const VP8 = 'video/VP8';
/** How many failure descriptions a report keeps. */
const MAX_FAILURE_SAMPLES = 10;
/** Bytes of each frame's plaintext body the leak check looks for in the forwarded frame. */
const LEAK_PROBE_BYTES = 16;

/** Options of RtpTap.create(). */
export interface RtpTapOptions {
  /** The conference's router: `node.registry.get(conferenceId)!.router`. */
  readonly router: ms.Router;
  /** The publisher's camera producer (VP8). */
  readonly producerId: string;
  /** The publisher's base keys by key index, as the test set them. */
  readonly keys: ReadonlyMap<number, Uint8Array>;
  /** The KID sender index the publisher's camera must use. */
  readonly senderIndex: number;
}

/** What the tap saw. `frames` = `authenticated` + frames with a failure. */
export interface RtpTapReport {
  /** VP8 packets with a payload. */
  readonly packets: number;
  /** Complete frames checked. */
  readonly frames: number;
  readonly keyFrames: number;
  readonly deltaFrames: number;
  /** Frames with a missing packet (not checked; loopback should have none). */
  readonly incompleteFrames: number;
  /** Frames whose SFrame ciphertext authenticated under the expected key. */
  readonly authenticated: number;
  /** Frames failing any check. */
  readonly failures: number;
  readonly failureSamples: string[];
  /** Distinct KIDs seen, hex. */
  readonly kids: string[];
  /** Frames whose CTR did not exceed the previous CTR of their KID. */
  readonly ctrNotIncreasing: number;
  /** Frames that carry the first bytes of their own plaintext body (an encryption bypass). */
  readonly plaintextLeaks: number;
  /** Whether a frame was refused under a wrong key (the check is not vacuous); undefined before any frame. */
  readonly wrongKeyRejected: boolean | undefined;
}

interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

interface FrameInProgress {
  readonly timestamp: number;
  nextSequence: number;
  readonly parts: Uint8Array[];
  broken: boolean;
}

/** Parses an RTP packet (RFC 3550 §5.1): CSRCs, header extension and padding skipped. */
export function parseRtp(packet: Uint8Array): RtpPacket | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let offset = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) {
    if (offset + 4 > packet.length) return undefined;
    offset += 4 + 4 * view.getUint16(offset + 2);
  }
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[end - 1]!;
  if (offset > end) return undefined;
  return {
    payloadType: packet[1]! & 0x7f,
    marker: (packet[1]! & 0x80) !== 0,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    payload: packet.subarray(offset, end),
  };
}

/** Parses the VP8 payload descriptor (RFC 7741 §4.2); returns whether the packet starts a frame and the rest. */
export function parseVp8Descriptor(payload: Uint8Array): { readonly startsFrame: boolean; readonly data: Uint8Array } | undefined {
  const first = payload[0];
  if (first === undefined) return undefined;
  let offset = 1;
  if (first & 0x80) {
    const extension = payload[offset++];
    if (extension === undefined) return undefined;
    if (extension & 0x80) offset += (payload[offset] ?? 0) & 0x80 ? 2 : 1; // PictureID, 7 or 15 bits
    if (extension & 0x40) offset += 1; // TL0PICIDX
    if (extension & 0x30) offset += 1; // TID / Y / KEYIDX
  }
  if (offset > payload.length) return undefined;
  return { startsFrame: (first & 0x10) !== 0 && (first & 0x07) === 0, data: payload.subarray(offset) };
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
export class RtpTap {
  readonly #options: RtpTapOptions;
  readonly #transport: ms.DirectTransport;
  readonly #payloadType: number;
  readonly #derived = new Map<string, Promise<SFrameKey>>();
  readonly #lastCtr = new Map<bigint, bigint>();
  readonly #kids = new Set<bigint>();
  readonly #failureSamples: string[] = [];
  #current: FrameInProgress | undefined;
  #work: Promise<void> = Promise.resolve();
  #packets = 0;
  #frames = 0;
  #keyFrames = 0;
  #incomplete = 0;
  #authenticated = 0;
  #failures = 0;
  #ctrNotIncreasing = 0;
  #plaintextLeaks = 0;
  #wrongKeyRejected: boolean | undefined;

  /** Creates the DirectTransport and a consumer of the producer, and starts checking. */
  static async create(options: RtpTapOptions): Promise<RtpTap> {
    const transport = await options.router.createDirectTransport();
    try {
      const consumer = await transport.consume({ producerId: options.producerId, rtpCapabilities: options.router.rtpCapabilities });
      const codec = consumer.rtpParameters.codecs.find((c) => c.mimeType.toLowerCase() === VP8.toLowerCase());
      if (!codec) throw new Error(`producer ${options.producerId} is not VP8`);
      const tap = new RtpTap(options, transport, codec.payloadType);
      consumer.on('rtp', (packet: Buffer) => tap.#onPacket(packet));
      await consumer.requestKeyFrame();
      return tap;
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  private constructor(options: RtpTapOptions, transport: ms.DirectTransport, payloadType: number) {
    this.#options = options;
    this.#transport = transport;
    this.#payloadType = payloadType;
  }

  /** Counts so far, after every frame received until now has been checked. */
  async report(): Promise<RtpTapReport> {
    await this.#work;
    return {
      packets: this.#packets,
      frames: this.#frames,
      keyFrames: this.#keyFrames,
      deltaFrames: this.#frames - this.#keyFrames,
      incompleteFrames: this.#incomplete,
      authenticated: this.#authenticated,
      failures: this.#failures,
      failureSamples: [...this.#failureSamples],
      kids: [...this.#kids].map((kid) => `0x${kid.toString(16)}`),
      ctrNotIncreasing: this.#ctrNotIncreasing,
      plaintextLeaks: this.#plaintextLeaks,
      wrongKeyRejected: this.#wrongKeyRejected,
    };
  }

  /** Stops tapping (closes the DirectTransport and its consumer) and returns the final report. */
  async close(): Promise<RtpTapReport> {
    this.#transport.close();
    return this.report();
  }

  #onPacket(packet: Buffer): void {
    const rtp = parseRtp(packet);
    if (!rtp || rtp.payloadType !== this.#payloadType || rtp.payload.length === 0) return;
    const vp8 = parseVp8Descriptor(rtp.payload);
    if (!vp8) return;
    this.#packets++;
    if (vp8.startsFrame) {
      if (this.#current) this.#incomplete++;
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
      this.#incomplete++;
      return;
    }
    const data = concat(frame.parts);
    this.#work = this.#work.then(() => this.#check(data));
  }

  async #check(frame: Uint8Array): Promise<void> {
    this.#frames++;
    const keyFrame = ((frame[0] ?? 1) & 0x01) === 0;
    if (keyFrame) this.#keyFrames++;
    const failure = await this.#verify(frame, keyFrame).catch((error: unknown) => `check threw ${String(error)}`);
    if (failure === undefined) {
      this.#authenticated++;
      return;
    }
    this.#failures++;
    if (this.#failureSamples.length < MAX_FAILURE_SAMPLES) this.#failureSamples.push(`frame ${this.#frames}: ${failure}`);
  }

  /** Returns why the frame fails, or undefined when it is a well-formed, authentic SFrame ciphertext. */
  async #verify(frame: Uint8Array, keyFrame: boolean): Promise<string | undefined> {
    const header = parseSFrameAfterPrefix(VP8, frame);
    if (!header) return `no SFrame header after the clear prefix (${frame.length} bytes)`;
    if (header.prefixLength !== (keyFrame ? 10 : 3)) return `clear prefix of ${header.prefixLength} bytes`;
    const fields = splitKid(header.kid);
    if (!fields || fields.senderIndex !== this.#options.senderIndex) return `unexpected KID 0x${header.kid.toString(16)}`;
    const baseKey = this.#options.keys.get(fields.keyIndex);
    if (!baseKey) return `KID 0x${header.kid.toString(16)} names key index ${fields.keyIndex}, which the test never set`;
    this.#kids.add(header.kid);
    const last = this.#lastCtr.get(header.kid);
    this.#lastCtr.set(header.kid, header.ctr);
    if (last !== undefined && header.ctr <= last) {
      this.#ctrNotIncreasing++;
      return `CTR ${header.ctr} after ${last} under KID 0x${header.kid.toString(16)}`;
    }
    if (this.#wrongKeyRejected === undefined) {
      const wrong = await deriveSFrameKey(E2EE_CIPHER_SUITE, new Uint8Array(16).fill(0x5a), header.kid);
      this.#wrongKeyRejected = await decryptFrame(() => wrong, VP8, frame).then(
        () => false,
        () => true,
      );
    }
    const key = await this.#key(fields.keyIndex, baseKey, header.kid);
    let plaintext: Uint8Array;
    try {
      plaintext = (await decryptFrame((kid) => (kid === header.kid ? key : undefined), VP8, frame)).frame;
    } catch (error) {
      return `does not authenticate: ${error instanceof Error ? error.message : String(error)}`;
    }
    const probe = plaintext.subarray(header.prefixLength, header.prefixLength + LEAK_PROBE_BYTES);
    if (probe.length === LEAK_PROBE_BYTES && contains(frame.subarray(header.prefixLength), probe)) {
      this.#plaintextLeaks++;
      return 'carries its own plaintext';
    }
    return undefined;
  }

  #key(keyIndex: number, baseKey: Uint8Array, kid: bigint): Promise<SFrameKey> {
    const id = `${keyIndex}:${kid}`;
    let key = this.#derived.get(id);
    if (!key) {
      key = deriveSFrameKey(E2EE_CIPHER_SUITE, baseKey, kid);
      this.#derived.set(id, key);
    }
    return key;
  }
}
