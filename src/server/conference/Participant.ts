// One participant of a conference: its transports, publications (producers)
// and subscriptions (consumers). It owns these mediasoup objects and closes
// them in its teardown; cross-participant work (subscribing others, telling
// peers) is the Conference's. Only the Conference calls these methods, always
// from inside its queue.

import type { ParticipantId } from '../../common/lib/ids.ts';
import { InvalidStateError, NotFoundError, PermissionError } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { MediaSource, PeerInfo, PublicationInfo } from '../../common/protocol/messages.ts';
import type { Consumer, Producer, RtpCapabilities, WebRtcTransport } from '../media/types.ts';
import type { ParticipantSink } from './types.ts';

/** A producer with what receivers need to know about it. */
export interface Publication {
  readonly producer: Producer;
  readonly source: MediaSource;
}

/** A consumer of another participant's publication. */
export interface Subscription {
  readonly consumer: Consumer;
  readonly publisherId: ParticipantId;
  readonly source: MediaSource;
  /** When the consumer was created (performance.now()), for first-media timing. */
  readonly createdAtMs: number;
}

/** Options of the Participant constructor. */
export interface ParticipantOptions {
  readonly id: ParticipantId;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  readonly autoSubscribe: boolean;
  readonly sink: ParticipantSink;
  readonly logger: Logger;
}

/** State of one participant; mutated only by its Conference inside the conference queue. */
export class Participant {
  readonly id: ParticipantId;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  readonly autoSubscribe: boolean;
  readonly sink: ParticipantSink;
  readonly logger: Logger;
  readonly transports = new Map<string, { transport: WebRtcTransport; direction: 'send' | 'recv' }>();
  readonly publications = new Map<string, Publication>();
  readonly subscriptions = new Map<string, Subscription>();
  #closed = false;

  constructor(options: ParticipantOptions) {
    this.id = options.id;
    this.displayName = options.displayName;
    this.rtpCapabilities = options.rtpCapabilities;
    this.autoSubscribe = options.autoSubscribe;
    this.sink = options.sink;
    this.logger = options.logger;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The participant's receive transport, if it created one. */
  get recvTransport(): WebRtcTransport | undefined {
    for (const entry of this.transports.values()) if (entry.direction === 'recv') return entry.transport;
    return undefined;
  }

  /** Public summary for other participants. */
  info(): PeerInfo {
    const publications: PublicationInfo[] = [...this.publications.values()].map(({ producer, source }) => ({
      producerId: producer.id,
      kind: producer.kind,
      source,
      paused: producer.paused,
    }));
    return { participantId: this.id, displayName: this.displayName, publications };
  }

  /** Looks up one of this participant's transports, checking direction when given. */
  transport(transportId: string, direction?: 'send' | 'recv'): WebRtcTransport {
    const entry = this.transports.get(transportId);
    if (!entry) throw new NotFoundError(`unknown transport ${transportId}`);
    if (direction && entry.direction !== direction) {
      throw new PermissionError(`transport ${transportId} is not a ${direction} transport`, 'BAD_REQUEST');
    }
    return entry.transport;
  }

  publication(producerId: string): Publication {
    const publication = this.publications.get(producerId);
    if (!publication) throw new NotFoundError(`unknown producer ${producerId}`);
    return publication;
  }

  subscription(consumerId: string): Subscription {
    const subscription = this.subscriptions.get(consumerId);
    if (!subscription) throw new NotFoundError(`unknown consumer ${consumerId}`);
    return subscription;
  }

  assertOpen(): void {
    if (this.#closed) throw new InvalidStateError('participant has left', 'NOT_JOINED');
  }

  /**
   * Forgets media objects whose router died (worker restart): they are
   * already closed by mediasoup, so only the maps are cleared.
   */
  forgetMedia(): void {
    this.transports.clear();
    this.publications.clear();
    this.subscriptions.clear();
  }

  /**
   * Closes every transport (which closes its producers and consumers in the
   * worker; other participants' consumers of our producers close through
   * mediasoup's producerclose). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { transport } of this.transports.values()) transport.close();
    this.forgetMedia();
  }
}
