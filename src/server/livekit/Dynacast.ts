// Dynacast for one LiveKit publisher: tells the client which simulcast layers of each of its
// video tracks anyone needs (SubscribedQualityUpdate), so livekit-client turns the unneeded
// encodings off (RTCRtpSender encodings `active: false`) and saves its uplink and CPU.
//
// Demand comes from the conference core (`producerDemand`: every consumer of the producer,
// on both edges): paused consumers need nothing; a forwarding one needs the layers up to its
// preferred spatial layer. While anyone forwards, at least the lowest layer stays on; with
// nobody, every layer goes off. More layers are asked for at once; fewer only after
// `pauseMs` without a rise (as livekit-server waits before disabling), so a subscriber that
// flips between sizes or reconnects does not make the publisher restart encoders.

import { SubscribedCodec, SubscribedQuality, SubscribedQualityUpdate, VideoQuality } from '@livekit/protocol';
import type { Logger } from '../../common/lib/logger.ts';
import type { ProducerDemand } from '../conference/types.ts';

/** How a published simulcast track is known to Dynacast. */
export interface DynacastTrack {
  readonly trackSid: string;
  /** Codec mime type (`video/VP8`); livekit-client matches the lowercase subtype. */
  readonly mimeType: string;
  /** The rid of each encoding, lowest layer first (mediasoup's spatial layer order). */
  readonly rids: ReadonlyArray<string | undefined>;
}

/** Options of Dynacast. */
export interface DynacastOptions {
  /** Delay before fewer layers are asked for (a rise cancels it). */
  readonly pauseMs: number;
  readonly send: (update: SubscribedQualityUpdate) => void;
  readonly logger: Logger;
}

interface TrackState {
  readonly track: DynacastTrack;
  /** Layers last told to the client (the publisher starts with all of them on). */
  sent: number;
  /** Layers the subscribers need now. */
  wanted: number;
  timer: NodeJS.Timeout | undefined;
}

/** The quality livekit-client gives an encoding's rid (`q`/`h`/`f`), else by its position. */
export function qualityOfLayer(rid: string | undefined, index: number): VideoQuality {
  switch (rid) {
    case 'q':
      return VideoQuality.LOW;
    case 'h':
      return VideoQuality.MEDIUM;
    case 'f':
      return VideoQuality.HIGH;
    default:
      return [VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH][Math.min(index, 2)]!;
  }
}

/** How many layers (lowest first) a demand needs: 0 with nobody forwarding, else 1 … `layerCount`. */
export function layersNeeded(demand: ProducerDemand, layerCount: number): number {
  if (demand.active === 0 || layerCount <= 0) return 0;
  return Math.max(1, Math.min(layerCount, demand.maxSpatialLayer + 1));
}

/** The update turning on the first `enabled` layers of a track and every other quality off. */
export function subscribedQualityUpdate(track: DynacastTrack, enabled: number): SubscribedQualityUpdate {
  const on = new Set(track.rids.slice(0, enabled).map((rid, index) => qualityOfLayer(rid, index)));
  const qualities = () => [VideoQuality.LOW, VideoQuality.MEDIUM, VideoQuality.HIGH].map((quality) => new SubscribedQuality({ quality, enabled: on.has(quality) }));
  const codec = track.mimeType.split('/')[1]?.toLowerCase() ?? '';
  return new SubscribedQualityUpdate({
    trackSid: track.trackSid,
    subscribedQualities: qualities(),
    subscribedCodecs: [new SubscribedCodec({ codec, qualities: qualities() })],
  });
}

/** The dynacast state of one session's published simulcast tracks. */
export class Dynacast {
  readonly #options: DynacastOptions;
  readonly #tracks = new Map<string, TrackState>();

  constructor(options: DynacastOptions) {
    this.#options = options;
  }

  /** A simulcast video producer was published (one layer: nothing to switch, ignored). */
  track(producerId: string, track: DynacastTrack): void {
    if (track.rids.length < 2) return;
    const layers = track.rids.length;
    this.#tracks.set(producerId, { track, sent: layers, wanted: layers, timer: undefined });
  }

  /** The producer's demand changed (conference `producerDemand`). */
  demand(producerId: string, demand: ProducerDemand): void {
    const state = this.#tracks.get(producerId);
    if (!state) return;
    state.wanted = layersNeeded(demand, state.track.rids.length);
    if (state.wanted >= state.sent) {
      clearTimeout(state.timer);
      state.timer = undefined;
      if (state.wanted > state.sent) this.#apply(state);
      return;
    }
    state.timer ??= setTimeout(() => {
      state.timer = undefined;
      if (state.wanted < state.sent) this.#apply(state);
    }, this.#options.pauseMs);
    state.timer.unref();
  }

  /** Tells the client the current state of every track again (after a resumed signalling socket). */
  replay(): void {
    for (const state of this.#tracks.values()) this.#options.send(subscribedQualityUpdate(state.track, state.sent));
  }

  /** The producer was unpublished. */
  forget(producerId: string): void {
    const state = this.#tracks.get(producerId);
    if (state) clearTimeout(state.timer);
    this.#tracks.delete(producerId);
  }

  /** Stops every timer. */
  close(): void {
    for (const state of this.#tracks.values()) clearTimeout(state.timer);
    this.#tracks.clear();
  }

  #apply(state: TrackState): void {
    state.sent = state.wanted;
    this.#options.logger.debug('dynacast layers', { trackSid: state.track.trackSid, layers: state.sent, of: state.track.rids.length });
    this.#options.send(subscribedQualityUpdate(state.track, state.sent));
  }
}
