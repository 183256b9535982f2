// One synthetic participant: speaks signalling protocol v1 (LoadSignalling: subprotocol
// matrix-sfu.v1, dev admission by query string; the browser client's ResumeBatcher),
// carries real WebRTC transports through node-datachannel (ICE, DTLS-SRTP), publishes
// VP8 (one stream, or three simulcast layers q/h/f with rids) and Opus (MediaSender) and
// counts what it receives per consumer: packets, loss by the SFU's sequence numbers,
// first-packet time, and the publisher's counters it saw, per spatial layer (Reception).
// Consumers are acknowledged in resumeConsumers batches once their SSRCs are in the
// receive PeerConnection's remote description; simulcast consumers then get their
// preferred spatial layer (setConsumerPreferredLayers). Also the LoadParticipant interface
// a run drives, which LiveKitParticipant implements for the other edge.

import nodeDataChannel, { type PeerConnection, type Track } from 'node-datachannel';
import { MediaSender } from './MediaSender.ts';
import { LoadSignalling as Signalling } from './LoadSignalling.ts';
import { ResumeBatcher } from '../../src/browser/client/ResumeBatcher.ts';
import type { ConsumerInfo, TransportInfo } from '../../src/common/protocol/messages.ts';
import type { WireRtpCapabilities } from '../../src/common/protocol/rtp.ts';
import { parseRtp } from './rtp.ts';
import { isRtcp } from './rtcp.ts';
import { localDtls, remoteDescription, type RemoteSection } from './sdp.ts';
import { newSubscription, receivePacket, SIMULCAST_LAYERS, type SubscriptionCounters } from './Reception.ts';

export type { SubscriptionCounters } from './Reception.ts';

/** What one participant does. */
export interface ParticipantOptions {
  readonly wsUrl: string;
  readonly conference: string;
  readonly participantId: string;
  readonly video: boolean;
  readonly audio: boolean;
  /** Bits per second of the VP8 stream. */
  readonly videoBitrate: number;
  /** Receive everyone else's media (autoSubscribe). */
  readonly subscribe: boolean;
  /** Publish video as three simulcast layers (q, h, f) with these bitrates instead of one stream. */
  readonly simulcastBitrates?: readonly [number, number, number];
  /** Preferred spatial layer of the n-th simulcast video consumer (0 = q … 2 = f); absent = mediasoup's default, the highest. */
  readonly preferredLayer?: (subscriptionIndex: number) => number;
  /** Deadline of each signalling request. */
  readonly requestTimeoutMs?: number;
}

/** Join timings of one participant, ms since the run's clock origin. */
export interface JoinTimings {
  startedMs: number;
  wsOpenMs: number | undefined;
  joinedMs: number | undefined;
  /** Every consumer of the peers present at join delivered its first packet. */
  allFlowingMs: number | undefined;
}

const RECV_AUDIO_MID = '0';
const RECV_VIDEO_MID = '1';
const SEND_VIDEO_MID = '0';
const SEND_AUDIO_MID = '1';
const SEND_VIDEO_PT = 96;
const SEND_AUDIO_PT = 111;

/** RTP capabilities of a generator participant: Opus and VP8, no RTX, no header extensions. */
export const GENERATOR_RTP_CAPABILITIES: WireRtpCapabilities = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48_000, channels: 2, preferredPayloadType: 111 },
    {
      kind: 'video',
      mimeType: 'video/VP8',
      clockRate: 90_000,
      preferredPayloadType: 96,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    },
  ],
  headerExtensions: [],
};

/** What a load run needs of a synthetic participant, on either edge. */
export interface LoadParticipant {
  readonly id: string;
  /** The signalling edge it joined through: protocol v1 (/ws) or LiveKit (/rtc). */
  readonly edge: 'native' | 'livekit';
  readonly timings: JoinTimings;
  /** Receive counters by the SSRC the SFU sends on. */
  readonly subscriptions: ReadonlyMap<number, SubscriptionCounters>;
  /** Signalling or transport errors after the join, as text. */
  readonly errors: string[];
  /** Signalling messages received, by method or LiveKit response case. */
  readonly notifications: ReadonlyMap<string, number>;
  readonly sent: { audio: number; video: number; keyFrames: number; retransmitted: number };
  /** The tags' keys of the published tracks. */
  readonly streamKeys: { audio?: number; video?: number };
  videoSentOfLayer(layer: number): number;
  start(): Promise<void>;
  tick(tickIndex: number, nowMs: number): void;
  cyclePreferredLayers(): Promise<void>;
  close(): Promise<void>;
}

