// The publisher side of a LiveKit session (the client's primary PeerConnection): tracks
// announced by AddTrack wait here until the client's next offer carries them (matched by
// their msid track id, the AddTrack `cid`, else by kind), each becomes a producer on our send
// transport, and our answer goes back. The send transport is created on the first offer, with
// the client's data channels bridged to the relay (DataRelay) when there is one; a changed ICE
// ufrag restarts ICE. Runs inside the session's queue, so offers never interleave.

import { errorMessage } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import type { TransportInfo } from '../conference/types.ts';
import { AddTrackRequest, SessionDescription, TrackPublishedResponse } from '@livekit/protocol';
import type { SignalResponse } from '@livekit/protocol';
import { buildPublisherAnswer, parsePublisherOffer, SdpError } from './sdp.ts';
import type { DataEndpoint } from './DataRelay.ts';
import { LIVEKIT_DATA_CHANNELS, MAX_DATA_PACKET_BYTES } from './dataPacket.ts';
import type { Dynacast } from './Dynacast.ts';
import { MAX_PENDING_TRACKS } from './policy.ts';
import type { TrackDirectory } from './TrackDirectory.ts';
import { Encryption_Type, TrackInfo, TrackType, mediaSourceOf, trackInfoOfAddTrack } from './wire.ts';

/** What a PublisherLink needs of its session. */
export interface PublisherLinkOptions {
  readonly handle: ParticipantHandle;
  readonly participantId: string;
  /** The current ticket's publish right (a resumed session may carry a new ticket). */
  readonly canPublish: () => boolean;
  readonly directory: TrackDirectory;
  readonly dynacast: Dynacast;
  /** The client's data channels, bridged on the send transport's SCTP association. */
  readonly data: DataEndpoint | undefined;
  /** The session's own participant view's tracks (producer id → track). */
  readonly ownTracks: () => Map<string, TrackInfo>;
  readonly respond: (message: SignalResponse['message']) => void;
  readonly fault: (what: string, error: unknown) => void;
  readonly log: Logger;
}

interface Published {
  readonly producerId: string;
  readonly info: TrackInfo;
}

/** The publisher PeerConnection of one LiveKit session (see the header comment). */
export class PublisherLink {
  readonly #options: PublisherLinkOptions;
  readonly #pending = new Map<string, TrackInfo>();
  readonly #publishedByMid = new Map<string, Published>();
  #send: TransportInfo | undefined;
  #sendIceUfrag: string | undefined;
  #answerVersion = 0;

  constructor(options: PublisherLinkOptions) {
    this.#options = options;
  }

