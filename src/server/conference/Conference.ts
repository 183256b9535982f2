// A Conference is one call on one mediasoup router, run as an actor: every
// input that touches its state (signalling requests, membership changes,
// mediasoup events, worker restarts) goes through its single AsyncQueue, so
// no two inputs interleave across an await. It ends itself when the last
// participant leaves (`empty`), and its parent (ConferenceRegistry) closes it.

import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError, NotFoundError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { ConsumerInfo, RequestData, ResponseDataMap, TransportInfo } from '../../common/protocol/messages.ts';
import type { RouterLease } from '../media/WorkerPool.ts';
import type { ActiveSpeakerObserver, DtlsParameters, RtpCapabilities, RtpParameters, Router } from '../media/types.ts';
import { Participant, type Publication } from './Participant.ts';
import type { ConferenceDump, ConferenceOptions, ParticipantSink } from './types.ts';

/** Least time between key-frame requests forwarded to one producer (mediasoup keyFrameRequestDelay). */
export const KEY_FRAME_REQUEST_DELAY_MS = 1000;

export type ConferenceEvents = {
  /** The last participant left; the parent should close the conference. */
  empty: [];
  /** close() ran. */
  closed: [];
};

/** Monitoring events (metrics, admin dump). */
export type ConferenceObserverEvents = {
  participantJoined: [participantId: ParticipantId];
  participantLeft: [participantId: ParticipantId];
  firstMediaReported: [elapsedMs: number];
  rebuilt: [];
};

/** Join input once parsed and admitted by the edge. */
export interface JoinInput {
  readonly participantId: ParticipantId;
  readonly displayName: string;
  readonly rtpCapabilities: RtpCapabilities;
  readonly autoSubscribe: boolean;
  readonly sink: ParticipantSink;
}

/** One call: participants and their media on one router. */
export class Conference extends TypedEmitter<ConferenceEvents> {
  readonly id: ConferenceId;
  readonly observer = new TypedEmitter<ConferenceObserverEvents>();
  readonly #options: ConferenceOptions;
  readonly #createRouter: () => Promise<RouterLease>;
  readonly #queue: AsyncQueue;
  readonly #participants = new Map<ParticipantId, Participant>();
  readonly #logger: Logger;
  #lease: RouterLease;
  #speaker: ActiveSpeakerObserver;
  #closed = false;

  /**
   * Creates the conference's router (through `createRouter`, the pool's
   * allocator) and its active-speaker observer, then the conference.
   */
  static async create(options: ConferenceOptions, createRouter: () => Promise<RouterLease>): Promise<Conference> {
    const lease = await createRouter();
    try {
      const speaker = await lease.router.createActiveSpeakerObserver({ interval: options.activeSpeakerIntervalMs });
      return new Conference(options, createRouter, lease, speaker);
    } catch (error) {
      lease.router.close();
      throw error;
    }
  }

