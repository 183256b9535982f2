// One link of a room between this node and another node serving the same room: a pair of
// mediasoup pipe transports (plain RTP over UDP between the nodes, SRTP on, RTX and NACK
// on), one on each node's primary router of the conference, set up by an offer and an
// answer over Redis (cascadeMessages.ts).
//
// - Out: every local publication is consumed by the link's pipe transport (a pipe
//   consumer), and a snapshot of the local participants with the pipe consumers' RTP
//   parameters goes to the other node whenever something changes (coalesced) and every
//   few seconds (so a message lost while Redis was away is repaired).
// - In: the other node's snapshot becomes pipe producers on this node (same producer ids)
//   and remote participants of the conference (Conference.upsertRemote); what a snapshot
//   no longer lists is closed and removed.
// Every worker request is bounded in time. The link never closes the conference; when its
// transport dies (the router's worker died) it closes, removes what it showed, and the
// Cascade links the nodes again.

import { randomUUID } from 'node:crypto';
import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { Conference } from '../conference/Conference.ts';
import type { Publication } from '../conference/Participant.ts';
import { withMediaTimeout } from '../media/timeout.ts';
import type { Consumer, PipeTransport, Producer } from '../media/types.ts';
import type { CascadeMessage, CascadePeer, CascadePublication, PipeSrtp } from './cascadeMessages.ts';

/** Where pipe transports listen (cluster.pipeListenIp, cluster.pipeAnnouncedAddress, cluster.pipePortRange). */
export interface PipeListenSettings {
  readonly ip: string;
  /** Address the other node sends to; empty = ip. */
  readonly announcedAddress: string;
  /** UDP ports pipe transports take; undefined = mediasoup's range. */
  readonly portRange: { readonly min: number; readonly max: number } | undefined;
}

/** Outgoing message of a link (the Cascade fills in the room and this node's id). */
export type LinkMessage =
  | { readonly type: 'offer' | 'answer'; readonly link: string; readonly ip: string; readonly port: number; readonly srtp: PipeSrtp }
  | { readonly type: 'peers'; readonly link: string; readonly seq: number; readonly peers: readonly CascadePeer[] };

/** Options of a link. */
export interface CascadeLinkOptions {
  readonly room: string;
  readonly peerNodeId: string;
  readonly conference: Conference;
  readonly listen: PipeListenSettings;
  readonly requestTimeoutMs: number;
  /** Snapshots are sent again this often even when nothing changed. */
  readonly resendMs: number;
  readonly send: (message: LinkMessage) => Promise<void>;
  /** The link closed by itself (its transport died); not called for close(). */
  readonly onLost: (link: CascadeLink) => void;
  readonly logger: Logger;
}

/** A link's state: offered (waiting for the answer), up, or closed. */
export type LinkState = 'offered' | 'up' | 'closed';

/** One room's link to one other node (see the header comment). */
export class CascadeLink {
  readonly id: string;
  readonly peerNodeId: string;
  /** When the link was set up (performance.now()), for the offer deadline. */
  readonly createdAtMs = performance.now();
  #upAtMs = Infinity;
  readonly #options: CascadeLinkOptions;
  readonly #transport: PipeTransport;
  readonly #log: Logger;
  readonly #queue: AsyncQueue;
  /** Local producer id → its pipe consumer on this link. */
  readonly #exports = new Map<string, Consumer>();
  /** Remote participant id → its pipe producers (by producer id). */
  readonly #imports = new Map<string, Map<string, Producer>>();
  #state: LinkState;
  #seq = 0;
  #lastSeq = -1;
  #latest: readonly CascadePeer[] | undefined;
  #dirty = false;
  #sending = false;
  readonly #resend: NodeJS.Timeout;

