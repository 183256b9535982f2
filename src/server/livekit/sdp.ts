// SDP ↔ mediasoup for the livekit edge, in one place. LiveKit clients use two
// PeerConnections: the publisher PC offers (we answer on a mediasoup send
// transport), the subscriber PC answers our offers (a mediasoup recv transport).
// Everything is parsed and written with sdp-transform; nothing is split by hand.
//
// Publisher offer → for each m-section: the first codec the router routes (plus
// its RTX), the header extensions both sides know, encodings from rids
// (simulcast, at most MAX_SIMULCAST_LAYERS) or from the SSRCs, the cname. The
// answer accepts those sections (recvonly, our ICE-lite candidates, DTLS
// passive), the data channel section (SCTP), and rejects the rest (port 0).
// Subscriber offer ← one sendonly m-section per consumer, with the consumer's
// own RTP parameters and `msid {participantSid}|{trackSid} {trackSid}`, the msid
// form livekit-client maps tracks by; a closed consumer's section stays in the
// BUNDLE as `a=inactive` with its codecs and no SSRCs (mids are never reused). Not
// port 0: an offer whose sections are all rejected makes Chromium close the
// subscriber PC's DTLS transport (close_notify), and a mediasoup transport whose
// DTLS closed cannot connect again, so a subscriber whose last remote track ended
// would receive nothing from anyone who publishes later.

import sdpTransform from 'sdp-transform';
import type { MediaAttributes, MediaDescription, SessionDescription } from 'sdp-transform';
import type { DtlsParameters, RtpCapabilities, RtpParameters } from '../media/types.ts';
import type { TransportInfo } from '../conference/types.ts';

/** Most simulcast layers one track may offer. */
export const MAX_SIMULCAST_LAYERS = 3;
/** Most m-sections one offer may carry. */
export const MAX_MEDIA_SECTIONS = 64;

/** An SDP we refuse: the session answers the client with an error instead. */
export class SdpError extends Error {
  override readonly name = 'SdpError';
}

type Fingerprint = DtlsParameters['fingerprints'][number];
type CodecParameters = RtpParameters['codecs'][number];
type HeaderExtensionParameters = NonNullable<RtpParameters['headerExtensions']>[number];
type Encoding = NonNullable<RtpParameters['encodings']>[number];

/** A media section of a publisher offer that can be produced. */
export interface OfferedTrack {
  readonly mid: string;
  readonly kind: 'audio' | 'video';
  /** The track id of `a=msid` (livekit-client's AddTrack cid), if any. */
  readonly trackId: string | undefined;
  readonly rtpParameters: RtpParameters;
}

/** What a publisher offer says, section by section. */
export interface ParsedOffer {
  readonly iceUfrag: string;
  readonly icePwd: string;
  /** Remote DTLS parameters for transport.connect(): the offerer becomes the DTLS client (we answer passive). */
  readonly dtlsParameters: DtlsParameters;
  readonly sections: readonly OfferSection[];
  readonly raw: SessionDescription;
}

/** One m-section of a publisher offer and our verdict on it. */
export type OfferSection =
  | { readonly mid: string; readonly verdict: 'produce'; readonly track: OfferedTrack }
  | { readonly mid: string; readonly verdict: 'data' }
  | { readonly mid: string; readonly verdict: 'reject'; readonly why: string };

/** One m-section of a subscriber offer. */
export interface SubscriberSection {
  readonly mid: string;
  readonly kind: 'audio' | 'video' | 'application';
  /** Absent for the data section; kept for a closed consumer (its inactive section names the codecs). */
  readonly rtpParameters?: RtpParameters;
  /** `{participantSid}|{trackSid}` and the track sid. */
  readonly streamId?: string;
  readonly trackId?: string;
  readonly closed: boolean;
}

const FEEDBACK_WE_HANDLE = new Set(['nack', 'nack pli', 'ccm fir', 'goog-remb', 'transport-cc']);
const RID_RANK: Record<string, number> = { q: 0, h: 1, f: 2 };

