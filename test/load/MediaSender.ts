// The sending half of a synthetic participant, shared by both edges: the tracks of a
// node-datachannel send PeerConnection and the streams that fill them. Video is one VP8
// stream, or three simulcast layers q/h/f on one track (one m-section with its rids and the
// rid header extension, as a browser sends them); audio is Opus at 50 packets/s. Key-frame
// requests (PLI/FIR) are answered per SSRC, NACKs from the packets sent (libdatachannel's
// RtcpNackResponder for a single stream; our per-SSRC store for simulcast, whose three
// streams share sequence numbers), and simulcast layers send a sender report right after
// their first frame and once a second (mediasoup switches layers only after both had one).
// What the SFU is told (native `produce` RTP parameters, or the LiveKit offer SDP) stays with
// the edge; this class gives both what they need.

import nodeDataChannel, { type PeerConnection, type Track } from 'node-datachannel';
import { OpusStream, Vp8Stream } from './rtp.ts';
import { asksForKeyFrame, isRtcp, keyFrameRequests, nackedSequences, senderReport, SentPacketStore } from './rtcp.ts';
import type { WireRtpParameters } from '../../src/common/protocol/rtp.ts';

/** The simulcast layers a publisher sends: rid, resolution (announced in key frames), downscale factor. */
export const SIMULCAST_SHAPES = [
  { rid: 'q', width: 320, height: 180, scaleDownBy: 4 },
  { rid: 'h', width: 640, height: 360, scaleDownBy: 2 },
  { rid: 'f', width: 1280, height: 720, scaleDownBy: 1 },
] as const;

/** Header extension id of the rid (urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id) on simulcast streams. */
export const RID_EXTENSION_ID = 10;
const RID_URI = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
/** Sender reports: one per simulcast stream every this many 20 ms ticks. */
const SENDER_REPORT_TICKS = 50;
const VP8_FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];

/** What a sender publishes. */
export interface MediaSenderOptions {
  readonly name: string;
  readonly video: boolean;
  readonly audio: boolean;
  /** Bits per second of a single VP8 stream. */
  readonly videoBitrate: number;
  /** Three simulcast layers q, h, f with these bitrates instead of one stream. */
  readonly simulcastBitrates?: readonly [number, number, number];
  readonly videoMid: string;
  readonly audioMid: string;
  readonly videoPayloadType: number;
  readonly audioPayloadType: number;
  /** msid track ids of the tracks (the LiveKit edge matches AddTrack cids by them). */
  readonly trackIds?: { readonly video: string; readonly audio: string };
}

function randomSsrc(): number {
  return (Math.floor(Math.random() * 0xffff_fff0) + 1) >>> 0;
}

