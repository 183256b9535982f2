// RTP packets of the load generator: a VP8 publisher with a real payload descriptor
// (RFC 7741: X and I bits set, 15-bit picture ID, key frames with the 10-byte key-frame
// header mediasoup reads dimensions from; for simulcast layers also TL0PICIDX and the
// temporal layer id of an L1T3 pattern, and the rid header extension) and an Opus
// publisher at 50 packets/s. Each packet carries a tag after the codec header (magic with
// the stream's spatial layer, the stream key naming the published track, the stream's
// packet counter, the send time), so a subscriber can match what arrives to what was sent,
// per layer, even though the SFU rewrites SSRCs and sequence numbers, and without knowing
// the signalling's ids of the track (producer id on one edge, track sid on the other). Parsing is bounded by the buffer and never throws. RTCP (sender
// reports, key-frame requests, NACKs) lives in rtcp.ts.

/** Bytes of the RTP fixed header the generator writes (no CSRC, no extension). */
export const RTP_HEADER_BYTES = 12;
/** Magic at the start of each tag: "LDT", then one byte: the stream's spatial layer (0 for non-simulcast streams). */
const TAG_MAGIC = 0x4c_4454;
/** Bytes of one tag: magic and layer, stream key, counter, send time in ms (float64). */
export const TAG_BYTES = 20;
/** Largest RTP payload of one video packet. */
export const MAX_VIDEO_PAYLOAD = 1100;

/** What a subscriber reads from one RTP packet. */
export interface ParsedRtp {
  readonly ssrc: number;
  readonly sequence: number;
  readonly payloadType: number;
  /** The publisher's counter and send time, when the tag was found. */
  readonly counter: number | undefined;
  /** Spatial layer of the stream the packet came from (0 without simulcast), when the tag was found. */
  readonly layer: number | undefined;
  /** The publisher's key of the track (all its layers), when the tag was found. */
  readonly streamKey: number | undefined;
  readonly sentAtMs: number | undefined;
}

