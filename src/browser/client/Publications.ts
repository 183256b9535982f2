// The sending side of the client: the caller's local publications and their
// producers on the send transport. It produces (running the sender transform
// hook before negotiation), pauses, resumes and closes them; the client calls
// it from its serial media queue, so no two of these interleave.

import type { Transport } from 'mediasoup-client/types';
import { InvalidStateError } from './errors.ts';
import type { LocalPublication } from './LocalPublication.ts';
import type { Signalling } from './Signalling.ts';
import type { ProduceAppData } from './transports.ts';
import type { ClientLogger, EncodedTransforms } from './types.ts';

/** What Publications needs from its owner. */
export interface PublicationsOptions {
  readonly signalling: Pick<Signalling, 'request'>;
  readonly transforms?: EncodedTransforms;
  readonly logger: ClientLogger;
  /** The current send transport, created on first use. */
  readonly sendTransport: () => Promise<Transport>;
  /** Called when a published track ends by itself (e.g. the user stopped sharing); the owner unpublishes it. */
  readonly onTrackEnded: (publication: LocalPublication) => void;
}

/** Local publications of one client. */
export class Publications {
  readonly #options: PublicationsOptions;
  readonly #publications = new Set<LocalPublication>();

  constructor(options: PublicationsOptions) {
    this.#options = options;
  }

  list(): LocalPublication[] {
    return [...this.#publications];
  }

  add(publication: LocalPublication): void {
    this.#publications.add(publication);
  }

  /** Forgets a publication without telling the server (it failed to publish). */
  discard(publication: LocalPublication): void {
    this.#publications.delete(publication);
    publication.markClosed();
  }

  /**
   * Creates the producer of a publication that has none (first publish, or
   * after a media rebuild). The server creates it paused when the caller
   * paused it; the local producer mirrors that.
   */
  async produce(publication: LocalPublication): Promise<void> {
    if (publication.closed || publication.producer) return;
    if (publication.track.readyState === 'ended') throw new InvalidStateError('track has ended');
    const transport = await this.#options.sendTransport();
    const hook = this.#options.transforms?.sender;
    const { kind, source, track } = publication;
    const encodings = publication.encodings();
    const appData: ProduceAppData = { source, paused: publication.paused };
    const producer = await transport.produce({
      track,
      ...(encodings ? { encodings } : {}),
      codecOptions: publication.codecOptions(),
      ...(publication.codec ? { codec: publication.codec } : {}),
      // The caller owns the track: keep it alive across unpublish and media rebuilds.
      stopTracks: false,
      // Pausing sends nothing (replaceTrack(null)) but leaves the track enabled for local preview.
      disableTrackOnPause: false,
      zeroRtpOnPause: true,
      // Runs right after addTransceiver(), before createOffer(): the sender is not negotiated yet.
      ...(hook ? { onRtpSender: (sender: RTCRtpSender) => hook(sender, { kind, source, trackId: track.id }) } : {}),
      appData,
    });
    if (publication.closed || transport.closed) {
      producer.close();
      return;
    }
    if (publication.paused) producer.pause();
    publication.setProducer(producer);
    producer.on('trackended', () => {
      this.#options.logger.info('published track ended', { producerId: producer.id, source });
      this.#options.onTrackEnded(publication);
    });
  }

  /** Closes a publication's producer here and on the server. Idempotent. */
  async close(publication: LocalPublication): Promise<void> {
    if (!this.#publications.delete(publication)) return;
    const producer = publication.producer;
    publication.markClosed();
    if (!producer) return;
    producer.close();
    await this.#options.signalling.request('closeProducer', { producerId: producer.id }).catch((error: unknown) =>
      // NOT_FOUND after a rebuild or a server-side close: nothing left to close.
      this.#options.logger.debug('closeProducer failed', { producerId: producer.id, error: String(error) }),
    );
  }

  /** Pauses or resumes sending; remembered for re-publishing. */
  async setPaused(publication: LocalPublication, paused: boolean): Promise<void> {
    if (publication.closed || publication.paused === paused) return;
    publication.setPaused(paused);
    const producer = publication.producer;
    if (!producer) return;
    if (paused) producer.pause();
    else producer.resume();
    await this.#options.signalling.request(paused ? 'pauseProducer' : 'resumeProducer', { producerId: producer.id });
  }

  /** The server closed one of our producers (producerClosed): the publication ends. */
  onProducerClosed(producerId: string): void {
    for (const publication of this.#publications) {
      if (publication.producerId !== producerId) continue;
      this.#options.logger.warn('server closed a publication', { producerId, source: publication.source });
      publication.producer?.close();
      this.discard(publication);
    }
  }

  /** Forgets every producer (the send transport is gone); publications stay, to be produced again. */
  forgetProducers(): void {
    for (const publication of this.#publications) publication.setProducer(undefined);
  }

  /** Ends every publication locally (the client closed). */
  closeAll(): void {
    for (const publication of this.#publications) publication.markClosed();
    this.#publications.clear();
  }
}