function waitOpen(track: Track, timeoutMs: number, what: string): Promise<void> {
  if (track.isOpen()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: track did not open within ${timeoutMs} ms`)), timeoutMs);
    track.onOpen(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The tracks and streams of one send PeerConnection. */
export class MediaSender {
  readonly cname: string;
  readonly #options: MediaSenderOptions;
  #videoTrack: Track | undefined;
  #audioTrack: Track | undefined;
  /** One VP8 stream, or the simulcast layers q, h, f. */
  readonly #videoStreams: Vp8Stream[] = [];
  #audio: OpusStream | undefined;
  #sentStore: SentPacketStore | undefined;
  /** Ticks since the first video frame (sender report schedule). */
  #reportTicks = 0;
  /** Send failures (track refused the packet). */
  sendFailures = 0;

  /** Adds the tracks to `pc` (before its offer is made). */
  constructor(pc: PeerConnection, options: MediaSenderOptions) {
    this.#options = options;
    this.cname = `g-${options.name}`;
    if (options.video) this.#addVideo(pc);
    if (options.audio) {
      const media = new nodeDataChannel.Audio(options.audioMid, 'SendOnly');
      media.addOpusCodec(options.audioPayloadType);
      const ssrc = randomSsrc();
      media.addSSRC(ssrc, this.cname, 'stream', options.trackIds?.audio ?? 'audio');
      this.#audioTrack = pc.addTrack(media);
      this.#audio = new OpusStream(ssrc, options.audioPayloadType);
    }
  }

  #addVideo(pc: PeerConnection): void {
    const o = this.#options;
    const media = new nodeDataChannel.Video(o.videoMid, 'SendOnly');
    media.addVP8Codec(o.videoPayloadType);
    const trackId = o.trackIds?.video ?? 'video';
    if (o.simulcastBitrates) {
      const bitrates = o.simulcastBitrates;
      // Three streams on one track (one m-section, as a browser's rid simulcast), each with its SSRC and rid.
      media.parseSdpLine(`a=extmap:${RID_EXTENSION_ID} ${RID_URI}`);
      for (const shape of SIMULCAST_SHAPES) media.parseSdpLine(`a=rid:${shape.rid} send`);
      media.parseSdpLine(`a=simulcast:send ${SIMULCAST_SHAPES.map((shape) => shape.rid).join(';')}`);
      const streamKey = randomSsrc();
      for (const [layer, shape] of SIMULCAST_SHAPES.entries()) {
        const ssrc = randomSsrc();
        media.addSSRC(ssrc, this.cname, 'stream', trackId);
        this.#videoStreams.push(
          new Vp8Stream(ssrc, o.videoPayloadType, bitrates[layer]!, 25, {
            layer,
            streamKey,
            width: shape.width,
            height: shape.height,
            temporalLayers: 3,
            rid: { extensionId: RID_EXTENSION_ID, value: shape.rid },
          }),
        );
      }
      const track = pc.addTrack(media);
      this.#videoTrack = track;
      // libdatachannel's RtcpNackResponder keys packets by sequence number alone, which three
      // streams on one track share: NACKs are answered here, per SSRC.
      const store = new SentPacketStore(512);
      this.#sentStore = store;
      track.onMessage((message) => {
        if (!isRtcp(message)) return;
        for (const ssrc of keyFrameRequests(message)) this.#videoStreams.find((stream) => stream.ssrc === ssrc)?.requestKeyFrame();
        for (const { ssrc, sequences } of nackedSequences(message)) for (const packet of store.lookup(ssrc, sequences)) this.#send(track, packet);
      });
      return;
    }
    const ssrc = randomSsrc();
    media.addSSRC(ssrc, this.cname, 'stream', trackId);
    const track = pc.addTrack(media);
    this.#videoTrack = track;
    // Answers the SFU's NACKs from the packets it sent (as browsers do), so one lost packet
    // of a key frame does not leave subscribers waiting for the next key-frame request.
    track.setMediaHandler(new nodeDataChannel.RtcpNackResponder(512));
    const stream = new Vp8Stream(ssrc, o.videoPayloadType, o.videoBitrate, 25);
    this.#videoStreams.push(stream);
    track.onMessage((message) => {
      if (isRtcp(message) && asksForKeyFrame(message)) stream.requestKeyFrame();
    });
  }

  /** True when video goes out as simulcast layers. */
  get simulcast(): boolean {
    return this.#videoStreams.length > 1;
  }

  /** The tags' keys of the published tracks. */
  get streamKeys(): { audio?: number; video?: number } {
    return {
      ...(this.#audio ? { audio: this.#audio.ssrc } : {}),
      ...(this.#videoStreams[0] ? { video: this.#videoStreams[0].streamKey } : {}),
    };
  }

  /** Packets sent so far (video: all layers). */
  get sent(): { audio: number; video: number; keyFrames: number; retransmitted: number } {
    let video = 0;
    let keyFrames = 0;
    for (const stream of this.#videoStreams) {
      video += stream.sent;
      keyFrames += stream.keyFrames;
    }
    return { audio: this.#audio?.sent ?? 0, video, keyFrames, retransmitted: this.#sentStore?.retransmitted ?? 0 };
  }

  /** Packets sent so far on the video stream of spatial layer `layer` (0 for a single stream). */
  videoSentOfLayer(layer: number): number {
    return this.#videoStreams.find((stream) => stream.layer === layer)?.sent ?? 0;
  }

  /** Native `produce` RTP parameters of the video track (simulcast: rids only, as a browser announces them). */
  videoRtpParameters(): WireRtpParameters {
    const o = this.#options;
    const codecs = [{ mimeType: 'video/VP8', payloadType: o.videoPayloadType, clockRate: 90_000, rtcpFeedback: VP8_FEEDBACK }];
    if (!o.simulcastBitrates) return { codecs, encodings: [{ ssrc: this.#videoStreams[0]!.ssrc }], rtcp: { cname: this.cname, reducedSize: true } };
    const bitrates = o.simulcastBitrates;
    return {
      codecs,
      // The SFU learns each layer's SSRC from the rid extension of its first packets.
      headerExtensions: [{ uri: RID_URI, id: RID_EXTENSION_ID }],
      encodings: SIMULCAST_SHAPES.map((shape, layer) => ({ rid: shape.rid, maxBitrate: bitrates[layer]!, scaleResolutionDownBy: shape.scaleDownBy, scalabilityMode: 'L1T3' })),
      rtcp: { cname: this.cname, reducedSize: true },
    };
  }

  /** Native `produce` RTP parameters of the audio track. */
  audioRtpParameters(): WireRtpParameters {
    return {
      codecs: [{ mimeType: 'audio/opus', payloadType: this.#options.audioPayloadType, clockRate: 48_000, channels: 2, parameters: { useinbandfec: 1 } }],
      encodings: [{ ssrc: this.#audio!.ssrc }],
      rtcp: { cname: this.cname, reducedSize: true },
    };
  }

  /** Resolves once every track is open (DTLS-SRTP up). */
  async waitOpen(timeoutMs: number): Promise<void> {
    const tracks = [this.#videoTrack, this.#audioTrack].filter((t): t is Track => t !== undefined);
    await Promise.all(tracks.map((track) => waitOpen(track, timeoutMs, `${this.#options.name} send`)));
  }

  /** Sends the packets due at this 20 ms tick: Opus every tick, a VP8 frame every second tick (25 fps). */
  tick(tickIndex: number, nowMs: number): void {
    if (this.#audio && this.#audioTrack) this.#send(this.#audioTrack, this.#audio.next(nowMs));
    const videoTrack = this.#videoTrack;
    if (!videoTrack) return;
    if (tickIndex % 2 === 0) {
      for (const stream of this.#videoStreams) {
        for (const packet of stream.nextFrame(nowMs, 3600)) {
          this.#sentStore?.store(packet);
          this.#send(videoTrack, packet);
        }
      }
    }
    if (this.#videoStreams.length > 1 && this.#reportTicks++ % SENDER_REPORT_TICKS === 1) {
      const wallClockMs = Date.now();
      for (const stream of this.#videoStreams) {
        const rtpTimestamp = stream.rtpTimestampAt(nowMs);
        if (rtpTimestamp !== undefined) this.#send(videoTrack, senderReport(stream.ssrc, wallClockMs, rtpTimestamp, stream.sent, stream.octets));
      }
    }
  }

  #send(track: Track, packet: Buffer): void {
    try {
      if (!track.sendMessageBinary(packet)) this.sendFailures++;
    } catch {
      this.sendFailures++;
    }
  }
}