  /** Mute / unmute of one of the client's tracks (published or still announced). */
  async mute(trackSid: string, muted: boolean): Promise<void> {
    const published = [...this.#publishedByMid.values()].find((p) => p.info.sid === trackSid);
    if (published) {
      const { handle } = this.#options;
      await (muted ? handle.pauseProducer(published.producerId) : handle.resumeProducer(published.producerId));
      published.info.muted = muted;
      this.#options.directory.setMuted(published.producerId, muted);
      return;
    }
    const pending = [...this.#pending.values()].find((info) => info.sid === trackSid);
    if (pending) pending.muted = muted;
  }

  /** AddTrack: announces the track (TrackPublished) until the client's next offer carries it. */
  addTrack(request: AddTrackRequest): void {
    if (!this.#options.canPublish()) {
      this.#options.fault('AddTrack without publish rights', undefined);
      return;
    }
    if (this.#pending.size >= MAX_PENDING_TRACKS || this.#pending.has(request.cid) || request.cid.length === 0 || request.cid.length > 255) {
      this.#options.fault('AddTrack refused (duplicate, unnamed or too many pending)', undefined);
      return;
    }
    if (request.type !== TrackType.AUDIO && request.type !== TrackType.VIDEO) {
      this.#options.fault('AddTrack of a data track', undefined);
      return;
    }
    const info = trackInfoOfAddTrack(request);
    this.#pending.set(request.cid, info);
    this.#options.log.debug('livekit track announced', { trackSid: info.sid, type: info.type, source: info.source });
    this.#options.respond({ case: 'trackPublished', value: new TrackPublishedResponse({ cid: request.cid, track: info }) });
  }

  /**
   * The client's publisher offer: the send transport (created on the first offer, with the
   * data link; ICE restarted when the client restarted it), a producer for each announced
   * track it carries, producers whose sections are gone closed, then our answer.
   */
  async offer(description: SessionDescription): Promise<void> {
    const handle = this.#options.handle;
    let offer;
    try {
      offer = parsePublisherOffer(description.sdp, handle.rtpCapabilities());
    } catch (error) {
      if (error instanceof SdpError) {
        this.#options.fault('publisher offer refused', error);
        return;
      }
      throw error;
    }
    if (!this.#send) {
      // The client's data channels (`_lossy`, `_reliable`) ride on this transport's SCTP association.
      this.#send = await handle.createTransport({ direction: 'send', enableSctp: this.#options.data !== undefined });
      if (this.#options.data) await this.#openData(this.#send.transportId, this.#options.data);
      await handle.connectTransport(this.#send.transportId, offer.dtlsParameters);
    } else if (this.#sendIceUfrag !== undefined && this.#sendIceUfrag !== offer.iceUfrag) {
      // The client restarted ICE: answer with fresh credentials.
      this.#send = { ...this.#send, iceParameters: await handle.restartIce(this.#send.transportId) };
    }
    this.#sendIceUfrag = offer.iceUfrag;
    const produced = new Set<string>();
    for (const section of offer.sections) {
      if (section.verdict !== 'produce') continue;
      if (this.#publishedByMid.has(section.mid)) {
        produced.add(section.mid);
        continue;
      }
      const cid = section.track.trackId !== undefined && this.#pending.has(section.track.trackId) ? section.track.trackId : this.#pendingOfKind(section.track.kind);
      const info = cid === undefined ? undefined : this.#pending.get(cid);
      if (!this.#options.canPublish() || cid === undefined || !info) {
        this.#options.log.debug('sending m-section without AddTrack rejected', { mid: section.mid });
        continue;
      }
      const source = mediaSourceOf(info.source, info.type);
      if (!source) continue;
      info.mid = section.mid;
      info.mimeType = section.track.rtpParameters.codecs[0]!.mimeType;
      this.#options.directory.announce(this.#options.participantId, source, info);
      try {
        const { producerId } = await handle.produce({
          transportId: this.#send.transportId,
          kind: section.track.kind,
          rtpParameters: section.track.rtpParameters,
          source,
          paused: info.muted,
          ...(info.encryption !== Encryption_Type.NONE ? { encrypted: true } : {}),
        });
        this.#pending.delete(cid);
        this.#publishedByMid.set(section.mid, { producerId, info });
        this.#options.directory.publish(producerId, info);
        if (section.track.kind === 'video') {
          this.#options.dynacast.track(producerId, { trackSid: info.sid, mimeType: info.mimeType, rids: (section.track.rtpParameters.encodings ?? []).map((e) => e.rid) });
        }
        this.#options.ownTracks().set(producerId, info);
        produced.add(section.mid);
        this.#options.log.debug('livekit track produced', {
          trackSid: info.sid,
          producerId,
          mid: section.mid,
          encodings: section.track.rtpParameters.encodings?.map((e) => e.rid ?? e.ssrc),
          extensions: section.track.rtpParameters.headerExtensions?.map((h) => h.id),
        });
      } catch (error) {
        this.#options.log.warn('produce refused', { mid: section.mid, error: errorMessage(error) });
      } finally {
        this.#options.directory.settle(this.#options.participantId, source);
      }
    }
    for (const [mid, published] of [...this.#publishedByMid]) {
      if (produced.has(mid)) continue;
      this.#publishedByMid.delete(mid);
      this.#options.ownTracks().delete(published.producerId);
      this.#options.directory.forget(published.producerId);
      this.#options.dynacast.forget(published.producerId);
      await handle.closeProducer(published.producerId).catch((error: unknown) => this.#options.log.debug('closeProducer failed', { error: errorMessage(error) }));
    }
    const sdp = buildPublisherAnswer(offer, this.#send, produced, ++this.#answerVersion);
    this.#options.respond({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp, id: description.id }) });
  }

  /** Bridges the client's data channels to the relay; without it media still works. */
  async #openData(transportId: string, endpoint: DataEndpoint): Promise<void> {
    try {
      const link = await this.#options.handle.openDataLink(transportId, {
        channels: LIVEKIT_DATA_CHANNELS,
        // Larger than a DataPacket may be, so that oversized messages reach the relay and count as faults.
        maxMessageBytes: Math.max(MAX_DATA_PACKET_BYTES, this.#send?.sctpParameters?.maxMessageSize ?? 0),
        onMessage: (label, message, ppid) => endpoint.receive(label, message, ppid),
      });
      endpoint.bind(link);
    } catch (error) {
      this.#options.log.warn('data channels not bridged', { error: errorMessage(error) });
    }
  }

  #pendingOfKind(kind: 'audio' | 'video'): string | undefined {
    const type = kind === 'audio' ? TrackType.AUDIO : TrackType.VIDEO;
    for (const [cid, info] of this.#pending) if (info.type === type) return cid;
    return undefined;
  }
}