/** A synthetic participant on the native edge (protocol v1). */
export class Participant implements LoadParticipant {
  readonly id: string;
  readonly edge = 'native' as const;
  readonly timings: JoinTimings;
  readonly subscriptions = new Map<number, SubscriptionCounters>();
  readonly #options: ParticipantOptions;
  readonly #now: () => number;
  #signalling: Signalling | undefined;
  #batcher: ResumeBatcher | undefined;
  #sendPc: PeerConnection | undefined;
  #recvPc: PeerConnection | undefined;
  #recvInfo: TransportInfo | undefined;
  #recvVersion = 1;
  /** Receive tracks by mid: held here, or the garbage collector takes them (and their callbacks). */
  readonly #recvTracks = new Map<string, Track>();
  #sender: MediaSender | undefined;
  /** Subscriptions by consumer id (layer notifications name the consumer). */
  readonly #byConsumer = new Map<string, SubscriptionCounters>();
  #videoSubscriptions = 0;
  #routerPt = { audio: 100, video: 101 };
  #expectedAtJoin = 0;
  #pendingConsumers: ConsumerInfo[] = [];
  #offerTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Signalling or transport errors after the join, as text. */
  readonly errors: string[] = [];
  /** Close code of the signalling socket, once closed. */
  closeCode: number | undefined;
  /** Notifications received, by method (what the signalling edge costs the clients). */
  readonly notifications = new Map<string, number>();
  /** This participant's producer ids by kind, once published. */
  readonly producerIds: { audio?: string; video?: string } = {};

  constructor(options: ParticipantOptions, now: () => number) {
    this.#options = options;
    this.#now = now;
    this.id = options.participantId;
    this.timings = { startedMs: now(), wsOpenMs: undefined, joinedMs: undefined, allFlowingMs: undefined };
  }

  /** Packets sent by this participant's streams (video: all layers). */
  get sent(): { audio: number; video: number; keyFrames: number; retransmitted: number } {
    return this.#sender?.sent ?? { audio: 0, video: 0, keyFrames: 0, retransmitted: 0 };
  }

  /** Packets sent so far on the video stream of spatial layer `layer` (0 for a single stream). */
  videoSentOfLayer(layer: number): number {
    return this.#sender?.videoSentOfLayer(layer) ?? 0;
  }

  /** The tags' keys of this participant's published tracks. */
  get streamKeys(): { audio?: number; video?: number } {
    return this.#sender?.streamKeys ?? {};
  }

  /** Send failures (a track refused the packet). */
  get sendFailures(): number {
    return this.#sender?.sendFailures ?? 0;
  }