function header(buffer: Buffer, payloadType: number, marker: boolean, sequence: number, timestamp: number, ssrc: number): void {
  buffer[0] = 0x80;
  buffer[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  buffer.writeUInt16BE(sequence & 0xffff, 2);
  buffer.writeUInt32BE(timestamp >>> 0, 4);
  buffer.writeUInt32BE(ssrc >>> 0, 8);
}

function writeTag(buffer: Buffer, offset: number, streamKey: number, counter: number, nowMs: number, layer = 0): void {
  buffer.writeUIntBE(TAG_MAGIC, offset, 3);
  buffer[offset + 3] = layer & 0xff;
  buffer.writeUInt32BE(streamKey >>> 0, offset + 4);
  buffer.writeUInt32BE(counter >>> 0, offset + 8);
  buffer.writeDoubleBE(nowMs, offset + 12);
}

/** An Opus stream: one 20 ms packet per call of next(). */
export class OpusStream {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly #payloadBytes: number;
  #sequence = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  /** Packets sent so far. */
  sent = 0;

  /** @param payloadBytes Opus payload size (80 bytes ≈ 32 kbit/s at 50 packets/s). */
  constructor(ssrc: number, payloadType: number, payloadBytes = 80) {
    this.ssrc = ssrc;
    this.payloadType = payloadType;
    this.#payloadBytes = Math.max(1 + TAG_BYTES, payloadBytes);
  }

  /** The next packet (20 ms after the previous one). */
  next(nowMs: number): Buffer {
    const packet = Buffer.alloc(RTP_HEADER_BYTES + this.#payloadBytes);
    header(packet, this.payloadType, false, this.#sequence, this.#timestamp, this.ssrc);
    // TOC: config 15 (CELT-only FB 20 ms is 31; SILK WB 20 ms is 9), mono, one frame.
    packet[RTP_HEADER_BYTES] = 9 << 3;
    writeTag(packet, RTP_HEADER_BYTES + 1, this.ssrc, this.sent, nowMs);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 960) >>> 0;
    this.sent++;
    return packet;
  }
}

/** Simulcast shape of a VP8 stream. */
export interface Vp8LayerOptions {
  /** Spatial layer index written into the tag (0 = lowest). */
  readonly layer: number;
  /** Frame size the key frames announce. */
  readonly width: number;
  readonly height: number;
  /** Key of the track in the tags, the same on every layer. */
  readonly streamKey: number;
  /** Temporal layers of the L1T3 pattern (TID 0, 2, 1, 2 per four frames); 1 = no temporal layer ids. */
  readonly temporalLayers: 1 | 3;
  /** The rid header extension (RFC 8852, one-byte form): its negotiated id and this stream's rid. */
  readonly rid?: { readonly extensionId: number; readonly value: string };
}

const TEMPORAL_PATTERN = [0, 2, 1, 2] as const;

/** Writes a one-byte-header extension block (RFC 8285) with one element; returns its length. */
function writeRidExtension(buffer: Buffer, offset: number, extensionId: number, rid: Buffer): number {
  const words = Math.ceil((1 + rid.length) / 4);
  buffer.writeUInt16BE(0xbede, offset);
  buffer.writeUInt16BE(words, offset + 2);
  buffer[offset + 4] = (extensionId << 4) | (rid.length - 1);
  rid.copy(buffer, offset + 5);
  return 4 + words * 4;
}

/** A VP8 stream: frames of a size set by the bitrate, split into packets with payload descriptors. */
export class Vp8Stream {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly layer: number;
  /** Key of the track in the tags (the SSRC without simulcast). */
  readonly streamKey: number;
  readonly #frameBytes: number;
  readonly #keyFrameBytes: number;
  readonly #width: number;
  readonly #height: number;
  readonly #temporalLayers: 1 | 3;
  readonly #rid: { readonly extensionId: number; readonly value: Buffer } | undefined;
  #sequence = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  #pictureId = Math.floor(Math.random() * 0x8000);
  #tl0PicIdx = Math.floor(Math.random() * 0x100);
  #frameIndex = 0;
  #keyFrameRequested = true;
  /** RTP timestamp and send time of the last frame (for sender reports). */
  #lastFrame: { timestamp: number; atMs: number } | undefined;
  /** Packets sent so far. */
  sent = 0;
  /** Payload octets sent so far (sender reports). */
  octets = 0;
  /** Key frames sent so far. */
  keyFrames = 0;

  /**
   * @param bitrate target bits per second of delta frames
   * @param fps frames per second the caller asks for
   */
  constructor(ssrc: number, payloadType: number, bitrate: number, fps: number, layer?: Vp8LayerOptions) {
    this.ssrc = ssrc;
    this.payloadType = payloadType;
    this.layer = layer?.layer ?? 0;
    this.streamKey = layer?.streamKey ?? ssrc;
    this.#frameBytes = Math.max(64, Math.round(bitrate / 8 / fps));
    this.#keyFrameBytes = this.#frameBytes * 3;
    this.#width = layer?.width ?? 640;
    this.#height = layer?.height ?? 360;
    this.#temporalLayers = layer?.temporalLayers ?? 1;
    this.#rid = layer?.rid ? { extensionId: layer.rid.extensionId, value: Buffer.from(layer.rid.value, 'ascii') } : undefined;
    if (this.#rid && (this.#rid.value.length < 1 || this.#rid.value.length > 16)) throw new Error('a rid has 1 to 16 characters');
  }

  /** The next frame is a key frame (a PLI or FIR arrived, or a periodic refresh). */
  requestKeyFrame(): void {
    this.#keyFrameRequested = true;
  }

  /** RTP timestamp that corresponds to `nowMs` on this stream's clock (90 kHz), for a sender report. */
  rtpTimestampAt(nowMs: number): number | undefined {
    if (!this.#lastFrame) return undefined;
    return (this.#lastFrame.timestamp + Math.round((nowMs - this.#lastFrame.atMs) * 90)) >>> 0;
  }

  /** The packets of the next frame; `frameTicks` is the 90 kHz duration of one frame. */
  nextFrame(nowMs: number, frameTicks: number): Buffer[] {
    const keyFrame = this.#keyFrameRequested;
    this.#keyFrameRequested = false;
    if (keyFrame) {
      this.keyFrames++;
      this.#frameIndex = 0; // a key frame restarts the temporal pattern at TID 0
    }
    const temporal = this.#temporalLayers === 3;
    const tid = temporal ? TEMPORAL_PATTERN[this.#frameIndex % TEMPORAL_PATTERN.length]! : 0;
    if (temporal && tid === 0) this.#tl0PicIdx = (this.#tl0PicIdx + 1) & 0xff;
    const descriptorBytes = temporal ? 6 : 4;
    let remaining = keyFrame ? this.#keyFrameBytes : this.#frameBytes;
    const packets: Buffer[] = [];
    let first = true;
    while (remaining > 0 || first) {
      // Descriptor: X=1, S on the first packet, partition 0; I=1 with a 15-bit picture ID (M=1);
      // with temporal layers also L (TL0PICIDX) and T (TID, Y on the upper layers).
      const codecHeader = first ? (keyFrame ? 10 : 3) : 0;
      const body = Math.max(TAG_BYTES, Math.min(MAX_VIDEO_PAYLOAD - descriptorBytes - codecHeader, remaining));
      remaining -= body;
      const last = remaining <= 0;
      const extensionBytes = this.#rid ? 4 + Math.ceil((1 + this.#rid.value.length) / 4) * 4 : 0;
      const packet = Buffer.alloc(RTP_HEADER_BYTES + extensionBytes + descriptorBytes + codecHeader + body);
      header(packet, this.payloadType, last, this.#sequence, this.#timestamp, this.ssrc);
      let offset = RTP_HEADER_BYTES;
      if (this.#rid) {
        packet[0]! |= 0x10; // X: header extension present
        offset += writeRidExtension(packet, offset, this.#rid.extensionId, this.#rid.value);
      }
      packet[offset++] = 0x80 | (first ? 0x10 : 0);
      packet[offset++] = temporal ? 0xe0 : 0x80;
      packet[offset++] = 0x80 | ((this.#pictureId >> 8) & 0x7f);
      packet[offset++] = this.#pictureId & 0xff;
      if (temporal) {
        packet[offset++] = this.#tl0PicIdx;
        packet[offset++] = (tid << 6) | (tid > 0 ? 0x20 : 0);
      }
      if (first) {
        // VP8 frame tag: bit 0 is the inverse key-frame flag (0 = key frame), show_frame set.
        packet[offset] = keyFrame ? 0x10 : 0x11;
        offset += 3;
        if (keyFrame) {
          packet[offset++] = 0x9d;
          packet[offset++] = 0x01;
          packet[offset++] = 0x2a;
          packet.writeUInt16LE(this.#width, offset);
          packet.writeUInt16LE(this.#height, offset + 2);
          offset += 4;
        }
      }
      writeTag(packet, offset, this.streamKey, this.sent, nowMs, this.layer);
      this.#sequence = (this.#sequence + 1) & 0xffff;
      this.sent++;
      this.octets += packet.length - RTP_HEADER_BYTES - extensionBytes;
      packets.push(packet);
      first = false;
    }
    this.#lastFrame = { timestamp: this.#timestamp, atMs: nowMs };
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    this.#frameIndex++;
    this.#timestamp = (this.#timestamp + frameTicks) >>> 0;
    return packets;
  }
}

/** Reads the header and, where present, the generator's tag of an RTP packet. */
export function parseRtp(packet: Buffer, kind: 'audio' | 'video'): ParsedRtp | undefined {
  if (packet.length < RTP_HEADER_BYTES || packet[0]! >> 6 !== 2) return undefined;
  const csrcCount = packet[0]! & 0x0f;
  let offset = RTP_HEADER_BYTES + csrcCount * 4;
  if (packet[0]! & 0x10) {
    if (offset + 4 > packet.length) return undefined;
    offset += 4 + packet.readUInt16BE(offset + 2) * 4;
  }
  const base = { ssrc: packet.readUInt32BE(8), sequence: packet.readUInt16BE(2), payloadType: packet[1]! & 0x7f };
  if (kind === 'audio') offset += 1;
  else offset = vp8PayloadStart(packet, offset);
  if (offset < 0 || offset + TAG_BYTES > packet.length || packet.readUIntBE(offset, 3) !== TAG_MAGIC) {
    return { ...base, counter: undefined, sentAtMs: undefined, layer: undefined, streamKey: undefined };
  }
  return {
    ...base,
    layer: packet[offset + 3]!,
    streamKey: packet.readUInt32BE(offset + 4),
    counter: packet.readUInt32BE(offset + 8),
    sentAtMs: packet.readDoubleBE(offset + 12),
  };
}

function vp8PayloadStart(packet: Buffer, start: number): number {
  let offset = start;
  if (offset >= packet.length) return -1;
  const first = packet[offset++]!;
  if (first & 0x80) {
    if (offset >= packet.length) return -1;
    const ext = packet[offset++]!;
    if (ext & 0x80) offset += offset < packet.length && packet[offset]! & 0x80 ? 2 : 1;
    if (ext & 0x40) offset += 1;
    if (ext & 0x30) offset += 1;
  }
  const startOfPartition = (first & 0x10) !== 0 && (first & 0x0f) === 0;
  if (startOfPartition && offset < packet.length) offset += packet[offset]! & 0x01 ? 3 : 10;
  return offset;
}
