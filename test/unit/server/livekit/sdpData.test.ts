// The data m-section of the livekit edge's publisher SDP, on the real Chromium offer
// (test/fixtures/livekit): accepted as SCTP on port 5000 and answered DTLS passive inside
// the bundle with our transport's SCTP port and message size; anything else is rejected.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { SCTP_PORT, buildPublisherAnswer, parsePublisherOffer } from '../../../../src/server/livekit/sdp.ts';
import { ROUTER_CAPABILITIES, TRANSPORT } from '../../../fixtures/livekit/sdpInputs.ts';

const OFFER = readFileSync(join(import.meta.dirname, '..', '..', '..', 'fixtures', 'livekit', 'chromium-publisher-offer.sdp'), 'utf8');
const SCTP_TRANSPORT = { ...TRANSPORT, sctpParameters: { port: SCTP_PORT, maxMessageSize: 262_144 } };

/** The fixture with its application section changed by `edit`. */
function withDataSection(edit: (section: string) => string): string {
  const start = OFFER.indexOf('m=application');
  return OFFER.slice(0, start) + edit(OFFER.slice(start));
}

describe('the publisher data section', () => {
  it('answers Chromium\'s data section as SCTP on our transport: passive, bundled, its port and message size', () => {
    const offer = parsePublisherOffer(OFFER, ROUTER_CAPABILITIES);
    const answer = sdpTransform.parse(buildPublisherAnswer(offer, SCTP_TRANSPORT, new Set(['0', '1']), 1));
    const data = answer.media.find((m) => m.type === 'application')!;
    expect(data).toMatchObject({
      port: 7,
      protocol: 'UDP/DTLS/SCTP',
      payloads: 'webrtc-datachannel',
      sctpPort: SCTP_PORT,
      maxMessageSize: 262_144,
      setup: 'passive',
      iceUfrag: TRANSPORT.iceParameters.usernameFragment,
    });
    expect(String(data.mid)).toBe('2');
    expect(data.direction).toBeUndefined();
    expect(data.fingerprint?.hash).toBe(TRANSPORT.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256')!.value);
    expect(answer.groups?.[0]?.mids.split(' ')).toContain('2');
  });

  it('answers an offer that carries only the data section (livekit-client\'s first offer without tracks)', () => {
    const dataOnly = OFFER.slice(0, OFFER.indexOf('m=video')) + OFFER.slice(OFFER.indexOf('m=application'));
    const offer = parsePublisherOffer(dataOnly.replace(/a=group:BUNDLE [^\r\n]*/, 'a=group:BUNDLE 2'), ROUTER_CAPABILITIES);
    expect(offer.sections).toEqual([{ mid: '2', verdict: 'data' }]);
    const answer = sdpTransform.parse(buildPublisherAnswer(offer, SCTP_TRANSPORT, new Set(), 1));
    expect(answer.groups?.map((g) => [g.type, String(g.mids)])).toEqual([['BUNDLE', '2']]);
    expect(answer.media).toHaveLength(1);
  });

  it('rejects a data section on another SCTP port, or a disabled one, with port 0', () => {
    for (const edit of [(s: string) => s.replace('a=sctp-port:5000', 'a=sctp-port:5001'), (s: string) => s.replace(/^m=application 9 /, 'm=application 0 ')]) {
      const offer = parsePublisherOffer(withDataSection(edit), ROUTER_CAPABILITIES);
      expect(offer.sections[2]).toMatchObject({ mid: '2', verdict: 'reject' });
      const answer = sdpTransform.parse(buildPublisherAnswer(offer, SCTP_TRANSPORT, new Set(['0', '1']), 1));
      expect(answer.media[2]).toMatchObject({ type: 'application', port: 0 });
      expect(answer.groups?.[0]?.mids).toBe('0 1');
    }
  });
});