  /** Offers a link: creates this side's pipe transport and sends its address and key. */
  static async offer(options: CascadeLinkOptions): Promise<CascadeLink> {
    const link = new CascadeLink(options, await CascadeLink.#createTransport(options), `${options.conference.id}|${randomUUID()}`, 'offered');
    await link.#sendTuple('offer');
    return link;
  }

  /** Answers another node's offer: creates this side, connects it to theirs, sends the answer. */
  static async answer(options: CascadeLinkOptions, offer: { link: string; ip: string; port: number; srtp: PipeSrtp }): Promise<CascadeLink> {
    const transport = await CascadeLink.#createTransport(options);
    const link = new CascadeLink(options, transport, offer.link, 'up');
    try {
      await link.#connect(offer);
      await link.#sendTuple('answer');
    } catch (error) {
      link.close();
      throw error;
    }
    link.#upAtMs = performance.now();
    link.#log.info('cascade link up (answered)');
    link.markDirty();
    return link;
  }

  static async #createTransport(options: CascadeLinkOptions): Promise<PipeTransport> {
    const { ip, announcedAddress, portRange } = options.listen;
    return withMediaTimeout(
      'router.createPipeTransport',
      options.conference.router.createPipeTransport({
        listenInfo: { protocol: 'udp', ip, ...(announcedAddress ? { announcedAddress } : {}), ...(portRange ? { portRange } : {}) },
        enableSrtp: true,
        enableRtx: true,
        appData: { cascade: options.peerNodeId },
      }),
      options.requestTimeoutMs,
      (late) => late.close(),
    );
  }

