// The SDP ↔ mediasoup mapping of the livekit edge on real Chromium SDP
// (test/fixtures/livekit, captured by test/e2e/pages/livekit/captureSdp.ts): what a
// publisher offer produces, the answer we write for it, our subscriber offer and
// Chromium's answer to it, and the offers we refuse.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import {
  MAX_MEDIA_SECTIONS,
  SdpError,
  buildPublisherAnswer,
  buildSubscriberOffer,
  parsePublisherOffer,
  parseSubscriberAnswer,
} from '../../../../src/server/livekit/sdp.ts';
import { ROUTER_CAPABILITIES, SUBSCRIBER_SECTIONS, TRANSPORT } from '../../../fixtures/livekit/sdpInputs.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'livekit');
const OFFER = readFileSync(join(FIXTURES, 'chromium-publisher-offer.sdp'), 'utf8');
const SUBSCRIBER_ANSWER = readFileSync(join(FIXTURES, 'chromium-subscriber-answer.sdp'), 'utf8');

describe('parsePublisherOffer()', () => {
  const offer = parsePublisherOffer(OFFER, ROUTER_CAPABILITIES);

  it('produces the camera as VP8 with its RTX and three rid layers, lowest first, named by its msid track id', () => {
    const video = offer.sections[0]!;
    expect(video.verdict).toBe('produce');
    if (video.verdict !== 'produce') return;
    expect(video.track.kind).toBe('video');
    expect(video.track.trackId).toBe('450f5af8-0e47-4cd9-951c-436a04df629c');
    const { rtpParameters } = video.track;
    expect(rtpParameters.mid).toBe('0');
    expect(rtpParameters.codecs.map((c) => [c.mimeType, c.payloadType])).toEqual([
      ['video/VP8', 96],
      ['video/rtx', 97],
    ]);
    expect(rtpParameters.codecs[1]!.parameters).toEqual({ apt: 96 });
    // Declared L1T3: Chromium's simulcast VP8 carries temporal ids, and mediasoup forwards only the layers declared.
    expect(rtpParameters.encodings).toEqual(['q', 'h', 'f'].map((rid) => ({ rid, scalabilityMode: 'L1T3' })));
    const uris = (rtpParameters.headerExtensions ?? []).map((h) => h.uri);
    expect(uris).toContain('urn:ietf:params:rtp-hdrext:sdes:mid');
    expect(uris).toContain('urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id');
    expect(uris).not.toContain('http://www.webrtc.org/experiments/rtp-hdrext/video-timing');
    // The rid-only section has no SSRC lines: the cname comes from the PC's other section.
    expect(rtpParameters.rtcp?.cname).toMatch(/\S+/);
    expect(rtpParameters.codecs[0]!.rtcpFeedback?.map((fb) => `${fb.type} ${fb.parameter}`.trim()).sort()).toEqual(
      ['ccm fir', 'goog-remb', 'nack', 'nack pli', 'transport-cc'].sort(),
    );
  });

  it('produces the microphone as Opus with its SSRC', () => {
    const audio = offer.sections[1]!;
    expect(audio.verdict).toBe('produce');
    if (audio.verdict !== 'produce') return;
    expect(audio.track.rtpParameters.codecs).toHaveLength(1);
    expect(audio.track.rtpParameters.codecs[0]).toMatchObject({ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 });
    expect(audio.track.rtpParameters.encodings).toEqual([{ ssrc: expect.any(Number) }]);
  });

  it('recognises the data channel section and the offerer as DTLS client', () => {
    expect(offer.sections[2]).toEqual({ mid: '2', verdict: 'data' });
    expect(offer.dtlsParameters.role).toBe('client');
    expect(offer.dtlsParameters.fingerprints[0]).toMatchObject({ algorithm: 'sha-256' });
  });
});

describe('buildPublisherAnswer()', () => {
  it('answers produced sections recvonly with the chosen codecs and simulcast recv, bundled on our ICE-lite transport', () => {
    const offer = parsePublisherOffer(OFFER, ROUTER_CAPABILITIES);
    const answer = sdpTransform.parse(buildPublisherAnswer(offer, TRANSPORT, new Set(['0', '1']), 1));
    expect(answer.icelite).toBe('ice-lite');
    expect(answer.groups).toEqual([{ type: 'BUNDLE', mids: '0 1 2' }]);
    const [video, audio, data] = answer.media;
    expect(video).toMatchObject({ type: 'video', port: 7, direction: 'recvonly', setup: 'passive', iceUfrag: TRANSPORT.iceParameters.usernameFragment });
    expect(video!.rtp.map((r) => r.payload)).toEqual([96, 97]);
    expect(video!.simulcast).toEqual({ dir1: 'recv', list1: 'q;h;f' });
    expect(video!.rids).toEqual([
      { id: 'q', direction: 'recv' },
      { id: 'h', direction: 'recv' },
      { id: 'f', direction: 'recv' },
    ]);
    expect(video!.candidates?.map((c) => [c.transport, c.ip, c.port])).toEqual([
      ['udp', '127.0.0.1', 29900],
      ['tcp', '127.0.0.1', 29900],
    ]);
    expect(audio!.rtp).toEqual([{ payload: 111, codec: 'opus', rate: 48000, encoding: 2 }]);
    expect(data).toMatchObject({ type: 'application', port: 7, sctpPort: 5000 });
  });

  it('rejects a sending section that was not produced with port 0, outside the bundle', () => {
    const offer = parsePublisherOffer(OFFER, ROUTER_CAPABILITIES);
    const answer = sdpTransform.parse(buildPublisherAnswer(offer, TRANSPORT, new Set(['1']), 2));
    expect(answer.media[0]).toMatchObject({ port: 0, direction: 'inactive' });
    expect(String(answer.media[0]!.mid)).toBe('0');
    expect(answer.groups).toEqual([{ type: 'BUNDLE', mids: '1 2' }]);
  });
});