function parse(sdp: string): SessionDescription {
  if (typeof sdp !== 'string' || sdp.length === 0 || sdp.length > 128 * 1024) throw new SdpError('SDP missing or larger than 128 KiB');
  let parsed: SessionDescription;
  try {
    parsed = sdpTransform.parse(sdp);
  } catch (error) {
    throw new SdpError(`SDP does not parse: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed.media) || parsed.media.length === 0) throw new SdpError('SDP has no m-section');
  if (parsed.media.length > MAX_MEDIA_SECTIONS) throw new SdpError(`SDP has more than ${MAX_MEDIA_SECTIONS} m-sections`);
  return parsed;
}

/** The DTLS fingerprint of a bundle: session level, or of the first m-section that has one (rejected sections may carry none). */
function fingerprintsOf(parsed: SessionDescription): Fingerprint[] {
  const fingerprint = parsed.fingerprint ?? parsed.media.find((m) => m.port !== 0 && m.fingerprint)?.fingerprint ?? parsed.media.find((m) => m.fingerprint)?.fingerprint;
  if (!fingerprint) throw new SdpError('SDP has no DTLS fingerprint');
  const algorithm = fingerprint.type.toLowerCase();
  if (!['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'].includes(algorithm)) throw new SdpError(`fingerprint algorithm ${algorithm} unknown`);
  return [{ algorithm: algorithm as Fingerprint['algorithm'], value: fingerprint.hash.toUpperCase() }];
}

/** Parses the codec parameters of an fmtp line into mediasoup's map (numbers where numeric). */
function fmtpParameters(media: MediaDescription, payloadType: number): Record<string, string | number> {
  const line = (media.fmtp ?? []).find((f) => f.payload === payloadType);
  if (!line) return {};
  const parameters: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(sdpTransform.parseParams(line.config))) {
    parameters[key] = typeof value === 'number' || typeof value === 'string' ? value : String(value);
  }
  return parameters;
}

function sameCodec(offered: { mimeType: string; clockRate: number; channels?: number; parameters: Record<string, unknown> }, cap: RtpCapabilities['codecs'] extends (infer C)[] | undefined ? C : never): boolean {
  if (offered.mimeType.toLowerCase() !== cap.mimeType.toLowerCase() || offered.clockRate !== cap.clockRate) return false;
  if (cap.kind === 'audio' && (offered.channels ?? 1) !== (cap.channels ?? 1)) return false;
  const mime = cap.mimeType.toLowerCase();
  if (mime === 'video/h264') {
    const mode = Number(offered.parameters['packetization-mode'] ?? 0);
    const profile = String(offered.parameters['profile-level-id'] ?? '').toLowerCase();
    // Constrained baseline only, as the router offers it (42e0xx).
    return mode === Number(cap.parameters?.['packetization-mode'] ?? 0) && profile.startsWith('42e0');
  }
  if (mime === 'video/vp9') return Number(offered.parameters['profile-id'] ?? 0) === Number(cap.parameters?.['profile-id'] ?? 0);
  return true;
}

/** The first offered media codec the router routes, with its RTX; undefined if none. */
function chooseCodecs(media: MediaDescription, kind: 'audio' | 'video', router: RtpCapabilities): CodecParameters[] | undefined {
  const offered = (media.rtp ?? []).map((rtp) => ({
    payloadType: rtp.payload,
    mimeType: `${kind}/${rtp.codec}`,
    clockRate: rtp.rate ?? 0,
    ...(rtp.encoding !== undefined ? { channels: Number(rtp.encoding) } : {}),
    parameters: fmtpParameters(media, rtp.payload),
  }));
  for (const codec of offered) {
    const lower = codec.mimeType.toLowerCase();
    if (lower.endsWith('/rtx') || lower.endsWith('/red') || lower.endsWith('/ulpfec') || lower.endsWith('/flexfec-03')) continue;
    const cap = (router.codecs ?? []).find((c) => c.kind === kind && sameCodec(codec, c));
    if (!cap) continue;
    const feedback = (media.rtcpFb ?? [])
      .filter((fb) => String(fb.payload) === String(codec.payloadType) || fb.payload === '*')
      .map((fb) => ({ type: fb.type, parameter: fb.subtype ?? '' }))
      .filter((fb) => FEEDBACK_WE_HANDLE.has(fb.parameter ? `${fb.type} ${fb.parameter}` : fb.type));
    const chosen: CodecParameters[] = [{ ...codec, rtcpFeedback: feedback }];
    const rtx = offered.find((c) => c.mimeType.toLowerCase().endsWith('/rtx') && Number(c.parameters['apt']) === codec.payloadType);
    if (rtx && kind === 'video') chosen.push({ mimeType: 'video/rtx', payloadType: rtx.payloadType, clockRate: rtx.clockRate, parameters: { apt: codec.payloadType }, rtcpFeedback: [] });
    return chosen;
  }
  return undefined;
}

function headerExtensions(media: MediaDescription, kind: 'audio' | 'video', router: RtpCapabilities): HeaderExtensionParameters[] {
  const known = new Set((router.headerExtensions ?? []).filter((h) => h.kind === kind).map((h) => h.uri));
  return (media.ext ?? [])
    .filter((ext) => known.has(ext.uri as never) && (ext.direction === undefined || ext.direction === 'sendrecv' || ext.direction === 'sendonly'))
    .map((ext) => ({ uri: ext.uri as HeaderExtensionParameters['uri'], id: ext.value, encrypt: false, parameters: {} }));
}

/** Scalability mode of each simulcast layer a client offers by rid (see encodingsOf). */
export const SIMULCAST_SCALABILITY_MODE = 'L1T3';

function encodingsOf(media: MediaDescription): Encoding[] {
  const sendRids = (media.rids ?? []).filter((rid) => rid.direction === 'send').map((rid) => String(rid.id));
  if (sendRids.length > 0) {
    if (sendRids.length > MAX_SIMULCAST_LAYERS) throw new SdpError(`more than ${MAX_SIMULCAST_LAYERS} simulcast layers`);
    const ordered = sendRids.every((rid) => rid in RID_RANK) ? [...sendRids].sort((a, b) => RID_RANK[a]! - RID_RANK[b]!) : sendRids;
    // Chromium's simulcast VP8 carries temporal layer ids (two or three): declared as L1T3, so
    // mediasoup forwards every temporal layer; without it a consumer forwards only layer 0
    // (a half or a quarter of the frames). Fewer layers in the stream than declared is fine.
    return ordered.map((rid) => ({ rid, scalabilityMode: SIMULCAST_SCALABILITY_MODE }));
  }
  const fid = (media.ssrcGroups ?? []).find((group) => group.semantics === 'FID');
  if (fid) {
    const [ssrc, rtx] = fid.ssrcs.split(' ').map(Number);
    if (ssrc !== undefined && Number.isInteger(ssrc)) return [{ ssrc, ...(rtx !== undefined && Number.isInteger(rtx) ? { rtx: { ssrc: rtx } } : {}) }];
  }
  const first = (media.ssrcs ?? [])[0];
  if (first) return [{ ssrc: Number(first.id) }];
  throw new SdpError('sending m-section has neither rids nor SSRCs');
}

/** The SCTP port mediasoup uses on both ends of an association. */
export const SCTP_PORT = 5000;

/**
 * The verdict on an application m-section: SCTP data channels over DTLS on port 5000 (the
 * worker's SctpAssociation speaks to port 5000 only; every browser offers it), else rejected.
 */
function dataVerdict(mid: string, media: MediaDescription): OfferSection {
  if (media.port === 0 || !media.protocol.includes('SCTP')) return { mid, verdict: 'reject', why: 'not an SCTP data section' };
  const port = media.sctpPort ?? (media.sctpmap ? Number(media.sctpmap.sctpmapNumber) : SCTP_PORT);
  if (port !== SCTP_PORT) return { mid, verdict: 'reject', why: `SCTP port ${port} (only ${SCTP_PORT})` };
  return { mid, verdict: 'data' };
}

/** Parses a publisher offer and decides, per m-section, what to do with it. */
export function parsePublisherOffer(sdp: string, router: RtpCapabilities): ParsedOffer {
  const parsed = parse(sdp);
  const first = parsed.media.find((m) => m.port !== 0 && m.iceUfrag) ?? parsed.media[0]!;
  const iceUfrag = first.iceUfrag ?? parsed.iceUfrag;
  const icePwd = first.icePwd ?? parsed.icePwd;
  if (!iceUfrag || !icePwd) throw new SdpError('offer has no ICE credentials');
  const sections: OfferSection[] = [];
  const mids = new Set<string>();
  // One PeerConnection has one cname; rid-only video sections carry no SSRC lines to name it.
  const sessionCname = parsed.media.flatMap((m) => m.ssrcs ?? []).find((s) => s.attribute === 'cname')?.value;
  for (const media of parsed.media) {
    const mid = media.mid === undefined ? undefined : String(media.mid);
    if (mid === undefined || mid.length === 0 || mid.length > 32) throw new SdpError('m-section without a usable mid');
    if (mids.has(mid)) throw new SdpError(`mid ${mid} appears twice`);
    mids.add(mid);
    if (media.type === 'application') {
      sections.push(dataVerdict(mid, media));
      continue;
    }
    if (media.type !== 'audio' && media.type !== 'video') {
      sections.push({ mid, verdict: 'reject', why: `media type ${media.type}` });
      continue;
    }
    const direction = media.direction ?? 'sendrecv';
    if (media.port === 0 || (direction !== 'sendonly' && direction !== 'sendrecv')) {
      sections.push({ mid, verdict: 'reject', why: `not sending (${direction})` });
      continue;
    }
    const kind = media.type;
    const codecs = chooseCodecs(media, kind, router);
    if (!codecs) {
      sections.push({ mid, verdict: 'reject', why: 'no codec this SFU routes' });
      continue;
    }
    const cname = (media.ssrcs ?? []).find((s) => s.attribute === 'cname')?.value ?? sessionCname;
    const msid = media.msid?.[0];
    const trackId = msid?.appdata ?? (media.ssrcs ?? []).find((s) => s.attribute === 'msid')?.value?.split(' ')[1];
    sections.push({
      mid,
      verdict: 'produce',
      track: {
        mid,
        kind,
        trackId,
        rtpParameters: {
          mid,
          codecs,
          headerExtensions: headerExtensions(media, kind, router),
          encodings: encodingsOf(media),
          rtcp: { ...(cname ? { cname } : {}), reducedSize: media.rtcpRsize !== undefined },
        },
      },
    });
  }
  return { iceUfrag, icePwd, dtlsParameters: { role: 'client', fingerprints: fingerprintsOf(parsed) }, sections, raw: parsed };
}

function transportAttributes(transport: TransportInfo, setup: 'passive' | 'actpass'): Partial<MediaAttributes> & { candidates: NonNullable<MediaAttributes['candidates']> } {
  const sha256 = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0]!;
  return {
    iceUfrag: transport.iceParameters.usernameFragment,
    icePwd: transport.iceParameters.password,
    fingerprint: { type: sha256.algorithm, hash: sha256.value },
    setup,
    candidates: transport.iceCandidates.map((candidate) => ({
      foundation: candidate.foundation,
      component: 1,
      transport: candidate.protocol,
      priority: candidate.priority,
      // mediasoup 3.12 names the address `ip`; later versions `address` (ip kept, deprecated).
      ip: (candidate as { address?: string }).address ?? (candidate as { ip?: string }).ip ?? '',
      port: candidate.port,
      type: candidate.type,
      ...(candidate.tcpType ? { tcptype: candidate.tcpType } : {}),
    })),
    endOfCandidates: 'end-of-candidates',
  };
}

function rtpSectionLines(rtpParameters: RtpParameters): Pick<MediaAttributes, 'rtp' | 'fmtp' | 'rtcpFb' | 'ext'> {
  const rtp: MediaAttributes['rtp'] = [];
  const fmtp: MediaAttributes['fmtp'] = [];
  const rtcpFb: NonNullable<MediaAttributes['rtcpFb']> = [];
  for (const codec of rtpParameters.codecs) {
    const [, name] = codec.mimeType.split('/');
    rtp.push({ payload: codec.payloadType, codec: name!, rate: codec.clockRate, ...(codec.channels && codec.channels > 1 ? { encoding: codec.channels } : {}) });
    const parameters = Object.entries(codec.parameters ?? {});
    if (parameters.length > 0) fmtp.push({ payload: codec.payloadType, config: parameters.map(([k, v]) => `${k}=${String(v)}`).join(';') });
    for (const fb of codec.rtcpFeedback ?? []) rtcpFb.push({ payload: codec.payloadType, type: fb.type, ...(fb.parameter ? { subtype: fb.parameter } : {}) });
  }
  const ext = (rtpParameters.headerExtensions ?? []).map((h) => ({ value: h.id, uri: h.uri }));
  return { rtp, fmtp, rtcpFb, ext };
}

function sessionSkeleton(sessionVersion: number, mids: string[], media: MediaDescription[]): SessionDescription {
  return {
    version: 0,
    origin: { username: '-', sessionId: '1', sessionVersion, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    ...(mids.length > 0 ? { groups: [{ type: 'BUNDLE', mids: mids.join(' ') }] } : {}),
    msidSemantic: { semantic: 'WMS', token: '*' },
    media,
  };
}

/** The answer to a publisher offer: produced sections as recvonly, data as SCTP, the rest rejected. */
export function buildPublisherAnswer(offer: ParsedOffer, transport: TransportInfo, produced: ReadonlySet<string>, sessionVersion: number): string {
  const media: MediaDescription[] = [];
  const bundled: string[] = [];
  for (const [index, section] of offer.sections.entries()) {
    const offered = offer.raw.media[index]!;
    const base = { connection: { version: 4, ip: '127.0.0.1' }, mid: section.mid };
    if (section.verdict === 'data') {
      // The client's data channels (DataLink on the send transport's SCTP association). Without
      // an association on our side (data relay off) it is still accepted: the client's first
      // offer carries little else, and its PC must connect; its channels then never open.
      bundled.push(section.mid);
      media.push({
        ...base,
        type: 'application',
        port: 7,
        protocol: offered.protocol,
        payloads: 'webrtc-datachannel',
        rtp: [],
        fmtp: [],
        ...transportAttributes(transport, 'passive'),
        sctpPort: transport.sctpParameters?.port ?? SCTP_PORT,
        maxMessageSize: transport.sctpParameters?.maxMessageSize ?? 262_144,
      });
      continue;
    }
    if (section.verdict === 'produce' && produced.has(section.mid)) {
      bundled.push(section.mid);
      const { rtpParameters } = section.track;
      const rids = (rtpParameters.encodings ?? []).map((e) => e.rid).filter((rid): rid is string => typeof rid === 'string');
      media.push({
        ...base,
        type: offered.type,
        port: 7,
        protocol: 'UDP/TLS/RTP/SAVPF',
        payloads: rtpParameters.codecs.map((c) => c.payloadType).join(' '),
        ...rtpSectionLines(rtpParameters),
        ...transportAttributes(transport, 'passive'),
        direction: 'recvonly',
        rtcpMux: 'rtcp-mux',
        ...(rtpParameters.rtcp?.reducedSize ? { rtcpRsize: 'rtcp-rsize' as const } : {}),
        ...(rids.length > 0
          ? { rids: rids.map((rid) => ({ id: rid, direction: 'recv' as const })), simulcast: { dir1: 'recv' as const, list1: rids.join(';') } }
          : {}),
      });
      continue;
    }
    // Rejected: port 0, the offer's first format, inactive.
    const firstPayload = offered.rtp?.[0];
    media.push({
      ...base,
      type: offered.type,
      port: 0,
      protocol: offered.protocol,
      payloads: offered.type === 'application' ? (offered.payloads ?? 'webrtc-datachannel') : String(firstPayload?.payload ?? 0),
      rtp: firstPayload ? [firstPayload] : [],
      fmtp: [],
      direction: 'inactive',
    });
  }
  return sdpTransform.write(sessionSkeleton(sessionVersion, bundled, media));
}

/** Our offer for the subscriber PC. */
export function buildSubscriberOffer(transport: TransportInfo, sections: readonly SubscriberSection[], sessionVersion: number): string {
  const media: MediaDescription[] = [];
  const bundled: string[] = [];
  for (const section of sections) {
    const base = { connection: { version: 4, ip: '127.0.0.1' }, mid: section.mid };
    if (section.kind === 'application') {
      bundled.push(section.mid);
      media.push({
        ...base,
        type: 'application',
        port: 7,
        protocol: 'UDP/DTLS/SCTP',
        payloads: 'webrtc-datachannel',
        rtp: [],
        fmtp: [],
        ...transportAttributes(transport, 'actpass'),
        sctpPort: transport.sctpParameters?.port ?? 5000,
        maxMessageSize: transport.sctpParameters?.maxMessageSize ?? 262_144,
      });
      continue;
    }
    if (!section.rtpParameters) {
      media.push({ ...base, type: section.kind, port: 0, protocol: 'UDP/TLS/RTP/SAVPF', payloads: '0', rtp: [], fmtp: [], direction: 'inactive' });
      continue;
    }
    if (section.closed) {
      // Retired but bundled (see the header): inactive, no SSRCs, no msid.
      bundled.push(section.mid);
      media.push({
        ...base,
        type: section.kind,
        port: 7,
        protocol: 'UDP/TLS/RTP/SAVPF',
        payloads: section.rtpParameters.codecs.map((c) => c.payloadType).join(' '),
        ...rtpSectionLines(section.rtpParameters),
        ...transportAttributes(transport, 'actpass'),
        direction: 'inactive',
        rtcpMux: 'rtcp-mux',
        rtcpRsize: 'rtcp-rsize',
      });
      continue;
    }
    bundled.push(section.mid);
    const rtpParameters = section.rtpParameters;
    const encoding = rtpParameters.encodings?.[0];
    const cname = rtpParameters.rtcp?.cname ?? 'sfu';
    const ssrcs: NonNullable<MediaAttributes['ssrcs']> = [];
    const ssrcGroups: NonNullable<MediaAttributes['ssrcGroups']> = [];
    if (encoding?.ssrc !== undefined) {
      const msidValue = `${section.streamId} ${section.trackId}`;
      ssrcs.push({ id: encoding.ssrc, attribute: 'cname', value: cname }, { id: encoding.ssrc, attribute: 'msid', value: msidValue });
      if (encoding.rtx?.ssrc !== undefined) {
        ssrcs.push({ id: encoding.rtx.ssrc, attribute: 'cname', value: cname }, { id: encoding.rtx.ssrc, attribute: 'msid', value: msidValue });
        ssrcGroups.push({ semantics: 'FID', ssrcs: `${encoding.ssrc} ${encoding.rtx.ssrc}` });
      }
    }
    media.push({
      ...base,
      type: section.kind,
      port: 7,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: rtpParameters.codecs.map((c) => c.payloadType).join(' '),
      ...rtpSectionLines(rtpParameters),
      ...transportAttributes(transport, 'actpass'),
      direction: 'sendonly',
      rtcpMux: 'rtcp-mux',
      rtcpRsize: 'rtcp-rsize',
      msid: [{ id: section.streamId!, appdata: section.trackId! }],
      ssrcs,
      ...(ssrcGroups.length > 0 ? { ssrcGroups } : {}),
    });
  }
  return sdpTransform.write(sessionSkeleton(sessionVersion, bundled, media));
}

/**
 * The client's answer to our subscriber offer: its DTLS parameters and the mids it rejected.
 * An answer whose sections are all retired (port 0) carries no DTLS parameters at all.
 */
export function parseSubscriberAnswer(sdp: string): { dtlsParameters: DtlsParameters | undefined; rejectedMids: string[] } {
  const parsed = parse(sdp);
  const rejectedMids = parsed.media.filter((m) => m.port === 0 && m.mid !== undefined).map((m) => String(m.mid));
  if (rejectedMids.length === parsed.media.length && !parsed.fingerprint && !parsed.media.some((m) => m.fingerprint)) {
    return { dtlsParameters: undefined, rejectedMids };
  }
  const accepted = parsed.media.find((m) => m.port !== 0) ?? parsed.media[0]!;
  const setup = accepted.setup ?? parsed.setup ?? 'active';
  // Our offer says actpass; the answerer picks. Its role is what transport.connect() wants.
  const role = setup === 'passive' ? 'server' : 'client';
  return { dtlsParameters: { role, fingerprints: fingerprintsOf(parsed) }, rejectedMids };
}
