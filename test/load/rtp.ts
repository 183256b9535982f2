// RTP packets of the load generator: a VP8 publisher with a real payload descriptor
// (RFC 7741: X and I bits set, 15-bit picture ID, key frames with the 10-byte key-frame
// header mediasoup reads dimensions from) and an Opus publisher at 50 packets/s. Each
// packet carries a tag after the codec header (magic, the stream's packet counter, the
// send time), so a subscriber can match what arrives to what was sent even though the
// SFU rewrites sequence numbers. Parsing is bounded by the buffer and never throws.

/** Bytes of the RTP fixed header the generator writes (no CSRC, no extension). */
export const RTP_HEADER_BYTES = 12;
/** Magic at the start of each tag: "LDT1". */
const TAG_MAGIC = 0x4c44_5431;
/** Bytes of one tag: magic, counter, send time in ms (float64). */
export const TAG_BYTES = 16;
/** Largest RTP payload of one video packet. */
export const MAX_VIDEO_PAYLOAD = 1100;

/** What a subscriber reads from one RTP packet. */
export interface ParsedRtp {
  readonly ssrc: number;
  readonly sequence: number;
  readonly payloadType: number;
  /** The publisher's counter and send time, when the tag was found. */
  readonly counter: number | undefined;
  readonly sentAtMs: number | undefined;
}

function header(buffer: Buffer, payloadType: number, marker: boolean, sequence: number, timestamp: number, ssrc: number): void {
  buffer[0] = 0x80;
  buffer[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  buffer.writeUInt16BE(sequence & 0xffff, 2);
  buffer.writeUInt32BE(timestamp >>> 0, 4);
  buffer.writeUInt32BE(ssrc >>> 0, 8);
}

function writeTag(buffer: Buffer, offset: number, counter: number, nowMs: number): void {
  buffer.writeUInt32BE(TAG_MAGIC, offset);
  buffer.writeUInt32BE(counter >>> 0, offset + 4);
  buffer.writeDoubleBE(nowMs, offset + 8);
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
    writeTag(packet, RTP_HEADER_BYTES + 1, this.sent, nowMs);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 960) >>> 0;
    this.sent++;
    return packet;
  }
}

/** A VP8 stream: frames of a size set by the bitrate, split into packets with payload descriptors. */
export class Vp8Stream {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly #frameBytes: number;
  readonly #keyFrameBytes: number;
  #sequence = Math.floor(Math.random() * 0x10000);
  #timestamp = Math.floor(Math.random() * 0x1_0000_0000);
  #pictureId = Math.floor(Math.random() * 0x8000);
  #keyFrameRequested = true;
  /** Packets sent so far. */
  sent = 0;
  /** Key frames sent so far. */
  keyFrames = 0;

  /**
   * @param bitrate target bits per second of delta frames
   * @param fps frames per second the caller asks for
   */
  constructor(ssrc: number, payloadType: number, bitrate: number, fps: number) {
    this.ssrc = ssrc;
    this.payloadType = payloadType;
    this.#frameBytes = Math.max(64, Math.round(bitrate / 8 / fps));
    this.#keyFrameBytes = this.#frameBytes * 3;
  }

  /** The next frame is a key frame (a PLI or FIR arrived, or a periodic refresh). */
  requestKeyFrame(): void {
    this.#keyFrameRequested = true;
  }

  /** The packets of the next frame; `frameTicks` is the 90 kHz duration of one frame. */
  nextFrame(nowMs: number, frameTicks: number): Buffer[] {
    const keyFrame = this.#keyFrameRequested;
    this.#keyFrameRequested = false;
    if (keyFrame) this.keyFrames++;
    let remaining = keyFrame ? this.#keyFrameBytes : this.#frameBytes;
    const packets: Buffer[] = [];
    let first = true;
    while (remaining > 0 || first) {
      // Descriptor: X=1, S on the first packet, partition 0; I=1 with a 15-bit picture ID (M=1).
      const codecHeader = first ? (keyFrame ? 10 : 3) : 0;
      const body = Math.max(TAG_BYTES, Math.min(MAX_VIDEO_PAYLOAD - 4 - codecHeader, remaining));
      remaining -= body;
      const last = remaining <= 0;
      const packet = Buffer.alloc(RTP_HEADER_BYTES + 4 + codecHeader + body);
      header(packet, this.payloadType, last, this.#sequence, this.#timestamp, this.ssrc);
      let offset = RTP_HEADER_BYTES;
      packet[offset++] = 0x80 | (first ? 0x10 : 0);
      packet[offset++] = 0x80;
      packet[offset++] = 0x80 | ((this.#pictureId >> 8) & 0x7f);
      packet[offset++] = this.#pictureId & 0xff;
      if (first) {
        // VP8 frame tag: bit 0 is the inverse key-frame flag (0 = key frame), show_frame set.
        packet[offset] = keyFrame ? 0x10 : 0x11;
        offset += 3;
        if (keyFrame) {
          packet[offset++] = 0x9d;
          packet[offset++] = 0x01;
          packet[offset++] = 0x2a;
          packet.writeUInt16LE(640, offset);
          packet.writeUInt16LE(360, offset + 2);
          offset += 4;
        }
      }
      writeTag(packet, offset, this.sent, nowMs);
      this.#sequence = (this.#sequence + 1) & 0xffff;
      this.sent++;
      packets.push(packet);
      first = false;
    }
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    this.#timestamp = (this.#timestamp + frameTicks) >>> 0;
    return packets;
  }
}

/** True for an RTCP packet (payload types 192–223 of RFC 5761's demultiplexing range). */
export function isRtcp(packet: Buffer): boolean {
  return packet.length >= 8 && packet[1]! >= 192 && packet[1]! <= 223;
}

/** True when a compound RTCP packet holds a PLI (PSFB, FMT 1) or FIR (PSFB, FMT 4). */
export function asksForKeyFrame(packet: Buffer): boolean {
  let offset = 0;
  for (let count = 0; count < 32 && offset + 4 <= packet.length; count++) {
    const fmt = packet[offset]! & 0x1f;
    const type = packet[offset + 1]!;
    if (type === 206 && (fmt === 1 || fmt === 4)) return true;
    offset += (packet.readUInt16BE(offset + 2) + 1) * 4;
  }
  return false;
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
  if (offset < 0 || offset + TAG_BYTES > packet.length || packet.readUInt32BE(offset) !== TAG_MAGIC) {
    return { ...base, counter: undefined, sentAtMs: undefined };
  }
  return { ...base, counter: packet.readUInt32BE(offset + 4), sentAtMs: packet.readDoubleBE(offset + 8) };
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