describe('buildSubscriberOffer() and parseSubscriberAnswer()', () => {
  it('offers each consumer sendonly with the msid livekit-client maps tracks by, and keeps closed sections bundled and inactive', () => {
    const closed = { ...SUBSCRIBER_SECTIONS[0]!, mid: '2', closed: true };
    const written = buildSubscriberOffer(TRANSPORT, [...SUBSCRIBER_SECTIONS, closed], 3);
    const offer = sdpTransform.parse(written);
    // sdp-transform's msid grammar stops at '|'; the written line is what Chromium reads.
    expect(written).toContain('a=msid:PA_alice0000000000|TR_audio000000000 TR_audio000000000\r\n');
    // A retired section stays in the BUNDLE: all-rejected offers make Chromium close the DTLS transport.
    expect(offer.groups).toEqual([{ type: 'BUNDLE', mids: '0 1 2' }]);
    const [audio, video, retired] = offer.media;
    expect(audio).toMatchObject({ direction: 'sendonly', setup: 'actpass' });
    expect(video!.ssrcGroups).toEqual([{ semantics: 'FID', ssrcs: '333333331 333333332' }]);
    expect(video!.rtp.map((r) => r.codec)).toEqual(['VP8', 'rtx']);
    expect(retired).toMatchObject({ port: 7, direction: 'inactive' });
    expect(retired!.ssrcs).toBeUndefined();
    expect(retired!.msid).toBeUndefined();
  });

  it('takes the DTLS parameters from the first accepted section when the first one is rejected without a fingerprint', () => {
    const [head, firstSection, rest] = [
      SUBSCRIBER_ANSWER.slice(0, SUBSCRIBER_ANSWER.indexOf('m=audio')),
      SUBSCRIBER_ANSWER.slice(SUBSCRIBER_ANSWER.indexOf('m=audio'), SUBSCRIBER_ANSWER.indexOf('m=video')),
      SUBSCRIBER_ANSWER.slice(SUBSCRIBER_ANSWER.indexOf('m=video')),
    ];
    const rejected = firstSection.replace('m=audio 9', 'm=audio 0').replace(/a=(fingerprint|setup|ice-ufrag|ice-pwd):.*\r\n/g, '');
    const answer = parseSubscriberAnswer(head + rejected + rest);
    expect(answer.dtlsParameters?.role).toBe('client');
    expect(answer.rejectedMids).toEqual(['0']);
  });

  it('reads an answer whose sections are all retired (the last publisher left) as one without DTLS parameters', () => {
    const allRetired = SUBSCRIBER_ANSWER.replace('m=audio 9', 'm=audio 0').replace('m=video 9', 'm=video 0').replace(/a=(fingerprint|setup|ice-ufrag|ice-pwd):.*\r\n/g, '');
    expect(parseSubscriberAnswer(allRetired)).toEqual({ dtlsParameters: undefined, rejectedMids: ['0', '1'] });
  });

  it('reads Chromium\'s answer to our offer: it takes the DTLS client role, rejects nothing', () => {
    const answer = parseSubscriberAnswer(SUBSCRIBER_ANSWER);
    expect(answer.dtlsParameters?.role).toBe('client');
    expect(answer.dtlsParameters?.fingerprints[0]!.value).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(answer.rejectedMids).toEqual([]);
  });
});

describe('offers the edge refuses or rejects in part', () => {
  it('refuses garbage, an SDP without m-sections and one with too many', () => {
    expect(() => parsePublisherOffer('not sdp at all', ROUTER_CAPABILITIES)).toThrow(SdpError);
    expect(() => parsePublisherOffer('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n', ROUTER_CAPABILITIES)).toThrow(SdpError);
    const audio = OFFER.slice(OFFER.indexOf('m=audio'), OFFER.indexOf('m=application'));
    const many = OFFER.slice(0, OFFER.indexOf('m=video')) + Array.from({ length: MAX_MEDIA_SECTIONS + 1 }, (_, i) => audio.replace('a=mid:1', `a=mid:a${i}`)).join('');
    expect(() => parsePublisherOffer(many, ROUTER_CAPABILITIES)).toThrow(/more than 64/);
  });

  it('refuses 40 simulcast layers', () => {
    const rids = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const forty = OFFER.replace(/a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f/, `${rids.map((r) => `a=rid:${r} send`).join('\r\n')}\r\na=simulcast:send ${rids.join(';')}`);
    expect(() => parsePublisherOffer(forty, ROUTER_CAPABILITIES)).toThrow(/simulcast layers/);
  });

  it('rejects a section whose codecs this SFU does not route, and one that only receives', () => {
    const av1Only = OFFER.replaceAll(/ (VP8|VP9|H264)\/90000/g, ' XV$1/90000');
    const parsed = parsePublisherOffer(av1Only, ROUTER_CAPABILITIES);
    expect(parsed.sections[0]).toMatchObject({ verdict: 'reject', why: 'no codec this SFU routes' });
    const recvonly = parsePublisherOffer(OFFER.replace('a=sendonly', 'a=recvonly'), ROUTER_CAPABILITIES);
    expect(recvonly.sections[0]).toMatchObject({ verdict: 'reject' });
  });
});
