// RTCP of the load generator's publishers: telling RTCP from RTP (RFC 5761), reading the
// key-frame requests (PLI, FIR) and generic NACKs the SFU sends (which SSRC, which sequence
// numbers), writing sender reports (RFC 3550 §6.4.1: mediasoup switches a simulcast consumer
// between spatial layers only once both streams had one, to align their RTP timestamps),
// and a bounded per-stream store of sent packets to answer NACKs from. Parsing is bounded by
// the buffer and never throws.

/** True for an RTCP packet (payload types 192–223 of RFC 5761's demultiplexing range). */
export function isRtcp(packet: Buffer): boolean {
  return packet.length >= 8 && packet[1]! >= 192 && packet[1]! <= 223;
}

/** One RTCP packet of a compound packet: its type, FMT/count field and bounds. */
interface RtcpBlock {
  readonly type: number;
  readonly fmt: number;
  readonly offset: number;
  readonly end: number;
}

function* blocks(packet: Buffer): Generator<RtcpBlock> {
  let offset = 0;
  for (let count = 0; count < 32 && offset + 4 <= packet.length; count++) {
    const end = Math.min(packet.length, offset + (packet.readUInt16BE(offset + 2) + 1) * 4);
    yield { type: packet[offset + 1]!, fmt: packet[offset]! & 0x1f, offset, end };
    offset = end;
  }
}

/** True when a compound RTCP packet holds a PLI (PSFB, FMT 1) or FIR (PSFB, FMT 4). */
export function asksForKeyFrame(packet: Buffer): boolean {
  return [...blocks(packet)].some((b) => b.type === 206 && (b.fmt === 1 || b.fmt === 4));
}

/** The SSRCs a compound RTCP packet asks a key frame of: a PLI's media SSRC, each FIR entry's SSRC. */
export function keyFrameRequests(packet: Buffer): number[] {
  const ssrcs: number[] = [];
  for (const block of blocks(packet)) {
    if (block.type !== 206) continue;
    if (block.fmt === 1 && block.offset + 12 <= block.end) ssrcs.push(packet.readUInt32BE(block.offset + 8));
    if (block.fmt === 4) for (let fci = block.offset + 12; fci + 8 <= block.end; fci += 8) ssrcs.push(packet.readUInt32BE(fci));
  }
  return ssrcs;
}

/** The sequence numbers generic NACKs (RTPFB, FMT 1) of a compound RTCP packet ask for, per media SSRC. */
export function nackedSequences(packet: Buffer): Array<{ ssrc: number; sequences: number[] }> {
  const result: Array<{ ssrc: number; sequences: number[] }> = [];
  for (const block of blocks(packet)) {
    if (block.type !== 205 || block.fmt !== 1 || block.offset + 12 > block.end) continue;
    const sequences: number[] = [];
    for (let fci = block.offset + 12; fci + 4 <= block.end; fci += 4) {
      const pid = packet.readUInt16BE(fci);
      const blp = packet.readUInt16BE(fci + 2);
      sequences.push(pid);
      for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) sequences.push((pid + bit + 1) & 0xffff);
    }
    result.push({ ssrc: packet.readUInt32BE(block.offset + 8), sequences });
  }
  return result;
}

/** NTP seconds at the Unix epoch. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** A sender report without report blocks: NTP time of `wallClockMs`, the RTP timestamp of that instant, packet and octet counts. */
export function senderReport(ssrc: number, wallClockMs: number, rtpTimestamp: number, packets: number, octets: number): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(ssrc >>> 0, 4);
  sr.writeUInt32BE((Math.floor(wallClockMs / 1000) + NTP_UNIX_OFFSET_S) >>> 0, 8);
  sr.writeUInt32BE(Math.floor(((wallClockMs % 1000) / 1000) * 0x1_0000_0000) >>> 0, 12);
  sr.writeUInt32BE(rtpTimestamp >>> 0, 16);
  sr.writeUInt32BE(packets >>> 0, 20);
  sr.writeUInt32BE(octets >>> 0, 24);
  return sr;
}

/** The last `capacity` packets sent on each SSRC, by sequence number (answers NACKs as browsers do, without RTX). */
export class SentPacketStore {
  readonly #capacity: number;
  readonly #bySsrc = new Map<number, Array<Buffer | undefined>>();
  /** Packets sent again on a NACK. */
  retransmitted = 0;

  constructor(capacity = 512) {
    this.#capacity = capacity;
  }

  store(packet: Buffer): void {
    const ssrc = packet.readUInt32BE(8);
    let ring = this.#bySsrc.get(ssrc);
    if (!ring) this.#bySsrc.set(ssrc, (ring = new Array<Buffer | undefined>(this.#capacity)));
    ring[packet.readUInt16BE(2) % this.#capacity] = packet;
  }

  /** The stored packets a NACK asks for (those still held). */
  lookup(ssrc: number, sequences: readonly number[]): Buffer[] {
    const ring = this.#bySsrc.get(ssrc);
    if (!ring) return [];
    const found: Buffer[] = [];
    for (const sequence of sequences) {
      const packet = ring[sequence % this.#capacity];
      if (packet && packet.readUInt16BE(2) === sequence) found.push(packet);
    }
    this.retransmitted += found.length;
    return found;
  }
}
