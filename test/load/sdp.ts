// SDP for node-datachannel built from what the signalling protocol hands out: the
// server's transport parameters (ICE-lite credentials, candidates, DTLS fingerprints)
// and mediasoup's RTP parameters. The send side takes node-datachannel's local offer
// and answers it as the SFU would; the receive side offers the SFU's consumers (one
// audio and one video m-section, every consumer's SSRC listed in its section) and lets
// node-datachannel answer. Only UDP candidates are used.

import type { TransportInfo } from '../../src/common/protocol/messages.ts';

/** One m-section of a remote description. */
export interface RemoteSection {
  readonly mid: string;
  readonly kind: 'audio' | 'video';
  readonly payloadType: number;
  /** Sending SSRCs of the remote side (receive side only), with their cname. */
  readonly ssrcs: ReadonlyArray<{ ssrc: number; cname: string }>;
}

/** The codec line of a kind: Opus stereo at 48 kHz, VP8 at 90 kHz. */
function rtpmap(kind: 'audio' | 'video', payloadType: number): string[] {
  if (kind === 'audio') return [`a=rtpmap:${payloadType} opus/48000/2`, `a=fmtp:${payloadType} minptime=10;useinbandfec=1`];
  return [
    `a=rtpmap:${payloadType} VP8/90000`,
    `a=rtcp-fb:${payloadType} nack`,
    `a=rtcp-fb:${payloadType} nack pli`,
    `a=rtcp-fb:${payloadType} ccm fir`,
  ];
}

/**
 * The SFU's side of a transport as an SDP: `setup` is `active` when answering the
 * generator's offer (the SFU becomes the DTLS client), `actpass` when offering.
 */
export function remoteDescription(info: TransportInfo, sections: readonly RemoteSection[], setup: 'active' | 'actpass', version: number): string {
  const fingerprint = info.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? info.dtlsParameters.fingerprints[0];
  if (!fingerprint) throw new Error('transport has no DTLS fingerprint');
  const lines = [
    'v=0',
    `o=- 1000 ${version} IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
    `a=group:BUNDLE ${sections.map((s) => s.mid).join(' ')}`,
    'a=msid-semantic: WMS *',
  ];
  const candidates = info.iceCandidates.filter((c) => c.protocol === 'udp');
  for (const section of sections) {
    lines.push(
      `m=${section.kind} 7 UDP/TLS/RTP/SAVPF ${section.payloadType}`,
      'c=IN IP4 127.0.0.1',
      `a=mid:${section.mid}`,
      setup === 'active' ? 'a=recvonly' : 'a=sendonly',
      `a=ice-ufrag:${info.iceParameters.usernameFragment}`,
      `a=ice-pwd:${info.iceParameters.password}`,
      `a=setup:${setup}`,
      'a=rtcp-mux',
      'a=rtcp-rsize',
      ...rtpmap(section.kind, section.payloadType),
    );
    for (const { ssrc, cname } of section.ssrcs) lines.push(`a=ssrc:${ssrc} cname:${cname}`);
    for (const c of candidates) {
      lines.push(`a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address ?? c.ip} ${c.port} typ ${c.type}`);
    }
    lines.push('a=end-of-candidates');
  }
  return lines.join('\r\n') + '\r\n';
}

/** The sha-256 fingerprint and DTLS setup role of a local description. */
export function localDtls(sdp: string): { algorithm: 'sha-256'; value: string; setup: string } {
  const fingerprint = /^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\s*$/m.exec(sdp)?.[1];
  const setup = /^a=setup:(\w+)\s*$/m.exec(sdp)?.[1];
  if (!fingerprint || !setup) throw new Error('local description lacks a sha-256 fingerprint or a setup role');
  return { algorithm: 'sha-256', value: fingerprint, setup };
}
