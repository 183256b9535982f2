// The one API an edge needs for one participant: conference.join() returns a
// ParticipantHandle, and the edge does everything through it (transports,
// producing, consuming, leaving) and hears everything from it (typed events,
// and one `close` with a reason). It is mediasoup's lifecycle pattern: an
// idempotent close() for the edge and conferenceClosed() for the parent share
// one teardown.
//
// Every operation runs as a task of the conference queue and re-checks, when
// it runs, that the conference is open and that this handle is still the
// participant's current one: a task of an old (closed or replaced) handle can
// never act on a newer participant with the same id.

import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import { fromMediasoupError } from '../media/errors.ts';
import type { RouterLease } from '../media/WorkerPool.ts';
import type { Producer, RtpCapabilities } from '../media/types.ts';
import { DataLink, type DataLinkOptions } from './DataLink.ts';
import type { EdgeCloseReason, ParticipantCloseReason, ParticipantEvents } from './events.ts';
import type { Participant, Publication } from './Participant.ts';
import type {
  ConferenceOptions,
  ConsumerInfo,
  LayerPreference,
  PeerInfo,
  ProduceOptions,
  ResumeResult,
  TransportInfo,
  TransportOptions,
} from './types.ts';

/** Least time between key-frame requests forwarded to one producer (mediasoup keyFrameRequestDelay). */
export const KEY_FRAME_REQUEST_DELAY_MS = 1000;

/** Most consumer ids one resumeConsumers() call accepts. */
export const MAX_RESUME_BATCH = 64;

/** What the conference lends a handle (closures, so the handle never imports Conference). */
export interface HandleContext {
  readonly options: ConferenceOptions;
  /** Runs `task` in the conference queue once the conference is open and `participant` current. */
  run<T>(participant: Participant, task: () => Promise<T> | T): Promise<T>;
  /** Bounds a worker request in time; `onLate` closes an object created after the deadline. */
  media<T>(what: string, request: Promise<T>, onLate?: (value: T) => void): Promise<T>;
  /** The router lease `participant` is homed on (its transports live there); throws while it moves. */
  lease(participant: Participant): RouterLease;
  /** Adds an audio producer of `participant` to the conference's active-speaker observer. */
  observeAudio(participant: Participant, producer: Producer): Promise<void>;
  /** Gives every auto-subscribing peer a consumer of a new publication (inside the queue). */
  published(publisher: Participant, publication: Publication): Promise<void>;
  /** Subscribes explicitly to a producer id (inside the queue); returns the existing consumer if any. */
  consume(subscriber: Participant, producerId: string): Promise<ConsumerInfo>;
  /** Subscribes `subscriber` to every publication, after the current task (auto-subscribe). */
  subscribeLater(subscriber: Participant): void;
  /** Removes the participant if it is still current (queued); resolves once peers were told. */
  remove(participant: Participant, reason: ParticipantCloseReason): Promise<void>;
  firstMediaReported(elapsedMs: number): void;
  /** The demand on a producer may have changed: its publisher hears `producerDemand` (coalesced). */
  demandChanged(producerId: string): void;
}

/** A participant's handle on its conference. */
export class ParticipantHandle extends TypedEmitter<ParticipantEvents> {
  readonly id: ParticipantId;
  readonly conferenceId: ConferenceId;
  /** Peers present when this participant joined. */
  readonly peers: readonly PeerInfo[];
  readonly #participant: Participant;
  readonly #ctx: HandleContext;
  #closeReason: ParticipantCloseReason | undefined;

  /** Created by Conference.join() only. */
  constructor(conferenceId: ConferenceId, participant: Participant, peers: PeerInfo[], ctx: HandleContext) {
    super((event, error) => participant.logger.warn('participant listener threw', { event, error }));
    this.id = participant.id;
    this.conferenceId = conferenceId;
    this.peers = peers;
    this.#participant = participant;
    this.#ctx = ctx;
  }

  get closed(): boolean {
    return this.#closeReason !== undefined;
  }

  /** Why the handle closed (undefined while open). */
  get closeReason(): ParticipantCloseReason | undefined {
    return this.#closeReason;
  }

  /** Router RTP capabilities for the client's Device.load() (may change after a worker restart). */
  rtpCapabilities(): RtpCapabilities {
    return this.#ctx.lease(this.#participant).router.rtpCapabilities;
  }

