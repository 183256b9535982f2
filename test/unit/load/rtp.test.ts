// The load generator's packets: VP8 payload descriptors with a 15-bit picture ID and marked
// key frames, Opus at 20 ms steps, the generator's tag read back by a subscriber, PLI/FIR
// detection in compound RTCP, and the remote SDP built from transport parameters.

import { describe, expect, it } from 'vitest';
import { asksForKeyFrame, isRtcp, OpusStream, parseRtp, Vp8Stream } from '../../load/rtp.ts';
import { localDtls, remoteDescription } from '../../load/sdp.ts';
import { parseCliOptions } from '../../load/options.ts';

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
});
