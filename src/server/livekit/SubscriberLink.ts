// The subscriber PeerConnection of one LiveKit session, server side: one m-section
// per consumer, our offers serialised (one in flight; changes made meanwhile ride
// on the next offer), the client's answer connects the recv transport (first
// time) and resumes the consumers it covered. A closed consumer's section stays
// as port 0 (mids are never reused); sections are bounded by the core's consumer cap.

import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import type { ConsumerInfo, TransportInfo } from '../conference/types.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { MAX_RESUME_BATCH } from '../conference/ParticipantHandle.ts';
import { SdpError, buildSubscriberOffer, parseSubscriberAnswer, type SubscriberSection } from './sdp.ts';

/** A consumer placed in the subscriber SDP. */
interface Placed {
  readonly consumer: ConsumerInfo;
  readonly section: SubscriberSection & { closed: boolean };
  readonly trackSid: string;
  resumed: boolean;
}

/** How the link sends an offer to the client. */
export type SendOffer = (offer: { sdp: string; id: number; midToTrackId: Record<string, string> }) => void;

/** Sends our offers; the session passes the client's answers in. */
export class SubscriberLink {
  readonly #handle: ParticipantHandle;
  readonly #send: SendOffer;
  readonly #log: Logger;
  readonly #sections: Array<SubscriberSection & { closed: boolean }> = [];
  readonly #byConsumer = new Map<string, Placed>();
  #transport: TransportInfo | undefined;
  #connected = false;
  #nextMid = 0;
  #offerId = 0;
  #sdpVersion = 0;
  #inFlight: { id: number; placed: Placed[] } | undefined;
  #again = false;

  constructor(handle: ParticipantHandle, send: SendOffer, log: Logger) {
    this.#handle = handle;
    this.#send = send;
    this.#log = log;
  }

  /** The recv transport exists: offers can be made. */
  attach(transport: TransportInfo): void {
    this.#transport = transport;
    if (this.#sections.length > 0) this.#offer();
  }

  /** Adds a consumer's section and renegotiates. */
  add(consumer: ConsumerInfo, streamId: string, trackSid: string): void {
    const section = {
      mid: String(this.#nextMid++),
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      streamId,
      trackId: trackSid,
      closed: false,
    };
    this.#sections.push(section);
    this.#byConsumer.set(consumer.consumerId, { consumer, section, trackSid, resumed: false });
    this.#offer();
  }

  /** Retires a closed consumer's section and renegotiates. */
  remove(consumerId: string): ConsumerInfo | undefined {
    const placed = this.#byConsumer.get(consumerId);
    if (!placed) return undefined;
    this.#byConsumer.delete(consumerId);
    placed.section.closed = true;
    this.#offer();
    return placed.consumer;
  }

  /** The consumer of a track sid (UpdateSubscription, UpdateTrackSettings). */
  consumerOfTrack(trackSid: string): ConsumerInfo | undefined {
    for (const placed of this.#byConsumer.values()) if (placed.trackSid === trackSid) return placed.consumer;
    return undefined;
  }

  /** The client answered offer `id`. */
  async answered(sdp: string, id: number): Promise<void> {
    const inFlight = this.#inFlight;
    this.#log.debug('subscriber answer received', { id, inFlight: inFlight?.id });
    if (!inFlight || (id !== 0 && id !== inFlight.id)) {
      this.#log.debug('stale subscriber answer ignored', { id });
      return;
    }
    let dtlsParameters;
    try {
      ({ dtlsParameters } = parseSubscriberAnswer(sdp));
    } catch (error) {
      // A bad answer must not wedge negotiation: offer again if anything changed meanwhile.
      this.#inFlight = undefined;
      if (this.#again) {
        this.#again = false;
        this.#offer();
      }
      throw error;
    }
    if (!this.#connected) {
      if (!dtlsParameters) {
        this.#inFlight = undefined;
        throw new SdpError('first subscriber answer without DTLS parameters');
      }
      await this.#handle.connectTransport(this.#transport!.transportId, dtlsParameters);
      this.#connected = true;
    }
    this.#inFlight = undefined;
    const toResume = inFlight.placed.filter((placed) => !placed.resumed && this.#byConsumer.get(placed.consumer.consumerId) === placed);
    for (let start = 0; start < toResume.length; start += MAX_RESUME_BATCH) {
      const batch = toResume.slice(start, start + MAX_RESUME_BATCH);
      const results = await this.#handle.resumeConsumers(batch.map((placed) => placed.consumer.consumerId));
      for (const [index, result] of results.entries()) {
        if (result.ok) batch[index]!.resumed = true;
        else this.#log.debug('consumer resume refused', { consumerId: result.consumerId, code: result.code });
      }
    }
    if (this.#again) {
      this.#again = false;
      this.#offer();
    }
  }

  /**
   * After a resumed signalling socket: new ICE credentials on the recv transport and a fresh
   * offer with every live section. An offer in flight is forgotten (its answer, if any, was
   * lost with the old socket and is ignored as stale if it still comes).
   */
  async restartIce(): Promise<void> {
    if (!this.#transport) return;
    const iceParameters = await this.#handle.restartIce(this.#transport.transportId);
    this.#transport = { ...this.#transport, iceParameters };
    // Never offered: the client's subscriber PC was never negotiated, there is nothing to restart.
    if (this.#offerId === 0) return;
    this.#inFlight = undefined;
    this.#again = false;
    this.#offer();
  }

  #offer(): void {
    if (!this.#transport) return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    const id = ++this.#offerId;
    const sdp = buildSubscriberOffer(this.#transport, this.#sections, ++this.#sdpVersion);
    const midToTrackId: Record<string, string> = {};
    const placed = [...this.#byConsumer.values()];
    for (const entry of placed) midToTrackId[entry.section.mid] = entry.trackSid;
    this.#inFlight = { id, placed };
    this.#log.debug('subscriber offer sent', { id, sections: this.#sections.length, live: placed.length });
    this.#send({ sdp, id, midToTrackId });
  }
}