  /**
   * Moves every simulcast video consumer's preferred spatial layer to the next one (f → q → h → f);
   * resolves once the SFU answered each request.
   */
  async cyclePreferredLayers(): Promise<void> {
    const signalling = this.#signalling;
    if (this.#closed || !signalling) return;
    const requests: Array<Promise<void>> = [];
    for (const counters of this.#byConsumer.values()) {
      if (!counters.simulcast) continue;
      const next = ((counters.preferredLayer ?? SIMULCAST_LAYERS - 1) + 1) % SIMULCAST_LAYERS;
      requests.push(this.#prefer(signalling, counters, next));
    }
    await Promise.all(requests);
  }

  /** Opens signalling, joins, creates transports, publishes. Rejects with the server's error (e.g. RequestError CONFERENCE_FULL). */
  async start(): Promise<void> {
    const o = this.#options;
    const timeoutMs = o.requestTimeoutMs ?? 20_000;
    const url = `${o.wsUrl}?conference=${encodeURIComponent(o.conference)}&participant=${encodeURIComponent(o.participantId)}`;
    const signalling = await Signalling.open(url, timeoutMs);
    this.#signalling = signalling;
    this.#batcher = new ResumeBatcher(signalling);
    this.timings.wsOpenMs = this.#now();
    signalling.onClosed = (code) => {
      this.closeCode = code;
    };
    signalling.onNotification = (notification) => {
      this.notifications.set(notification.method, (this.notifications.get(notification.method) ?? 0) + 1);
      if (notification.method === 'consumerCreated') this.#onConsumer(notification.data);
      else if (notification.method === 'consumerLayersChanged') this.#onLayersChanged(notification.data);
    };
    const { rtpCapabilities } = await signalling.request('getRouterRtpCapabilities', {});
    this.#routerPt = routerPayloadTypes(rtpCapabilities);
    const joined = await signalling.request('join', { rtpCapabilities: GENERATOR_RTP_CAPABILITIES, autoSubscribe: o.subscribe });
    this.timings.joinedMs = this.#now();
    if (o.subscribe) {
      this.#expectedAtJoin = joined.peers.reduce((sum, peer) => sum + peer.publications.length, 0);
      await this.#createRecvTransport(signalling);
    }
    if (this.#expectedAtJoin === 0) this.timings.allFlowingMs = this.#now();
    if (o.audio || o.video) await this.#publish(signalling, timeoutMs);
  }

  /** Sends the packets due at this 20 ms tick: Opus every tick, a VP8 frame every second tick (25 fps). */
  tick(tickIndex: number, nowMs: number): void {
    if (!this.#closed) this.#sender?.tick(tickIndex, nowMs);
  }

  /** Leaves (best effort) and closes both PeerConnections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#offerTimer) clearTimeout(this.#offerTimer);
    const signalling = this.#signalling;
    if (signalling && !signalling.closed) {
      await signalling.request('leave', {}, 2000).catch((error: unknown) => this.errors.push(`leave: ${String(error)}`));
      signalling.close();
    }
    this.#sendPc?.close();
    this.#recvPc?.close();
  }

  async #createRecvTransport(signalling: Signalling): Promise<void> {
    const info = await signalling.request('createTransport', { direction: 'recv' });
    this.#recvInfo = info;
    const pc = new nodeDataChannel.PeerConnection(`${this.id}-recv`, { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true });
    this.#recvPc = pc;
    pc.onTrack((track) => {
      this.#recvTracks.set(track.mid(), track);
      const kind = track.mid() === RECV_AUDIO_MID ? 'audio' : 'video';
      track.onMessage((message) => this.#onMedia(message, kind));
    });
    pc.setRemoteDescription(remoteDescription(info, this.#recvSections(), 'actpass', this.#recvVersion), 'offer');
    pc.setLocalDescription('answer');
    const local = pc.localDescription();
    if (!local) throw new Error('receive PeerConnection produced no answer');
    const dtls = localDtls(local.sdp);
    await signalling.request('connectTransport', {
      transportId: info.transportId,
      dtlsParameters: { role: dtls.setup === 'active' ? 'client' : 'server', fingerprints: [{ algorithm: dtls.algorithm, value: dtls.value }] },
    });
    if (this.#pendingConsumers.length > 0) this.#scheduleOffer();
  }

  #recvSections(): RemoteSection[] {
    const audio: Array<{ ssrc: number; cname: string }> = [];
    const video: Array<{ ssrc: number; cname: string }> = [];
    for (const [ssrc, counters] of this.subscriptions) (counters.kind === 'audio' ? audio : video).push({ ssrc, cname: `c${ssrc}` });
    return [
      { mid: RECV_AUDIO_MID, kind: 'audio', payloadType: this.#routerPt.audio, ssrcs: audio },
      { mid: RECV_VIDEO_MID, kind: 'video', payloadType: this.#routerPt.video, ssrcs: video },
    ];
  }

  #prefer(signalling: Signalling, counters: SubscriptionCounters, layer: number): Promise<void> {
    counters.preferredLayer = layer;
    return signalling
      .request('setConsumerPreferredLayers', { consumerId: counters.consumerId, spatialLayer: layer })
      .then(() => undefined)
      .catch((error: unknown) => {
        if (!this.#closed) this.errors.push(`setConsumerPreferredLayers: ${String(error)}`);
      });
  }

  #onLayersChanged(data: { consumerId: string; spatialLayer: number | null }): void {
    const counters = this.#byConsumer.get(data.consumerId);
    if (!counters) return;
    counters.layerNotifications++;
    if (data.spatialLayer !== null) counters.notifiedLayers.add(data.spatialLayer);
  }

  #onConsumer(info: ConsumerInfo): void {
    this.#pendingConsumers.push(info);
    if (this.#recvPc) this.#scheduleOffer();
  }

  /** Puts new consumers' SSRCs into a new remote offer (batched), then acknowledges them. */
  #scheduleOffer(): void {
    this.#offerTimer ??= setTimeout(() => {
      this.#offerTimer = undefined;
      const batch = this.#pendingConsumers;
      this.#pendingConsumers = [];
      const pc = this.#recvPc;
      if (this.#closed || !pc || !this.#recvInfo || batch.length === 0) return;
      for (const consumer of batch) {
        const ssrc = consumerSsrc(consumer);
        if (ssrc === undefined) {
          this.errors.push(`consumer ${consumer.consumerId} without SSRC`);
          continue;
        }
        const counters = newSubscription({
          consumerId: consumer.consumerId,
          kind: consumer.kind,
          producerId: consumer.producerId,
          simulcast: consumer.type === 'simulcast',
          createdAtMs: this.#now(),
        });
        this.subscriptions.set(ssrc, counters);
        this.#byConsumer.set(consumer.consumerId, counters);
      }
      try {
        this.#recvVersion++;
        pc.setRemoteDescription(remoteDescription(this.#recvInfo, this.#recvSections(), 'actpass', this.#recvVersion), 'offer');
        // libdatachannel aborts the process (an uncaught C++ exception) on an answer in the wrong state.
        if (pc.signalingState() === 'have-remote-offer') pc.setLocalDescription('answer');
        else this.errors.push(`renegotiation: signalling state ${pc.signalingState()} after the offer`);
      } catch (error) {
        this.errors.push(`renegotiation: ${String(error)}`);
      }
      for (const consumer of batch) {
        const counters = this.#byConsumer.get(consumer.consumerId);
        const preferred = counters?.simulcast && this.#options.preferredLayer ? this.#options.preferredLayer(this.#videoSubscriptions++) : undefined;
        this.#batcher
          ?.resume(consumer.consumerId)
          .then(() => {
            const signalling = this.#signalling;
            if (counters && preferred !== undefined && preferred !== SIMULCAST_LAYERS - 1 && signalling) return this.#prefer(signalling, counters, preferred);
            return undefined;
          })
          .catch((error: unknown) => this.errors.push(`resume: ${String(error)}`));
      }
    }, 5);
  }

  #onMedia(message: Buffer, kind: 'audio' | 'video'): void {
    if (isRtcp(message)) return;
    const packet = parseRtp(message, kind);
    if (!packet) return;
    const counters = this.subscriptions.get(packet.ssrc);
    if (!counters) return;
    const now = this.#now();
    if (receivePacket(counters, packet, now)) this.#checkAllFlowing(now);
  }

  #checkAllFlowing(now: number): void {
    if (this.timings.allFlowingMs !== undefined) return;
    let flowing = 0;
    for (const counters of this.subscriptions.values()) if (counters.firstPacketAtMs !== undefined) flowing++;
    if (flowing >= this.#expectedAtJoin) this.timings.allFlowingMs = now;
  }

  async #publish(signalling: Signalling, timeoutMs: number): Promise<void> {
    const o = this.#options;
    const info = await signalling.request('createTransport', { direction: 'send' });
    const pc = new nodeDataChannel.PeerConnection(`${this.id}-send`, { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true });
    this.#sendPc = pc;
    const sender = new MediaSender(pc, {
      name: this.id,
      video: o.video,
      audio: o.audio,
      videoBitrate: o.videoBitrate,
      ...(o.simulcastBitrates ? { simulcastBitrates: o.simulcastBitrates } : {}),
      videoMid: SEND_VIDEO_MID,
      audioMid: SEND_AUDIO_MID,
      videoPayloadType: SEND_VIDEO_PT,
      audioPayloadType: SEND_AUDIO_PT,
    });
    this.#sender = sender;
    const sections: RemoteSection[] = [];
    if (o.video) sections.push({ mid: SEND_VIDEO_MID, kind: 'video', payloadType: SEND_VIDEO_PT, ssrcs: [] });
    if (o.audio) sections.push({ mid: SEND_AUDIO_MID, kind: 'audio', payloadType: SEND_AUDIO_PT, ssrcs: [] });
    pc.setLocalDescription('offer');
    const local = pc.localDescription();
    if (!local) throw new Error('send PeerConnection produced no offer');
    const dtls = localDtls(local.sdp);
    pc.setRemoteDescription(remoteDescription(info, sections, 'active', 1), 'answer');
    await signalling.request('connectTransport', {
      transportId: info.transportId,
      dtlsParameters: { role: 'server', fingerprints: [{ algorithm: dtls.algorithm, value: dtls.value }] },
    });
    if (o.video) {
      const { producerId } = await signalling.request('produce', { transportId: info.transportId, kind: 'video', source: 'camera', rtpParameters: sender.videoRtpParameters() });
      this.producerIds.video = producerId;
    }
    if (o.audio) {
      const { producerId } = await signalling.request('produce', { transportId: info.transportId, kind: 'audio', source: 'microphone', rtpParameters: sender.audioRtpParameters() });
      this.producerIds.audio = producerId;
    }
    await sender.waitOpen(timeoutMs);
  }
}

/** Payload types the router chose for Opus and VP8 (consumers use them). */
function routerPayloadTypes(capabilities: unknown): { audio: number; video: number } {
  const codecs = (capabilities as { codecs?: Array<{ mimeType?: string; preferredPayloadType?: number }> }).codecs ?? [];
  const audio = codecs.find((c) => c.mimeType?.toLowerCase() === 'audio/opus')?.preferredPayloadType;
  const video = codecs.find((c) => c.mimeType?.toLowerCase() === 'video/vp8')?.preferredPayloadType;
  if (audio === undefined || video === undefined) throw new Error('router offers no Opus or no VP8');
  return { audio, video };
}

function consumerSsrc(info: ConsumerInfo): number | undefined {
  const encodings = (info.rtpParameters as { encodings?: Array<{ ssrc?: unknown }> }).encodings;
  const ssrc = encodings?.[0]?.ssrc;
  return typeof ssrc === 'number' ? ssrc : undefined;
}