  private constructor(
    options: ConferenceOptions,
    createRouter: () => Promise<RouterLease>,
    lease: RouterLease,
    speaker: ActiveSpeakerObserver,
  ) {
    super();
    this.id = options.id;
    this.#options = options;
    this.#createRouter = createRouter;
    this.#queue = new AsyncQueue(`conference ${options.id}`);
    this.#logger = options.logger.child({ component: 'conference', conferenceId: options.id });
    this.#lease = lease;
    this.#speaker = speaker;
    this.#watchRouter();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  /** The router currently hosting the conference (changes after a worker restart). */
  get router(): Router {
    return this.#lease.router;
  }

  /** Whether the router was lost with its worker and awaits rebuild(). */
  get routerLost(): boolean {
    return this.#lease.router.closed && !this.#closed;
  }

  /** Router RTP capabilities for the client's Device.load(). */
  rtpCapabilities(): RtpCapabilities {
    return this.#lease.router.rtpCapabilities;
  }

  /** Admits a participant; tells the others. Rejects if full, closed or the id is taken. */
  join(input: JoinInput): Promise<ResponseDataMap['join']> {
    return this.#run(() => {
      if (this.#participants.has(input.participantId)) {
        throw new InvalidStateError('participant already joined', 'ALREADY_JOINED');
      }
      if (this.#participants.size >= this.#options.maxParticipants) {
        throw new SfuError('CONFERENCE_FULL', 'conference is full');
      }
      const participant = new Participant({
        ...input,
        id: input.participantId,
        logger: this.#logger.child({ participantId: input.participantId }),
      });
      const peers = [...this.#participants.values()].map((peer) => peer.info());
      this.#participants.set(participant.id, participant);
      for (const peer of this.#participants.values()) {
        if (peer !== participant) peer.sink.notify('peerJoined', participant.info());
      }
      participant.logger.info('participant joined', { participants: this.#participants.size });
      this.observer.safeEmit('participantJoined', participant.id);
      return { participantId: participant.id, peers };
    });
  }

  /** Removes a participant, closing its media; emits `empty` after the last one. Idempotent. */
  leave(participantId: ParticipantId, reason: string): Promise<void> {
    return this.#run(() => this.#leave(participantId, reason), { allowClosed: true });
  }

  /** Creates a send or receive WebRtcTransport on the conference's WebRtcServer (UDP, ICE-TCP fallback). */
  createTransport(participantId: ParticipantId, data: RequestData<'createTransport'>): Promise<TransportInfo> {
    return this.#run(async () => {
      const participant = this.#participant(participantId);
      for (const entry of participant.transports.values()) {
        if (entry.direction === data.direction) {
          throw new InvalidStateError(`a ${data.direction} transport exists already`);
        }
      }
      const transport = await this.#lease.router.createWebRtcTransport({
        webRtcServer: this.#lease.webRtcServer,
        enableUdp: true,
        enableTcp: true,
        preferUdp: !data.preferTcp,
        preferTcp: data.preferTcp === true,
        initialAvailableOutgoingBitrate: this.#options.initialAvailableOutgoingBitrate,
        appData: { participantId, direction: data.direction },
      });
      if (participant.closed) {
        transport.close();
        throw new InvalidStateError('participant has left', 'NOT_JOINED');
      }
      if (data.direction === 'send' && this.#options.maxIncomingBitrate > 0) {
        await transport.setMaxIncomingBitrate(this.#options.maxIncomingBitrate);
      }
      participant.transports.set(transport.id, { transport, direction: data.direction });
      transport.on('dtlsstatechange', (state) => {
        if (state === 'failed' || state === 'closed') participant.logger.warn('transport DTLS state', { state });
      });
      if (data.direction === 'recv' && participant.autoSubscribe) {
        // After this response is on the wire (setImmediate runs after the reply
        // is written), so the client knows the transport before consumerCreated.
        setImmediate(() => {
          void this.#run(() => this.#subscribeToEveryone(participant)).catch((error) =>
            participant.logger.warn('auto-subscribe failed', { error }),
          );
        });
      }
      return {
        transportId: transport.id,
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        dtlsParameters: transport.dtlsParameters,
      } as TransportInfo;
    });
  }

  connectTransport(participantId: ParticipantId, data: RequestData<'connectTransport'>): Promise<void> {
    return this.#run(async () => {
      const transport = this.#participant(participantId).transport(data.transportId);
      await transport.connect({ dtlsParameters: data.dtlsParameters as DtlsParameters });
    });
  }

  restartIce(participantId: ParticipantId, data: RequestData<'restartIce'>): Promise<ResponseDataMap['restartIce']> {
    return this.#run(async () => {
      const transport = this.#participant(participantId).transport(data.transportId);
      return { iceParameters: await transport.restartIce() };
    });
  }

  /** Publishes a track; every auto-subscribing peer with a receive transport gets a paused consumer. */
  produce(participantId: ParticipantId, data: RequestData<'produce'>): Promise<ResponseDataMap['produce']> {
    return this.#run(async () => {
      const participant = this.#participant(participantId);
      const transport = participant.transport(data.transportId, 'send');
      if (participant.publications.size >= this.#options.maxProducersPerParticipant) {
        throw new InvalidStateError('too many producers');
      }
      const rtpParameters = data.rtpParameters as RtpParameters;
      const mimeKind = rtpParameters.codecs[0]?.mimeType.split('/')[0]?.toLowerCase();
      if (mimeKind !== data.kind) throw new UnsupportedError(`codec kind ${mimeKind} does not match ${data.kind}`);
      const producer = await transport.produce({
        kind: data.kind,
        rtpParameters,
        paused: data.paused === true,
        // Receivers waiting for E2EE keys ask for key frames repeatedly; forward at most one
        // request per second to the sender so it does not encode a storm of key frames.
        keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS,
        appData: { participantId, source: data.source },
      });
      const publication: Publication = { producer, source: data.source };
      participant.publications.set(producer.id, publication);
      producer.on('transportclose', () => {
        participant.publications.delete(producer.id);
      });
      if (producer.kind === 'audio') {
        await this.#speaker.addProducer({ producerId: producer.id }).catch((error: unknown) =>
          participant.logger.warn('active speaker observer refused producer', { error }),
        );
      }
      for (const peer of this.#participants.values()) {
        if (peer !== participant && peer.autoSubscribe && peer.recvTransport) {
          await this.#subscribe(peer, participant, publication).catch((error: unknown) =>
            peer.logger.debug('not subscribed to new producer', { producerId: producer.id, error }),
          );
        }
      }
      participant.logger.debug('producer created', { producerId: producer.id, kind: producer.kind, source: data.source });
      return { producerId: producer.id };
    });
  }

  closeProducer(participantId: ParticipantId, data: RequestData<'closeProducer'>): Promise<void> {
    return this.#run(() => {
      const participant = this.#participant(participantId);
      const { producer } = participant.publication(data.producerId);
      producer.close();
      participant.publications.delete(producer.id);
    });
  }

  pauseProducer(participantId: ParticipantId, data: RequestData<'pauseProducer'>): Promise<void> {
    return this.#run(async () => {
      await this.#participant(participantId).publication(data.producerId).producer.pause();
    });
  }

  resumeProducer(participantId: ParticipantId, data: RequestData<'resumeProducer'>): Promise<void> {
    return this.#run(async () => {
      await this.#participant(participantId).publication(data.producerId).producer.resume();
    });
  }

  /** Explicit subscription (participants that joined with autoSubscribe false). */
  consume(participantId: ParticipantId, data: RequestData<'consume'>): Promise<ConsumerInfo> {
    return this.#run(async () => {
      const subscriber = this.#participant(participantId);
      for (const publisher of this.#participants.values()) {
        const publication = publisher.publications.get(data.producerId);
        if (!publication) continue;
        if (publisher === subscriber) throw new InvalidStateError('cannot consume own producer');
        return this.#subscribe(subscriber, publisher, publication, false);
      }
      throw new NotFoundError(`unknown producer ${data.producerId}`);
    });
  }

  /** The client's acknowledgement that its consumer exists: start forwarding. */
  resumeConsumer(participantId: ParticipantId, data: RequestData<'resumeConsumer'>): Promise<void> {
    return this.#run(async () => {
      await this.#participant(participantId).subscription(data.consumerId).consumer.resume();
    });
  }

  pauseConsumer(participantId: ParticipantId, data: RequestData<'pauseConsumer'>): Promise<void> {
    return this.#run(async () => {
      await this.#participant(participantId).subscription(data.consumerId).consumer.pause();
    });
  }

  setConsumerPreferredLayers(participantId: ParticipantId, data: RequestData<'setConsumerPreferredLayers'>): Promise<void> {
    return this.#run(async () => {
      const { consumer } = this.#participant(participantId).subscription(data.consumerId);
      if (consumer.type !== 'simulcast' && consumer.type !== 'svc') {
        throw new UnsupportedError('consumer has no layers');
      }
      await consumer.setPreferredLayers({
        spatialLayer: data.spatialLayer,
        ...(data.temporalLayer !== undefined ? { temporalLayer: data.temporalLayer } : {}),
      });
    });
  }

  /** Client-reported time from consumerCreated to its first decoded frame. */
  reportFirstMedia(participantId: ParticipantId, data: RequestData<'reportFirstMedia'>): Promise<void> {
    return this.#run(() => {
      this.#participant(participantId).subscription(data.consumerId);
      this.observer.safeEmit('firstMediaReported', data.elapsedMs);
    });
  }

  /**
   * Moves the conference to a fresh router after its worker died. Media
   * objects died with the worker; participants stay joined and are asked to
   * rebuild transports and re-publish (`reconnectRequested`).
   */
  rebuild(): Promise<void> {
    return this.#run(async () => {
      if (!this.#lease.router.closed) return;
      const lease = await this.#createRouter();
      let speaker: ActiveSpeakerObserver;
      try {
        speaker = await lease.router.createActiveSpeakerObserver({ interval: this.#options.activeSpeakerIntervalMs });
      } catch (error) {
        lease.router.close();
        throw error;
      }
      if (this.#closed) {
        lease.router.close();
        return;
      }
      this.#lease = lease;
      this.#speaker = speaker;
      this.#watchRouter();
      for (const participant of this.#participants.values()) {
        participant.forgetMedia();
        participant.sink.notify('reconnectRequested', { reason: 'worker-restarted' });
      }
      this.#logger.warn('conference rebuilt on a new router', { participants: this.#participants.size });
      this.observer.safeEmit('rebuilt');
    });
  }

  /** Snapshot of participants and their media ids. */
  dump(): ConferenceDump {
    return {
      id: this.id,
      routerId: this.#lease.router.id,
      closed: this.#closed,
      participants: [...this.#participants.values()].map((p) => ({
        id: p.id,
        displayName: p.displayName,
        transports: [...p.transports.keys()],
        producers: [...p.publications.keys()],
        consumers: [...p.subscriptions.keys()],
      })),
    };
  }

  /** Closes every participant and the router. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    for (const participant of this.#participants.values()) participant.close();
    this.#participants.clear();
    this.#lease.router.close();
    this.#logger.info('conference closed');
    this.safeEmit('closed');
    this.removeAllListeners();
  }

  #run<T>(task: () => Promise<T> | T, options: { allowClosed?: boolean } = {}): Promise<T> {
    if (this.#closed && !options.allowClosed) {
      return Promise.reject(new InvalidStateError('conference is closed'));
    }
    if (this.#closed) return Promise.resolve().then(task);
    return this.#queue.push(task);
  }

  #participant(participantId: ParticipantId): Participant {
    const participant = this.#participants.get(participantId);
    if (!participant) throw new InvalidStateError('not joined', 'NOT_JOINED');
    if (this.#lease.router.closed) throw new InvalidStateError('media router restarting, reconnect requested');
    return participant;
  }

  #leave(participantId: ParticipantId, reason: string): void {
    const participant = this.#participants.get(participantId);
    if (!participant) return;
    this.#participants.delete(participantId);
    participant.close();
    for (const peer of this.#participants.values()) peer.sink.notify('peerLeft', { participantId });
    participant.logger.info('participant left', { reason, participants: this.#participants.size });
    this.observer.safeEmit('participantLeft', participantId);
    if (this.#participants.size === 0 && !this.#closed) this.safeEmit('empty');
  }

  async #subscribeToEveryone(subscriber: Participant): Promise<void> {
    if (subscriber.closed || !subscriber.recvTransport) return;
    for (const publisher of this.#participants.values()) {
      if (publisher === subscriber) continue;
      for (const publication of publisher.publications.values()) {
        const already = [...subscriber.subscriptions.values()].some((s) => s.consumer.producerId === publication.producer.id);
        if (already) continue;
        await this.#subscribe(subscriber, publisher, publication).catch((error: unknown) =>
          subscriber.logger.debug('not subscribed', { producerId: publication.producer.id, error }),
        );
      }
    }
  }

  /**
   * Creates a paused consumer (resumed only when the client acknowledges, so
   * its PeerConnection exists before the first packet and key-frame request).
   * `notify` false: the caller returns the info as a response instead.
   */
  async #subscribe(
    subscriber: Participant,
    publisher: Participant,
    publication: Publication,
    notify = true,
  ): Promise<ConsumerInfo> {
    const transport = subscriber.recvTransport;
    if (!transport) throw new InvalidStateError('no receive transport');
    const { producer, source } = publication;
    if (!this.#lease.router.canConsume({ producerId: producer.id, rtpCapabilities: subscriber.rtpCapabilities })) {
      throw new UnsupportedError('receiver cannot decode this producer');
    }
    const consumer = await transport.consume({
      producerId: producer.id,
      rtpCapabilities: subscriber.rtpCapabilities,
      paused: true,
      appData: { participantId: subscriber.id, publisherId: publisher.id, source },
    });
    subscriber.subscriptions.set(consumer.id, {
      consumer,
      publisherId: publisher.id,
      source,
      createdAtMs: performance.now(),
    });
    const consumerId = consumer.id;
    const forget = (): void => {
      subscriber.subscriptions.delete(consumerId);
    };
    consumer.on('transportclose', forget);
    consumer.on('producerclose', () => {
      void this.#run(() => {
        forget();
        subscriber.sink.notify('consumerClosed', { consumerId });
      }).catch((error: unknown) => subscriber.logger.debug('consumerClosed not sent', { error }));
    });
    consumer.on('producerpause', () => subscriber.sink.notify('consumerPaused', { consumerId }));
    consumer.on('producerresume', () => subscriber.sink.notify('consumerResumed', { consumerId }));
    consumer.on('layerschange', (layers) =>
      subscriber.sink.notify('consumerLayersChanged', {
        consumerId,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    consumer.on('score', (score) =>
      subscriber.sink.notify('consumerScore', { consumerId, score: score.score, producerScore: score.producerScore }),
    );
    const info: ConsumerInfo = {
      consumerId,
      producerId: producer.id,
      participantId: publisher.id,
      kind: consumer.kind,
      source,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
    if (notify) subscriber.sink.notify('consumerCreated', info);
    return info;
  }

  #watchRouter(): void {
    const router = this.#lease.router;
    this.#speaker.on('dominantspeaker', ({ producer }) => {
      const participantId = (producer.appData as { participantId?: string }).participantId ?? null;
      for (const participant of this.#participants.values()) {
        participant.sink.notify('activeSpeaker', { participantId });
      }
    });
    router.observer.once('close', () => {
      if (!this.#closed && this.#lease.router === router) {
        this.#logger.warn('router closed under the conference (worker died?)');
      }
    });
  }
}
