// The load generator's packets: VP8 payload descriptors with a 15-bit picture ID and marked
// key frames (simulcast layers: rid extension, TL0PICIDX and L1T3 temporal ids), Opus at 20 ms
// steps, the generator's tag (with its layer) read back by a subscriber, RTCP (PLI/FIR per SSRC,
// NACKs, sender reports, the sent-packet store), per-layer reception segments, and the remote
// SDP built from transport parameters.

import { describe, expect, it } from 'vitest';
import { OpusStream, parseRtp, Vp8Stream } from '../../load/rtp.ts';
import { asksForKeyFrame, isRtcp, keyFrameRequests, nackedSequences, senderReport, SentPacketStore } from '../../load/rtcp.ts';
import { localDtls, remoteDescription } from '../../load/sdp.ts';
import { parseCliOptions } from '../../load/options.ts';
import { expectedByLayer, forwardedOf, newSubscription, receivePacket } from '../../load/Reception.ts';

describe('Vp8Stream', () => {
  it('writes a payload descriptor with X, S and a 15-bit picture ID, and marks key frames', () => {
    const stream = new Vp8Stream(1234, 96, 600_000, 25);
    const frame = stream.nextFrame(0, 3600);
    expect(frame.length).toBeGreaterThan(1);
    const first = frame[0]!;
    expect(first[12]! & 0x80).toBe(0x80); // X
    expect(first[12]! & 0x10).toBe(0x10); // S
    expect(first[13]! & 0x80).toBe(0x80); // I
    expect(first[14]! & 0x80).toBe(0x80); // M: 15-bit picture ID
    expect(first[16]! & 0x01).toBe(0); // key frame
    expect([...first.subarray(19, 22)]).toEqual([0x9d, 0x01, 0x2a]);
    expect(frame[1]![12]! & 0x10).toBe(0); // continuation: no S
    expect(frame.at(-1)![1]! & 0x80).toBe(0x80); // marker on the last packet
    expect(frame.slice(0, -1).every((p) => (p[1]! & 0x80) === 0)).toBe(true);
    const delta = stream.nextFrame(40, 3600)[0]!;
    expect(delta[16]! & 0x01).toBe(1);
    const pictureIds = [first, delta].map((p) => ((p[14]! & 0x7f) << 8) | p[15]!);
    expect((pictureIds[1]! - pictureIds[0]!) & 0x7fff).toBe(1);
    stream.requestKeyFrame();
    expect(stream.nextFrame(80, 3600)[0]![16]! & 0x01).toBe(0);
    expect(stream.keyFrames).toBe(2);
  });

  it('reads back the counter and send time of every packet, in order', () => {
    const stream = new Vp8Stream(99, 96, 300_000, 25);
    const packets = [...stream.nextFrame(5, 3600), ...stream.nextFrame(45, 3600)];
    const parsed = packets.map((p) => parseRtp(p, 'video'));
    expect(parsed.map((p) => p?.counter)).toEqual(packets.map((_, i) => i));
    expect(parsed[0]?.sentAtMs).toBe(5);
    expect(parsed.every((p) => p?.ssrc === 99 && p.payloadType === 96)).toBe(true);
    const sequences = parsed.map((p) => p!.sequence);
    expect(sequences.every((s, i) => i === 0 || s === ((sequences[i - 1]! + 1) & 0xffff))).toBe(true);
  });
});

describe('Vp8Stream as a simulcast layer', () => {
  it('carries the rid in a one-byte header extension, TL0PICIDX and the temporal ids 0,2,1,2, and tags its layer', () => {
    const stream = new Vp8Stream(5, 96, 150_000, 25, { layer: 2, streamKey: 77, width: 1280, height: 720, temporalLayers: 3, rid: { extensionId: 10, value: 'f' } });
    const frames = [0, 1, 2, 3, 4].map((i) => stream.nextFrame(i * 40, 3600)[0]!);
    const first = frames[0]!;
    expect(first[0]! & 0x10).toBe(0x10); // X: header extension
    expect(first.readUInt16BE(12)).toBe(0xbede);
    expect(first.readUInt16BE(14)).toBe(1); // one 32-bit word
    expect(first[16]).toBe((10 << 4) | 0); // id 10, one byte
    expect(String.fromCharCode(first[17]!)).toBe('f');
    const d = 20; // descriptor after the 12-byte header and the 8-byte extension block
    expect(first[d + 1]).toBe(0xe0); // I, L, T
    expect(first.readUInt16LE(d + 6 + 3 + 3)).toBe(1280);
    const tids = frames.map((p) => p[d + 5]! >> 6);
    expect(tids).toEqual([0, 2, 1, 2, 0]);
    const tl0 = frames.map((p) => p[d + 4]!);
    expect((tl0[4]! - tl0[0]!) & 0xff).toBe(1);
    expect(parseRtp(first, 'video')).toMatchObject({ ssrc: 5, counter: 0, layer: 2, streamKey: 77 });
    expect(stream.rtpTimestampAt(160 + 10)).toBe((frames[4]!.readUInt32BE(4) + 900) >>> 0);
  });
});

