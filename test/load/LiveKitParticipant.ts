// One synthetic participant that joins through the SFU's LiveKit edge (/rtc, two
// PeerConnections), with the same synthetic media as a native one (MediaSender) and the
// same per-consumer counting (Reception). Signalling is protobuf over the test tools'
// LiveKitWsClient: the token is an unsigned development token (the target runs with
// auth.mode none, where the edge reads `sub` and `video.room` from the payload), the
// JoinResponse marks the join, AddTrack → TrackPublished announces each track, the
// publisher PeerConnection's offer (tracks named by their AddTrack cid in the msid; for
// simulcast the rids, a=simulcast and the rid extension) is answered by the SFU, and every
// subscriber offer the SFU sends is answered by a node-datachannel PeerConnection, one
// m-section per consumer. Preferred simulcast layers go as UpdateTrackSettings quality.
// Pings keep the session alive. The edge subscribes every participant (autoSubscribe).

import nodeDataChannel, { type PeerConnection, type Track } from 'node-datachannel';
import sdpTransform from 'sdp-transform';
import { AddTrackRequest, LeaveRequest, SessionDescription, TrackSource, TrackType, UpdateTrackSettings, VideoLayer, VideoQuality, type SignalResponse } from '@livekit/protocol';
import { LiveKitWsClient } from '../tools/liveKitWsClient.ts';
import { MediaSender, SIMULCAST_SHAPES } from './MediaSender.ts';
import type { JoinTimings, LoadParticipant, ParticipantOptions } from './Participant.ts';
import { parseRtp } from './rtp.ts';
import { isRtcp } from './rtcp.ts';
import { newSubscription, receivePacket, SIMULCAST_LAYERS, type SubscriptionCounters } from './Reception.ts';

const VIDEO_MID = '0';
const AUDIO_MID = '1';
const VIDEO_PT = 96;
const AUDIO_PT = 111;
const QUALITIES = [VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH] as const;

type ResponseCase = NonNullable<SignalResponse['message']['case']>;

