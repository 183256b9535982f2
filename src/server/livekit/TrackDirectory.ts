// Track sids and TrackInfos of every producer the livekit edge has seen, shared
// by its sessions. A LiveKit publisher's track gets its sid at AddTrack, before
// the producer exists, and its TrackInfo (name, dimensions, layers) from the
// AddTrack request; a producer of the native edge gets a sid and a TrackInfo
// built from what the core tells (kind, source, paused) the first time a
// LiveKit subscriber sees it. Bounded by the producers alive: entries go when
// their producer closes (forget()).

import { Encryption_Type, TrackInfo, TrackSource, TrackType, newTrackSid, trackSourceOf } from './wire.ts';
import type { MediaSource } from '../conference/types.ts';

/** Summary of a producer the core hands to subscribers. */
export interface ProducerSummary {
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly paused: boolean;
  /** The publisher encrypts end to end: livekit-client decrypts a track only when its TrackInfo says GCM. */
  readonly encrypted?: boolean | undefined;
}

/** Producer id ↔ LiveKit track. */
export class TrackDirectory {
  readonly #byProducer = new Map<string, TrackInfo>();
  readonly #producerBySid = new Map<string, string>();
  /** Tracks being produced right now, by `{participantId}\0{source}`: subscribers may hear of the producer before produce() returns. */
  readonly #announced = new Map<string, TrackInfo>();

  /** A LiveKit publisher is about to produce `info`: subscribers told of the producer meanwhile get this info. */
  announce(participantId: string, source: MediaSource, info: TrackInfo): void {
    this.#announced.set(`${participantId}\u0000${source}`, info);
  }

  /** The produce() of an announced track ended (done or failed). */
  settle(participantId: string, source: MediaSource): void {
    this.#announced.delete(`${participantId}\u0000${source}`);
  }

  /** Records a LiveKit publisher's track once its producer exists. */
  publish(producerId: string, info: TrackInfo): void {
    this.#byProducer.set(producerId, info);
    this.#producerBySid.set(info.sid, producerId);
  }

  /**
   * The TrackInfo of a producer (an announced one, or built for producers of the native edge).
   * `mimeType` (the producer's codec, from a consumer's RTP parameters) fills in a TrackInfo
   * without one: livekit-client (and Element Call's E2EE) need it for a native participant's track.
   */
  infoFor(summary: ProducerSummary & { readonly participantId?: string; readonly mimeType?: string | undefined }): TrackInfo {
    let info = this.#byProducer.get(summary.producerId);
    const announced = summary.participantId === undefined ? undefined : this.#announced.get(`${summary.participantId}\u0000${summary.source}`);
    if (!info && announced) {
      info = announced;
      this.publish(summary.producerId, info);
    }
    if (!info) {
      info = new TrackInfo({
        sid: newTrackSid(),
        type: summary.kind === 'audio' ? TrackType.AUDIO : TrackType.VIDEO,
        source: summary.source ? trackSourceOf(summary.source) : TrackSource.UNKNOWN,
        name: summary.source,
        muted: summary.paused,
      });
      this.publish(summary.producerId, info);
    }
    if (!info.mimeType && summary.mimeType) info.mimeType = summary.mimeType;
    if (summary.encrypted && info.encryption === Encryption_Type.NONE) info.encryption = Encryption_Type.GCM;
    return info;
  }

  /** The producer of a track sid. */
  producerOf(trackSid: string): string | undefined {
    return this.#producerBySid.get(trackSid);
  }

  /** Marks a producer's track muted or not. */
  setMuted(producerId: string, muted: boolean): void {
    const info = this.#byProducer.get(producerId);
    if (info) info.muted = muted;
  }

  /** Drops a closed producer. */
  forget(producerId: string): void {
    const info = this.#byProducer.get(producerId);
    if (!info) return;
    this.#byProducer.delete(producerId);
    this.#producerBySid.delete(info.sid);
  }

  get size(): number {
    return this.#byProducer.size;
  }
}