  /** Creates a send or receive WebRtcTransport on the conference's WebRtcServer (UDP, ICE-TCP fallback). */
  createTransport(options: TransportOptions): Promise<TransportInfo> {
    return this.#run(async (participant) => {
      for (const entry of participant.transports.values()) {
        if (entry.direction === options.direction) throw new InvalidStateError(`a ${options.direction} transport exists already`);
      }
      const lease = this.#ctx.lease(participant);
      const transport = await this.#ctx.media(
        'router.createWebRtcTransport',
        lease.router.createWebRtcTransport({
          webRtcServer: lease.webRtcServer,
          enableUdp: true,
          enableTcp: true,
          preferUdp: !options.preferTcp,
          preferTcp: options.preferTcp === true,
          initialAvailableOutgoingBitrate: this.#ctx.options.initialAvailableOutgoingBitrate,
          ...(options.enableSctp ? { enableSctp: true, numSctpStreams: { OS: 1024, MIS: 1024 }, maxSctpMessageSize: 262_144 } : {}),
          appData: { participantId: participant.id, direction: options.direction },
        }),
        (late) => late.close(),
      );
      try {
        if (options.direction === 'send' && this.#ctx.options.maxIncomingBitrate > 0) {
          await this.#ctx.media('transport.setMaxIncomingBitrate', transport.setMaxIncomingBitrate(this.#ctx.options.maxIncomingBitrate));
        }
      } catch (error) {
        transport.close();
        throw error;
      }
      if (participant.closed) {
        transport.close();
        throw new InvalidStateError('participant has left', 'NOT_JOINED');
      }
      participant.transports.set(transport.id, { transport, direction: options.direction });
      transport.observer.once('close', () => {
        participant.transports.delete(transport.id);
        participant.markGone(transport.id);
      });
      transport.on('dtlsstatechange', (state) => {
        if (state === 'failed' || state === 'closed') participant.logger.warn('transport DTLS state', { state });
      });
      if (options.direction === 'recv' && participant.autoSubscribe) this.#ctx.subscribeLater(participant);
      return {
        transportId: transport.id,
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        dtlsParameters: transport.dtlsParameters,
        ...(transport.sctpParameters ? { sctpParameters: { port: transport.sctpParameters.port, maxMessageSize: transport.sctpParameters.maxMessageSize } } : {}),
      };
    });
  }

  connectTransport(transportId: string, dtlsParameters: TransportInfo['dtlsParameters']): Promise<void> {
    return this.#run(async (participant) => {
      const transport = participant.transport(transportId);
      await this.#ctx.media('transport.connect', transport.connect({ dtlsParameters }));
    });
  }

  restartIce(transportId: string): Promise<TransportInfo['iceParameters']> {
    return this.#run(async (participant) => {
      const transport = participant.transport(transportId);
      return this.#ctx.media('transport.restartIce', transport.restartIce());
    });
  }

  /**
   * Bridges the client's data channels on a send transport created with enableSctp to Node
   * (DataLink.ts): messages arrive at `options.onMessage`, `link.send()` writes to the client.
   * The link closes with the transport or the router.
   */
  openDataLink(transportId: string, options: DataLinkOptions): Promise<DataLink> {
    return this.#run((participant) =>
      DataLink.open(this.#ctx.lease(participant).router, participant.transport(transportId, 'send'), options, (what, request, onLate) => this.#ctx.media(what, request, onLate), participant.logger),
    );
  }

  /** Publishes a track; every auto-subscribing peer with a receive transport gets a paused consumer. */
  produce(options: ProduceOptions): Promise<{ producerId: string }> {
    return this.#run(async (participant) => {
      const transport = participant.transport(options.transportId, 'send');
      if (participant.publications.size >= this.#ctx.options.maxProducersPerParticipant) {
        throw new SfuError('LIMIT_EXCEEDED', 'too many producers');
      }
      const mimeKind = options.rtpParameters.codecs[0]?.mimeType.split('/')[0]?.toLowerCase();
      if (mimeKind !== options.kind) throw new UnsupportedError(`codec kind ${mimeKind} does not match ${options.kind}`);
      const producer = await this.#ctx.media(
        'transport.produce',
        transport.produce({
          kind: options.kind,
          rtpParameters: options.rtpParameters,
          paused: options.paused === true,
          // Receivers waiting for E2EE keys ask for key frames repeatedly; forward at most one
          // request per second to the sender so it does not encode a storm of key frames.
          keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS,
          appData: { participantId: participant.id, source: options.source },
        }),
        (late) => late.close(),
      );
      const publication: Publication = { producer, source: options.source, ...(options.encrypted ? { encrypted: true } : {}) };
      participant.publications.set(producer.id, publication);
      producer.observer.once('close', () => participant.removePublication(producer.id));
      if (producer.kind === 'audio') {
        await this.#ctx
          .observeAudio(participant, producer)
          .catch((error: unknown) => participant.logger.warn('active speaker observer refused producer', { error }));
      }
      await this.#ctx.published(participant, publication);
      this.#ctx.demandChanged(producer.id);
      participant.logger.debug('producer created', { producerId: producer.id, kind: producer.kind, source: options.source });
      return { producerId: producer.id };
    });
  }

  closeProducer(producerId: string): Promise<void> {
    return this.#run((participant) => {
      participant.publication(producerId).producer.close();
      participant.removePublication(producerId);
    });
  }

  pauseProducer(producerId: string): Promise<void> {
    return this.#run(async (participant) => {
      await this.#ctx.media('producer.pause', participant.publication(producerId).producer.pause());
    });
  }

  resumeProducer(producerId: string): Promise<void> {
    return this.#run(async (participant) => {
      await this.#ctx.media('producer.resume', participant.publication(producerId).producer.resume());
    });
  }

  /** Explicit subscription; a second call for the same producer returns the same consumer. */
  consume(producerId: string): Promise<ConsumerInfo> {
    return this.#run((participant) => this.#ctx.consume(participant, producerId));
  }

  /** The client's acknowledgement that its consumer exists: start forwarding. */
  resumeConsumer(consumerId: string): Promise<void> {
    return this.#run(async (participant) => {
      const { consumer, info } = participant.subscription(consumerId);
      await this.#ctx.media('consumer.resume', consumer.resume());
      this.#ctx.demandChanged(info.producerId);
    });
  }

  /**
   * Acknowledges up to MAX_RESUME_BATCH consumers at once, with one result per
   * id (GONE for consumers whose producer left meanwhile). One request, so a
   * big room's acknowledgements do not run into the rate limit.
   */
  resumeConsumers(consumerIds: readonly string[]): Promise<ResumeResult[]> {
    if (consumerIds.length > MAX_RESUME_BATCH) {
      return Promise.reject(new SfuError('BAD_REQUEST', `at most ${MAX_RESUME_BATCH} consumer ids per batch`));
    }
    return this.#run((participant) =>
      Promise.all(
        [...new Set(consumerIds)].map(async (consumerId): Promise<ResumeResult> => {
          try {
            const { consumer, info } = participant.subscription(consumerId);
            await this.#ctx.media('consumer.resume', consumer.resume());
            this.#ctx.demandChanged(info.producerId);
            return { consumerId, ok: true };
          } catch (error) {
            return { consumerId, ok: false, code: fromMediasoupError(error)?.code ?? 'INTERNAL' };
          }
        }),
      ),
    );
  }

  pauseConsumer(consumerId: string): Promise<void> {
    return this.#run(async (participant) => {
      const { consumer, info } = participant.subscription(consumerId);
      await this.#ctx.media('consumer.pause', consumer.pause());
      this.#ctx.demandChanged(info.producerId);
    });
  }

  setConsumerPreferredLayers(consumerId: string, layers: LayerPreference): Promise<void> {
    return this.#run(async (participant) => {
      const { consumer, info } = participant.subscription(consumerId);
      if (consumer.type !== 'simulcast' && consumer.type !== 'svc') throw new UnsupportedError('consumer has no layers');
      await this.#ctx.media(
        'consumer.setPreferredLayers',
        consumer.setPreferredLayers({
          spatialLayer: layers.spatialLayer,
          ...(layers.temporalLayer !== undefined ? { temporalLayer: layers.temporalLayer } : {}),
        }),
      );
      this.#ctx.demandChanged(info.producerId);
    });
  }

  /** Client-reported time from consumerCreated to its first decoded frame. */
  reportFirstMedia(consumerId: string, elapsedMs: number): Promise<void> {
    return this.#run((participant) => {
      participant.subscription(consumerId);
      this.#ctx.firstMediaReported(elapsedMs);
    });
  }

  /** Leaves the conference (reason `left`); resolves once the peers were told. */
  leave(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.#teardown('left');
    return this.#ctx.remove(this.#participant, 'left');
  }

  /** Ends the participant for an edge reason (connection dropped, evicted). Idempotent; removal is queued. */
  close(reason: EdgeCloseReason = 'disconnected'): void {
    if (this.closed) return;
    this.#teardown(reason);
    this.#ctx.remove(this.#participant, reason).catch((error: unknown) =>
      this.#participant.logger.debug('removal after handle close failed', { error }),
    );
  }

  /**
   * The conference removed this participant (replaced, conference closed,
   * router lost). Called by the Conference only, after it closed the media.
   */
  conferenceClosed(reason: ParticipantCloseReason): void {
    if (this.closed) return;
    this.#teardown(reason);
  }

  #teardown(reason: ParticipantCloseReason): void {
    this.#closeReason = reason;
    this.safeEmit('close', reason);
    this.removeAllListeners();
  }

  #run<T>(task: (participant: Participant) => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(new InvalidStateError('participant has left', 'NOT_JOINED'));
    return this.#ctx.run(this.#participant, () => task(this.#participant));
  }
}