/** An unsigned development token: what the LiveKit edge reads with auth.mode none. */
export function devLiveKitToken(conference: string, identity: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const nowS = Math.floor(Date.now() / 1000);
  const payload = { sub: identity, name: identity, iat: nowS, exp: nowS + 3600, video: { room: conference, roomJoin: true, canPublish: true, canSubscribe: true } };
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}.unsigned`;
}

/** One subscriber m-section the SFU offered. */
interface OfferedTrack {
  readonly kind: 'audio' | 'video';
  readonly trackSid: string;
}

/** A synthetic participant on the LiveKit edge. */
export class LiveKitParticipant implements LoadParticipant {
  readonly id: string;
  readonly edge = 'livekit' as const;
  readonly timings: JoinTimings;
  readonly subscriptions = new Map<number, SubscriptionCounters>();
  readonly errors: string[] = [];
  readonly notifications = new Map<string, number>();
  readonly #options: ParticipantOptions;
  readonly #now: () => number;
  #client: LiveKitWsClient | undefined;
  #sendPc: PeerConnection | undefined;
  #recvPc: PeerConnection | undefined;
  #sender: MediaSender | undefined;
  /** Subscriber m-sections by mid, and their tracks (held, or the garbage collector takes their callbacks). */
  readonly #offered = new Map<string, OfferedTrack>();
  readonly #recvTracks = new Map<string, Track>();
  /** Simulcast video subscriptions by track sid (layer preferences name the track). */
  readonly #byTrack = new Map<string, SubscriptionCounters>();
  #videoSubscriptions = 0;
  #expectedAtJoin = 0;
  #pinger: NodeJS.Timeout | undefined;
  readonly #waiters: Array<{ kind: ResponseCase; match: (message: SignalResponse) => boolean; resolve: (message: SignalResponse) => void }> = [];
  #closed = false;

  constructor(options: ParticipantOptions, now: () => number) {
    this.#options = options;
    this.#now = now;
    this.id = options.participantId;
    this.timings = { startedMs: now(), wsOpenMs: undefined, joinedMs: undefined, allFlowingMs: undefined };
  }

  get sent(): { audio: number; video: number; keyFrames: number; retransmitted: number } {
    return this.#sender?.sent ?? { audio: 0, video: 0, keyFrames: 0, retransmitted: 0 };
  }

  videoSentOfLayer(layer: number): number {
    return this.#sender?.videoSentOfLayer(layer) ?? 0;
  }

  get streamKeys(): { audio?: number; video?: number } {
    return this.#sender?.streamKeys ?? {};
  }

  /** Connects, waits for the JoinResponse, then publishes (AddTrack, offer, answer) and waits for the tracks to open. */
  async start(): Promise<void> {
    const o = this.#options;
    const timeoutMs = o.requestTimeoutMs ?? 20_000;
    const base = o.wsUrl.replace(/\/ws$/, '');
    this.#recvPc = new nodeDataChannel.PeerConnection(`${this.id}-lk-recv`, { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true });
    this.#recvPc.onTrack((track) => this.#onTrack(track));
    const joined = this.#waitFor('join', timeoutMs);
    const upgrade = await LiveKitWsClient.connect(base, devLiveKitToken(o.conference, o.participantId));
    if (!upgrade.ok) throw new Error(`LiveKit upgrade refused: HTTP ${upgrade.status} ${upgrade.body.slice(0, 200)}`);
    const client = upgrade.client;
    this.#client = client;
    // Frames that came with the upgrade response were read before `connect` resolved: hand them over first.
    client.keepMessages = false;
    client.onMessage = (message) => this.#onMessage(message);
    for (const early of client.messages.splice(0)) this.#onMessage(early);
    this.timings.wsOpenMs = this.#now();
    const join = await joined;
    if (join.message.case !== 'join') throw new Error('no JoinResponse');
    this.timings.joinedMs = this.#now();
    this.#expectedAtJoin = join.message.value.otherParticipants.reduce((sum, p) => sum + p.tracks.length, 0);
    if (this.#expectedAtJoin === 0) this.timings.allFlowingMs = this.#now();
    const pingMs = Math.max(1, join.message.value.pingInterval || 5) * 1000;
    this.#pinger = setInterval(() => this.#client?.send({ case: 'ping', value: BigInt(Date.now()) }), pingMs);
    if (o.video || o.audio) await this.#publish(client, timeoutMs);
  }

  tick(tickIndex: number, nowMs: number): void {
    if (!this.#closed) this.#sender?.tick(tickIndex, nowMs);
  }

  /** Moves every simulcast video subscription's preferred layer to the next one (f → q → h → f). */
  async cyclePreferredLayers(): Promise<void> {
    for (const [trackSid, counters] of this.#byTrack) {
      this.#prefer(trackSid, counters, ((counters.preferredLayer ?? SIMULCAST_LAYERS - 1) + 1) % SIMULCAST_LAYERS);
    }
  }

  /** Sends a LeaveRequest and closes the socket and both PeerConnections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pinger) clearInterval(this.#pinger);
    try {
      this.#client?.send({ case: 'leave', value: new LeaveRequest({}) });
    } catch (error) {
      this.errors.push(`leave: ${String(error)}`);
    }
    this.#client?.close();
    this.#sendPc?.close();
    this.#recvPc?.close();
  }

  #waitFor(kind: ResponseCase, timeoutMs: number, match: (message: SignalResponse) => boolean = () => true): Promise<SignalResponse> {
    return new Promise((resolve, reject) => {
      const waiter = {
        kind,
        match,
        resolve: (message: SignalResponse) => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`${this.id}: no ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  #onMessage(message: SignalResponse): void {
    const kind = message.message.case;
    if (!kind) return;
    this.notifications.set(kind, (this.notifications.get(kind) ?? 0) + 1);
    const index = this.#waiters.findIndex((w) => w.kind === kind && w.match(message));
    if (index >= 0) this.#waiters.splice(index, 1)[0]!.resolve(message);
    if (message.message.case === 'offer') this.#answer(message.message.value);
    else if (message.message.case === 'leave' && !this.#closed) this.errors.push(`LeaveRequest from the SFU (reason ${message.message.value.reason})`);
  }

  async #publish(client: LiveKitWsClient, timeoutMs: number): Promise<void> {
    const o = this.#options;
    const cids = { video: `${this.id}-video`, audio: `${this.id}-audio` };
    const published: Array<Promise<SignalResponse>> = [];
    const announce = (request: AddTrackRequest): void => {
      published.push(this.#waitFor('trackPublished', timeoutMs, (m) => m.message.case === 'trackPublished' && m.message.value.cid === request.cid));
      client.send({ case: 'addTrack', value: request });
    };
    if (o.video) {
      const layers = o.simulcastBitrates
        ? SIMULCAST_SHAPES.map((shape, index) => new VideoLayer({ quality: QUALITIES[index]!, width: shape.width, height: shape.height, bitrate: o.simulcastBitrates![index]! }))
        : [];
      announce(new AddTrackRequest({ cid: cids.video, name: 'camera', type: TrackType.VIDEO, source: TrackSource.CAMERA, width: 1280, height: 720, layers }));
    }
    if (o.audio) announce(new AddTrackRequest({ cid: cids.audio, name: 'microphone', type: TrackType.AUDIO, source: TrackSource.MICROPHONE }));
    await Promise.all(published);
    const pc = new nodeDataChannel.PeerConnection(`${this.id}-lk-send`, { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true });
    this.#sendPc = pc;
    this.#sender = new MediaSender(pc, {
      name: this.id,
      video: o.video,
      audio: o.audio,
      videoBitrate: o.videoBitrate,
      ...(o.simulcastBitrates ? { simulcastBitrates: o.simulcastBitrates } : {}),
      videoMid: VIDEO_MID,
      audioMid: AUDIO_MID,
      videoPayloadType: VIDEO_PT,
      audioPayloadType: AUDIO_PT,
      trackIds: cids,
    });
    pc.setLocalDescription('offer');
    const offer = pc.localDescription();
    if (!offer) throw new Error('publisher PeerConnection produced no offer');
    const answered = this.#waitFor('answer', timeoutMs);
    client.send({ case: 'offer', value: new SessionDescription({ type: 'offer', sdp: offer.sdp, id: 1 }) });
    const answer = await answered;
    if (answer.message.case !== 'answer') throw new Error('no publisher answer');
    pc.setRemoteDescription(answer.message.value.sdp, 'answer');
    await this.#sender.waitOpen(timeoutMs);
  }

  /** Answers a subscriber offer; new m-sections become subscriptions (keyed by their SSRC). */
  #answer(offer: SessionDescription): void {
    const pc = this.#recvPc;
    if (this.#closed || !pc) return;
    const added: Array<{ trackSid: string; counters: SubscriptionCounters }> = [];
    try {
      const parsed = sdpTransform.parse(offer.sdp);
      for (const media of parsed.media) {
        const mid = media.mid === undefined ? undefined : String(media.mid);
        if (mid === undefined || this.#offered.has(mid) || (media.type !== 'audio' && media.type !== 'video')) continue;
        const ssrc = media.ssrcs?.[0]?.id;
        if (ssrc === undefined || media.direction === 'inactive') continue;
        const trackSid = offer.midToTrackId[mid] ?? media.msid?.[0]?.appdata ?? mid;
        this.#offered.set(mid, { kind: media.type, trackSid });
        const counters = newSubscription({
          consumerId: `${this.id}:${mid}`,
          kind: media.type,
          producerId: trackSid,
          simulcast: media.type === 'video' && this.#options.simulcastBitrates !== undefined,
          // The edge's consumers negotiate transport-cc; without feedback from us the SFU's
          // estimate stays at its initial bitrate and it picks simulcast layers to fit it.
          bandwidthManaged: media.type === 'video' && this.#options.simulcastBitrates !== undefined,
          createdAtMs: this.#now(),
        });
        this.subscriptions.set(Number(ssrc), counters);
        added.push({ trackSid, counters });
      }
      pc.setRemoteDescription(offer.sdp, 'offer');
      // libdatachannel aborts the process (an uncaught C++ exception) on an answer in the wrong state.
      if (pc.signalingState() !== 'have-remote-offer') {
        this.errors.push(`subscriber offer: signalling state ${pc.signalingState()}`);
        return;
      }
      pc.setLocalDescription('answer');
      const answer = pc.localDescription();
      if (!answer) throw new Error('subscriber PeerConnection produced no answer');
      this.#client?.send({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp: answer.sdp, id: offer.id, midToTrackId: {} }) });
    } catch (error) {
      this.errors.push(`subscriber offer: ${String(error)}`);
      return;
    }
    for (const { trackSid, counters } of added) {
      if (!counters.simulcast) continue;
      this.#byTrack.set(trackSid, counters);
      const preferred = this.#options.preferredLayer?.(this.#videoSubscriptions++);
      if (preferred !== undefined && preferred !== SIMULCAST_LAYERS - 1) this.#prefer(trackSid, counters, preferred);
    }
  }

  #prefer(trackSid: string, counters: SubscriptionCounters, layer: number): void {
    counters.preferredLayer = layer;
    this.#client?.send({ case: 'trackSetting', value: new UpdateTrackSettings({ trackSids: [trackSid], quality: QUALITIES[layer]! }) });
  }

  #onTrack(track: Track): void {
    const mid = track.mid();
    this.#recvTracks.set(mid, track);
    const kind = this.#offered.get(mid)?.kind ?? (track.type() === 'audio' ? 'audio' : 'video');
    track.onMessage((message) => {
      if (isRtcp(message)) return;
      const packet = parseRtp(message, kind);
      if (!packet) return;
      const counters = this.subscriptions.get(packet.ssrc);
      if (!counters) return;
      const now = this.#now();
      if (receivePacket(counters, packet, now)) this.#checkAllFlowing(now);
    });
  }

  #checkAllFlowing(now: number): void {
    if (this.timings.allFlowingMs !== undefined) return;
    let flowing = 0;
    for (const counters of this.subscriptions.values()) if (counters.firstPacketAtMs !== undefined) flowing++;
    if (flowing >= this.#expectedAtJoin) this.timings.allFlowingMs = now;
  }
}
