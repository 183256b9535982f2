// One participant's state inside a conference: its transports, publications
// (producers) and subscriptions (consumers). It owns these mediasoup objects
// and closes them in its teardown; cross-participant work (subscribing others,
// telling peers) is the Conference's. Only the Conference and this
// participant's handle touch it, always from inside the conference queue.
//
// Ids of objects that closed are remembered (bounded), so a request that
// races a close (resumeConsumer after the producer left) is answered GONE, not
// NOT_FOUND: a race is not a protocol fault.

import type { ParticipantId } from '../../common/lib/ids.ts';
import { NotFoundError, PermissionError, SfuError } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { Consumer, Producer, RtpCapabilities, WebRtcTransport } from '../media/types.ts';
import type { ConsumerInfo, EdgeKind, MediaSource, PeerInfo, PublicationInfo } from './types.ts';

/** Ids of closed objects remembered per participant, for GONE answers. */
export const GONE_IDS_REMEMBERED = 512;

/** A producer with what receivers need to know about it. */
export interface Publication {
  readonly producer: Producer;
  readonly source: MediaSource;
  /** The publisher said it encrypts the frames end to end. */
  readonly encrypted?: boolean;
}

/** A consumer of another participant's publication. */
export interface Subscription {
  readonly consumer: Consumer;
  readonly publisherId: ParticipantId;
  readonly info: ConsumerInfo;
  /** When the consumer was created (performance.now()), for first-media timing. */
  readonly createdAtMs: number;
}

/** Options of the Participant constructor. */
export interface ParticipantOptions {
  readonly id: ParticipantId;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  readonly autoSubscribe: boolean;
  /** The edge it came through; default 'native'. */
  readonly edge?: EdgeKind;
  /** Set for a participant served by another node of the cluster (the cascade link's id); its media arrives through a pipe. */
  readonly remoteLink?: string;
  /** When it joined (wall clock, ms since the epoch; a remote one's comes from its own node). Default now. */
  readonly joinedAtMs?: number;
  readonly logger: Logger;
}

/** State of one participant; mutated only inside the conference queue. */
export class Participant {
  readonly id: ParticipantId;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  readonly autoSubscribe: boolean;
  readonly edge: EdgeKind;
  /** The cascade link a remote participant comes through; undefined for this node's own participants. */
  readonly remoteLink: string | undefined;
  /** When it joined, wall clock: of two sessions of one participant on two nodes, the newer one stays. */
  readonly joinedAtMs: number;
  readonly logger: Logger;
  readonly transports = new Map<string, { transport: WebRtcTransport; direction: 'send' | 'recv' }>();
  readonly publications = new Map<string, Publication>();
  readonly subscriptions = new Map<string, Subscription>();
  /** Consumer id by producer id: one consumer per (subscriber, producer). */
  readonly consumerByProducer = new Map<string, string>();
  readonly #gone = new Set<string>();
  #closed = false;

  constructor(options: ParticipantOptions) {
    this.id = options.id;
    this.displayName = options.displayName;
    this.rtpCapabilities = options.rtpCapabilities;
    this.autoSubscribe = options.autoSubscribe;
    this.edge = options.edge ?? 'native';
    this.remoteLink = options.remoteLink;
    this.joinedAtMs = options.joinedAtMs ?? Date.now();
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
    const publications: PublicationInfo[] = [...this.publications.values()].map(({ producer, source, encrypted }) => ({
      producerId: producer.id,
      kind: producer.kind,
      source,
      paused: producer.paused,
      ...(encrypted ? { encrypted: true } : {}),
    }));
    return { participantId: this.id, displayName: this.displayName, publications };
  }

  /** Looks up one of this participant's transports, checking direction when given. */
  transport(transportId: string, direction?: 'send' | 'recv'): WebRtcTransport {
    const entry = this.transports.get(transportId);
    if (!entry) throw this.#missing('transport', transportId);
    if (direction && entry.direction !== direction) {
      throw new PermissionError(`transport ${transportId} is not a ${direction} transport`, 'BAD_REQUEST');
    }
    return entry.transport;
  }

  publication(producerId: string): Publication {
    const publication = this.publications.get(producerId);
    if (!publication) throw this.#missing('producer', producerId);
    return publication;
  }

  subscription(consumerId: string): Subscription {
    const subscription = this.subscriptions.get(consumerId);
    if (!subscription) throw this.#missing('consumer', consumerId);
    return subscription;
  }

  /** Records a subscription (and its producer index). */
  addSubscription(subscription: Subscription): void {
    this.subscriptions.set(subscription.info.consumerId, subscription);
    this.consumerByProducer.set(subscription.info.producerId, subscription.info.consumerId);
  }

  /** Forgets a subscription whose consumer closed; later requests about it are GONE. */
  removeSubscription(consumerId: string): boolean {
    const subscription = this.subscriptions.get(consumerId);
    if (!subscription) return false;
    this.subscriptions.delete(consumerId);
    if (this.consumerByProducer.get(subscription.info.producerId) === consumerId) {
      this.consumerByProducer.delete(subscription.info.producerId);
    }
    this.markGone(consumerId);
    return true;
  }

  /** Forgets a publication whose producer closed. */
  removePublication(producerId: string): void {
    if (this.publications.delete(producerId)) this.markGone(producerId);
  }

  /** Remembers that an object of this participant closed (bounded, oldest forgotten first). */
  markGone(id: string): void {
    this.#gone.delete(id);
    this.#gone.add(id);
    if (this.#gone.size > GONE_IDS_REMEMBERED) {
      const oldest = this.#gone.values().next().value;
      if (oldest !== undefined) this.#gone.delete(oldest);
    }
  }

  /**
   * Forgets media objects whose router died (worker restart): they are
   * already closed by mediasoup, so only the maps are cleared.
   */
  forgetMedia(): void {
    for (const id of [...this.transports.keys(), ...this.publications.keys(), ...this.subscriptions.keys()]) this.markGone(id);
    this.transports.clear();
    this.publications.clear();
    this.subscriptions.clear();
    this.consumerByProducer.clear();
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
    // A remote participant's producers are pipe producers with no transport of its own here.
    if (this.remoteLink !== undefined) for (const { producer } of this.publications.values()) producer.close();
    this.forgetMedia();
  }

  #missing(kind: string, id: string): SfuError {
    if (this.#gone.has(id)) return new SfuError('GONE', `${kind} ${id} closed meanwhile`);
    return new NotFoundError(`unknown ${kind} ${id}`);
  }
}