  private constructor(options: CascadeLinkOptions, transport: PipeTransport, id: string, state: LinkState) {
    this.#options = options;
    this.#transport = transport;
    this.id = id;
    this.peerNodeId = options.peerNodeId;
    this.#state = state;
    this.#log = options.logger.child({ component: 'cascade-link', room: options.room, peerNode: options.peerNodeId });
    this.#queue = new AsyncQueue(`cascade link ${options.room} ${options.peerNodeId}`);
    transport.observer.once('close', () => {
      if (this.#state === 'closed') return;
      if (options.conference.closed) this.#log.debug('cascade link closed with its conference');
      else this.#log.warn('cascade pipe transport closed under the link (its router or worker died)');
      this.#teardown();
      options.onLost(this);
    });
    this.#resend = setInterval(() => this.markDirty(), options.resendMs);
    this.#resend.unref();
  }

  get state(): LinkState {
    return this.#state;
  }

  /** When the link came up (performance.now()); Infinity before. */
  get upAtMs(): number {
    return this.#upAtMs;
  }

  /** Pipe consumers and producers this link carries now (for dumps and metrics). */
  get counts(): { exported: number; imported: number; remoteParticipants: number } {
    let imported = 0;
    for (const producers of this.#imports.values()) imported += producers.size;
    return { exported: this.#exports.size, imported, remoteParticipants: this.#imports.size };
  }

  /** The offerer's side: the other node answered; connect and start announcing. */
  async accept(answer: { ip: string; port: number; srtp: PipeSrtp }): Promise<void> {
    if (this.#state !== 'offered') return;
    await this.#connect(answer);
    if (this.#state !== 'offered') return;
    this.#state = 'up';
    this.#upAtMs = performance.now();
    this.#log.info('cascade link up (offered)');
    this.markDirty();
  }

  /** Something local changed: the other node gets a new snapshot (coalesced). */
  markDirty(): void {
    if (this.#state !== 'up') return;
    this.#dirty = true;
    if (!this.#sending) void this.#flush();
  }

  /** A new snapshot from the other node; older or other links' snapshots are ignored. */
  receive(message: Extract<CascadeMessage, { type: 'peers' }>): void {
    if (this.#state !== 'up' || message.link !== this.id || message.seq <= this.#lastSeq) return;
    this.#lastSeq = message.seq;
    this.#latest = message.peers;
    this.#apply(message.peers);
  }

  /**
   * A local participant left: the other node's session of the same participant, hidden while
   * the local one lasted, shows now (its entry of the last snapshot is applied again).
   */
  reveal(participantId: string): void {
    const peer = this.#latest?.find((candidate) => candidate.participantId === participantId);
    if (!peer || this.#state !== 'up') return;
    this.#queue.push(() => this.#applyPeer(peer)).catch((error: unknown) => this.#log.debug('participant of the other node not shown', { error }));
  }

  /** Closes the link: the pipe transport (its consumers and producers) and what it showed. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#teardown();
    this.#transport.close();
  }

  #teardown(): void {
    this.#state = 'closed';
    clearInterval(this.#resend);
    this.#queue.close();
    for (const producerId of this.#exports.keys()) this.#options.conference.unexportProducer(producerId);
    this.#exports.clear();
    this.#imports.clear();
    this.#options.conference.removeRemote(this.id).catch((error: unknown) => this.#log.debug('remote participants not removed (conference closed)', { error }));
  }

  async #connect(other: { ip: string; port: number; srtp: PipeSrtp }): Promise<void> {
    await withMediaTimeout(
      'pipeTransport.connect',
      this.#transport.connect({ ip: other.ip, port: other.port, srtpParameters: other.srtp }),
      this.#options.requestTimeoutMs,
    );
  }

  async #sendTuple(type: 'offer' | 'answer'): Promise<void> {
    const tuple = this.#transport.tuple;
    const srtp = this.#transport.srtpParameters;
    if (!srtp) throw new Error('pipe transport has no SRTP parameters');
    await this.#options.send({
      type,
      link: this.id,
      ip: tuple.localAddress,
      port: tuple.localPort,
      srtp: { cryptoSuite: srtp.cryptoSuite, keyBase64: srtp.keyBase64 },
    });
  }

  async #flush(): Promise<void> {
    this.#sending = true;
    try {
      // Coalesce a burst of changes (a join publishes two tracks right after it) into one snapshot.
      await new Promise((resolve) => setTimeout(resolve, 20));
      while (this.#dirty && this.#state === 'up') {
        this.#dirty = false;
        await this.#sendPeers();
      }
    } catch (error) {
      this.#log.warn('cascade snapshot not sent; sent again at the next change or resend', { error });
    } finally {
      this.#sending = false;
    }
  }

  async #sendPeers(): Promise<void> {
    const peers: CascadePeer[] = [];
    for (const local of this.#options.conference.localPeers()) {
      const publications: CascadePublication[] = [];
      for (const publication of local.publications) {
        const consumer = await this.#export(publication).catch((error: unknown) => {
          this.#log.debug('publication not piped to the other node', { producerId: publication.producer.id, error });
          return undefined;
        });
        if (!consumer || consumer.closed || this.#state !== 'up') continue;
        publications.push({
          producerId: publication.producer.id,
          kind: publication.producer.kind,
          source: publication.source,
          encrypted: publication.encrypted === true,
          paused: consumer.producerPaused,
          rtpParameters: consumer.rtpParameters,
        });
      }
      peers.push({ participantId: local.participantId, displayName: local.displayName, joinedAtMs: local.joinedAtMs, publications });
    }
    if (this.#state !== 'up') return;
    await this.#options.send({ type: 'peers', link: this.id, seq: ++this.#seq, peers });
  }

  /** The pipe consumer of a local publication on this link, created on first use. */
  async #export(publication: Publication): Promise<Consumer | undefined> {
    const producerId = publication.producer.id;
    const existing = this.#exports.get(producerId);
    if (existing && !existing.closed) return existing;
    const conference = this.#options.conference;
    await conference.exportProducer(producerId);
    let consumer: Consumer;
    try {
      consumer = await withMediaTimeout('pipeTransport.consume', this.#transport.consume({ producerId }), this.#options.requestTimeoutMs, (late) =>
        late.close(),
      );
    } catch (error) {
      conference.unexportProducer(producerId);
      throw error;
    }
    if (this.#state !== 'up' || consumer.closed) {
      consumer.close();
      conference.unexportProducer(producerId);
      return undefined;
    }
    this.#exports.set(producerId, consumer);
    consumer.on('producerpause', () => this.markDirty());
    consumer.on('producerresume', () => this.markDirty());
    consumer.observer.once('close', () => {
      if (this.#exports.get(producerId) !== consumer) return;
      this.#exports.delete(producerId);
      conference.unexportProducer(producerId);
      this.markDirty();
    });
    return consumer;
  }

  /** Queues applying a snapshot (one at a time, in order). */
  #apply(peers: readonly CascadePeer[]): void {
    this.#queue
      .push(() => this.#applyNow(peers))
      .catch((error: unknown) => this.#log.debug('cascade snapshot not applied', { error }));
  }

  async #applyNow(peers: readonly CascadePeer[]): Promise<void> {
    const conference = this.#options.conference;
    const listed = new Set(peers.map((peer) => peer.participantId));
    for (const [participantId, producers] of [...this.#imports]) {
      if (listed.has(participantId)) continue;
      this.#imports.delete(participantId);
      for (const producer of producers.values()) producer.close();
      await conference.removeRemote(this.id, participantId);
    }
    for (const peer of peers) {
      if (this.#state !== 'up') return;
      await this.#applyPeer(peer);
    }
  }

  /** Pipes in one announced participant's publications (closing those it no longer lists) and shows it. */
  async #applyPeer(peer: CascadePeer): Promise<void> {
    const conference = this.#options.conference;
    const producers = this.#imports.get(peer.participantId) ?? new Map<string, Producer>();
    this.#imports.set(peer.participantId, producers);
    const wanted = new Set(peer.publications.map((publication) => publication.producerId));
    for (const [producerId, producer] of [...producers]) {
      if (!wanted.has(producerId) || producer.closed) {
        producers.delete(producerId);
        producer.close();
      }
    }
    const publications: Publication[] = [];
    for (const announced of peer.publications) {
      const producer = await this.#import(peer.participantId, producers, announced).catch((error: unknown) => {
        this.#log.warn('publication of the other node not piped here', { producerId: announced.producerId, error });
        return undefined;
      });
      if (producer) publications.push({ producer, source: announced.source, ...(announced.encrypted ? { encrypted: true } : {}) });
    }
    await conference.upsertRemote(this.id, {
      participantId: peer.participantId as Parameters<Conference['upsertRemote']>[1]['participantId'],
      displayName: peer.displayName,
      joinedAtMs: peer.joinedAtMs,
      publications,
    });
  }

  /** The pipe producer of an announced publication, created on first sight; follows its pause state. */
  async #import(participantId: string, producers: Map<string, Producer>, announced: CascadePublication): Promise<Producer | undefined> {
    const existing = producers.get(announced.producerId);
    if (existing && !existing.closed) {
      if (existing.paused !== announced.paused) {
        await withMediaTimeout(
          announced.paused ? 'producer.pause' : 'producer.resume',
          announced.paused ? existing.pause() : existing.resume(),
          this.#options.requestTimeoutMs,
        );
      }
      return existing;
    }
    const producer = await withMediaTimeout(
      'pipeTransport.produce',
      this.#transport.produce({
        id: announced.producerId,
        kind: announced.kind,
        rtpParameters: announced.rtpParameters,
        paused: announced.paused,
        appData: { participantId, source: announced.source, remoteNode: this.peerNodeId },
      }),
      this.#options.requestTimeoutMs,
      (late) => late.close(),
    );
    if (this.#state !== 'up') {
      producer.close();
      return undefined;
    }
    producers.set(announced.producerId, producer);
    producer.observer.once('close', () => {
      if (producers.get(announced.producerId) === producer) producers.delete(announced.producerId);
    });
    return producer;
  }
}