describe('Reception', () => {
  const packet = (layer: number, counter: number, sequence: number) => ({ ssrc: 1, sequence, payloadType: 101, counter, layer, streamKey: 9, sentAtMs: 0 });

  it('expects packets per layer segment, not those of a layer the SFU was not forwarding, and skips the sequence gap of a switch', () => {
    const sub = newSubscription({ consumerId: 'c', kind: 'video', producerId: 'p', simulcast: true, createdAtMs: 0 });
    expect(receivePacket(sub, packet(2, 100, 10), 1)).toBe(true);
    receivePacket(sub, packet(2, 101, 11), 2);
    receivePacket(sub, packet(2, 103, 12), 3); // 102 lost before the SFU
    receivePacket(sub, packet(0, 40, 14), 4); // switch to q; mediasoup left sequence 13 unused
    receivePacket(sub, packet(0, 42, 16), 5); // 41 lost after the SFU
    const sent = [50, 0, 200];
    expect(expectedByLayer(sub, (layer) => sent[layer]!, false)).toEqual([3, 0, 4]);
    expect(expectedByLayer(sub, (layer) => sent[layer]!, true)).toEqual([10, 0, 4]);
    expect(sub.receivedByLayer).toEqual([2, 0, 3]);
    expect(sub.switches).toBe(1);
    expect(sub.streamKey).toBe(9);
    expect(forwardedOf(sub)).toBe(16 - 10 + 1 - 1);
  });
});

describe('OpusStream', () => {
  it('steps the timestamp by 960 and tags each packet', () => {
    const stream = new OpusStream(7, 111);
    const a = stream.next(1);
    const b = stream.next(21);
    expect(b.readUInt32BE(4) - a.readUInt32BE(4)).toBe(960);
    expect(parseRtp(b, 'audio')).toMatchObject({ ssrc: 7, counter: 1, sentAtMs: 21 });
    expect(stream.sent).toBe(2);
  });
});

describe('RTCP helpers', () => {
  it('finds a PLI after a receiver report in a compound packet, and tells RTCP from RTP', () => {
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(asksForKeyFrame(Buffer.concat([rr, pli]))).toBe(true);
    expect(asksForKeyFrame(rr)).toBe(false);
    expect(isRtcp(rr)).toBe(true);
    expect(isRtcp(new OpusStream(1, 111).next(0))).toBe(false);
    expect(parseRtp(Buffer.from([1, 2, 3]), 'audio')).toBeUndefined();
  });

  it('names the SSRCs of PLIs and FIRs and the sequence numbers of NACKs, and answers NACKs from the store', () => {
    const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 7]);
    const fir = Buffer.from([0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 3, 0, 0, 0]);
    const nack = Buffer.from([0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 7, 0x00, 0x0a, 0b0000_0000, 0b0000_0101]);
    expect(keyFrameRequests(Buffer.concat([pli, fir]))).toEqual([7, 9]);
    expect(asksForKeyFrame(fir)).toBe(true);
    expect(nackedSequences(Buffer.concat([pli, nack]))).toEqual([{ ssrc: 7, sequences: [10, 11, 13] }]);
    const store = new SentPacketStore(4);
    const stream = new Vp8Stream(7, 96, 100_000, 25);
    const sent = [0, 1, 2, 3, 4, 5].flatMap((i) => stream.nextFrame(i * 40, 3600));
    for (const p of sent) store.store(p);
    const sequences = sent.map((p) => p.readUInt16BE(2));
    expect(store.lookup(7, [sequences[5]!, sequences[0]!])).toEqual([sent[5]]); // the oldest was overwritten
    expect(store.lookup(8, [sequences[5]!])).toEqual([]);
    expect(store.retransmitted).toBe(1);
  });

  it('writes a sender report with the NTP time, RTP timestamp and counts', () => {
    const sr = senderReport(0xabcdef01, Date.UTC(2026, 0, 1, 0, 0, 0, 500), 12345, 10, 1000);
    expect(isRtcp(sr)).toBe(true);
    expect(sr[1]).toBe(200);
    expect(sr.readUInt32BE(4)).toBe(0xabcdef01);
    expect(sr.readUInt32BE(8)).toBe(Date.UTC(2026, 0, 1) / 1000 + 2_208_988_800);
    expect(sr.readUInt32BE(12)).toBe(0x8000_0000);
    expect([sr.readUInt32BE(16), sr.readUInt32BE(20), sr.readUInt32BE(24)]).toEqual([12345, 10, 1000]);
  });
});

describe('remoteDescription', () => {
  const info = {
    transportId: 't1',
    iceParameters: { usernameFragment: 'ufrag', password: 'pwd', iceLite: true },
    iceCandidates: [
      { foundation: 'udpcandidate', priority: 1076302079, ip: '127.0.0.1', protocol: 'udp' as const, port: 40000, type: 'host' as const },
      { foundation: 'tcpcandidate', priority: 1076276479, ip: '127.0.0.1', protocol: 'tcp' as const, port: 40000, type: 'host' as const, tcpType: 'passive' as const },
    ],
    dtlsParameters: { role: 'auto' as const, fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] },
  };

  it('offers the SFU as ICE-lite with UDP candidates only and every consumer SSRC in its section', () => {
    const sdp = remoteDescription(info, [{ mid: '0', kind: 'audio', payloadType: 100, ssrcs: [{ ssrc: 5, cname: 'x' }] }], 'actpass', 2);
    expect(sdp).toContain('a=ice-lite');
    expect(sdp).toContain('a=setup:actpass');
    expect(sdp).toContain('a=ssrc:5 cname:x');
    expect(sdp).toContain('a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 40000 typ host');
    expect(sdp).not.toContain('tcpcandidate');
    expect(sdp).toContain('a=fingerprint:sha-256 AB:CD');
  });

  it('reads the fingerprint and role of a local description, and refuses one without', () => {
    expect(localDtls('a=fingerprint:sha-256 01:02\r\na=setup:active\r\n')).toEqual({ algorithm: 'sha-256', value: '01:02', setup: 'active' });
    expect(() => localDtls('v=0\r\n')).toThrow(/fingerprint/);
  });
});

describe('parseCliOptions', () => {
  it('reads a compare run and refuses unknown or out-of-range options with every fault', () => {
    const options = parseCliOptions(['--compare', '--participants', '8', '--media', 'video', '--alternations', '4']);
    expect(options).toMatchObject({ mode: 'compare', participants: 8, video: true, audio: false, alternations: 4 });
    expect(() => parseCliOptions(['--participants', '0', '--bogus', '--duration', '9999'])).toThrow(/positive number[\s\S]*unknown option --bogus[\s\S]*at most 600/);
  });

  it('reads simulcast options: layer bitrates, the preferred layers and the simulcast comparison', () => {
    expect(parseCliOptions(['--simulcast', '--layers', 'cycle', '--layer-cycle', '2'])).toMatchObject({ simulcastBitrates: [150_000, 500_000, 1_200_000], layers: 'cycle', layerCycleS: 2 });
    expect(parseCliOptions(['--simulcast-bitrates', '100000,300000,900000']).simulcastBitrates).toEqual([100_000, 300_000, 900_000]);
    expect(parseCliOptions(['--simulcast-compare']).mode).toBe('simulcast-compare');
    expect(parseCliOptions(['--livekit-share', '0.25']).liveKitShare).toBe(0.25);
    expect(() => parseCliOptions(['--compare', '--livekit-share', '0.5'])).toThrow(/baseline speaks protocol v1 only/);
    expect(() => parseCliOptions(['--simulcast-bitrates', '1,2', '--layers', 'best', '--simulcast', '--media', 'audio'])).toThrow(/three bitrates[\s\S]*high, low, mixed or cycle[\s\S]*needs video/);
  });
});
