// A Conference is one call on one mediasoup router, run as an actor: every
// input that touches its state (participant operations, joins and leaves,
// mediasoup events, router rebuilds) goes through its single AsyncQueue, and
// every task re-checks when it runs that the conference is still open (tasks
// run later than they were pushed). Edges reach it only through the
// ParticipantHandle that join() returns. It ends itself when the last
// participant leaves (`empty`), and its parent (ConferenceRegistry) closes it.
// When its worker dies it moves itself to a new router, trying other workers,
// and closes with `router-lost` if none works. See README.md (closures).

import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError, NotFoundError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { RouterLease } from '../media/WorkerPool.ts';
import { withMediaTimeout } from '../media/timeout.ts';
import { fromMediasoupError } from '../media/errors.ts';
import type { ActiveSpeakerObserver, Router, RtpCapabilities } from '../media/types.ts';
import type { ConferenceEvents, ConferenceObserverEvents, ParticipantCloseReason, ParticipantEvents } from './events.ts';
import { Participant, type Publication } from './Participant.ts';
import { ParticipantHandle, type HandleContext } from './ParticipantHandle.ts';
import type { ConferenceDump, ConferenceOptions, ConsumerInfo, JoinInput, ProducerDemand } from './types.ts';

export { KEY_FRAME_REQUEST_DELAY_MS } from './ParticipantHandle.ts';

/** Default conference.maxConsumersPerParticipant. */
export const DEFAULT_MAX_CONSUMERS_PER_PARTICIPANT = 500;

/** Default routers tried when rebuilding after a worker death. */
export const DEFAULT_MAX_REBUILD_ATTEMPTS = 3;

/**
 * A worker request bounded in time whose mediasoup errors become SfuErrors
 * (media/errors.ts), so edges see only our vocabulary; unknown ones pass as is.
 */
async function mediaRequest<T>(what: string, request: Promise<T>, timeoutMs: number, onLate?: (value: T) => void): Promise<T> {
  try {
    return await withMediaTimeout(what, request, timeoutMs, onLate);
  } catch (error) {
    throw fromMediasoupError(error) ?? error;
  }
}

/** One call: participants and their media on one router. */
export class Conference extends TypedEmitter<ConferenceEvents> {
  readonly id: ConferenceId;
  readonly observer = new TypedEmitter<ConferenceObserverEvents>();
  readonly #options: ConferenceOptions;
  readonly #createRouter: () => Promise<RouterLease>;
  readonly #queue: AsyncQueue;
  readonly #participants = new Map<string, { participant: Participant; handle: ParticipantHandle }>();
  readonly #logger: Logger;
  readonly #ctx: HandleContext;
  #lease: RouterLease;
  #speaker: ActiveSpeakerObserver;
  #closed = false;
  #rebuilding = false;
  /** Producers whose demand changed this turn (told to their publishers once, on setImmediate). */
  readonly #demandDirty = new Set<string>();

  /**
   * Creates the conference's router (through `createRouter`, the pool's
   * allocator) and its active-speaker observer, then the conference.
   */
  static async create(options: ConferenceOptions, createRouter: () => Promise<RouterLease>): Promise<Conference> {
    const { lease, speaker } = await Conference.#newRouter(options, createRouter);
    return new Conference(options, createRouter, lease, speaker);
  }

  static async #newRouter(
    options: ConferenceOptions,
    createRouter: () => Promise<RouterLease>,
  ): Promise<{ lease: RouterLease; speaker: ActiveSpeakerObserver }> {
    const lease = await createRouter();
    try {
      const speaker = await withMediaTimeout(
        'router.createActiveSpeakerObserver',
        lease.router.createActiveSpeakerObserver({ interval: options.activeSpeakerIntervalMs }),
        lease.requestTimeoutMs,
      );
      if (lease.router.closed) throw new InvalidStateError('router closed while it was being set up');
      return { lease, speaker };
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
    this.#ctx = {
      options,
      run: (participant, task) => this.#runFor(participant, task),
      media: (what, request, onLate) => mediaRequest(what, request, this.#lease.requestTimeoutMs, onLate),
      lease: () => this.#lease,
      speaker: () => this.#speaker,
      published: (publisher, publication) => this.#published(publisher, publication),
      consume: (subscriber, producerId) => this.#consume(subscriber, producerId),
      subscribeLater: (subscriber) => this.#subscribeLater(subscriber),
      remove: (participant, reason) => this.#removeQueued(participant, reason),
      firstMediaReported: (elapsedMs) => this.observer.safeEmit('firstMediaReported', elapsedMs),
      demandChanged: (producerId) => this.#demandChanged(producerId),
    };
    this.#watchRouter();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  /** Pool slot of the worker holding this conference's router (admission control reads its load). */
  get slotIndex(): number {
    return this.#lease.slotIndex;
  }

  /** Whether a participant with this id is in the conference (a new session of it replaces the old one). */
  has(participantId: string): boolean {
    return this.#participants.has(participantId);
  }

  /** The router currently hosting the conference (changes after a worker restart). */
  get router(): Router {
    return this.#lease.router;
  }

  /** Whether the router was lost with its worker and a rebuild is pending. */
  get routerLost(): boolean {
    return this.#lease.router.closed && !this.#closed;
  }

  /** Router RTP capabilities for the client's Device.load(). */
  rtpCapabilities(): RtpCapabilities {
    return this.#lease.router.rtpCapabilities;
  }

  /**
   * Admits a participant and tells the others; resolves with its handle.
   * `attach` runs inside the join task, before any event of the handle can
   * fire: the edge attaches its listeners there. A participant id already
   * present is replaced (its old handle closes with `replaced`). Rejects with
   * CONFERENCE_FULL, or INVALID_STATE once the conference closed (the
   * registry's join() then retries on a fresh conference).
   */
  join(input: JoinInput, attach?: (handle: ParticipantHandle) => void): Promise<ParticipantHandle> {
    return this.#run(() => {
      const previous = this.#participants.get(input.participantId);
      if (previous) this.#remove(previous.participant, 'replaced', false);
      if (this.#participants.size >= this.#options.maxParticipants) {
        throw new SfuError('CONFERENCE_FULL', 'conference is full');
      }
      const participant = new Participant({
        ...input,
        id: input.participantId,
        logger: this.#logger.child({ participantId: input.participantId }),
      });
      const peers = [...this.#participants.values()].map((entry) => entry.participant.info());
      const handle = new ParticipantHandle(this.id, participant, peers, this.#ctx);
      attach?.(handle);
      this.#participants.set(participant.id, { participant, handle });
      const info = participant.info();
      for (const entry of this.#participants.values()) {
        if (entry.participant !== participant) entry.handle.safeEmit('peerJoined', info);
      }
      participant.logger.info('participant joined', { participants: this.#participants.size, replaced: previous !== undefined });
      this.observer.safeEmit('participantJoined', participant.id, participant.edge);
      return handle;
    });
  }

  /** Snapshot of participants and their media ids. */
  dump(): ConferenceDump {
    return {
      id: this.id,
      routerId: this.#lease.router.id,
      closed: this.#closed,
      participants: [...this.#participants.values()].map(({ participant: p }) => ({
        id: p.id,
        displayName: p.displayName,
        transports: [...p.transports.keys()],
        producers: [...p.publications.keys()],
        consumers: [...p.subscriptions.keys()],
      })),
    };
  }

  /**
   * What the subscribers of `producerId` need from it, over every edge's consumers: paused
   * consumers need nothing; a forwarding one needs layers up to its preferred spatial layer
   * (all layers when it has no preference). Undefined for an unknown producer.
   */
  demandOf(producerId: string): ProducerDemand | undefined {
    let publication: Publication | undefined;
    for (const { participant } of this.#participants.values()) publication ??= participant.publications.get(producerId);
    if (!publication) return undefined;
    const topLayer = Math.max(0, (publication.producer.rtpParameters.encodings?.length ?? 1) - 1);
    let consumers = 0;
    let active = 0;
    let maxSpatialLayer = -1;
    for (const { participant } of this.#participants.values()) {
      const consumerId = participant.consumerByProducer.get(producerId);
      const consumer = consumerId === undefined ? undefined : participant.subscriptions.get(consumerId)?.consumer;
      if (!consumer || consumer.closed) continue;
      consumers++;
      if (consumer.paused) continue;
      active++;
      maxSpatialLayer = Math.max(maxSpatialLayer, Math.min(topLayer, consumer.preferredLayers?.spatialLayer ?? topLayer));
    }
    return { consumers, active, maxSpatialLayer };
  }

  /**
   * Closes every participant (their handles close with `reason`) and the
   * router. Idempotent. Tasks still queued fail with INVALID_STATE.
   */
  close(reason: Extract<ParticipantCloseReason, 'conference-closed' | 'router-lost'> = 'conference-closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    const entries = [...this.#participants.values()];
    this.#participants.clear();
    for (const { participant, handle } of entries) {
      participant.close();
      handle.conferenceClosed(reason);
    }
    this.#lease.router.close();
    this.#logger.info('conference closed', { reason, participants: entries.length });
    this.safeEmit('closed');
    this.removeAllListeners();
  }

  #closedError(): InvalidStateError {
    return new InvalidStateError('conference is closed');
  }

  /** Marks a producer's demand as changed; its publisher hears `producerDemand` once this turn ends. */
  #demandChanged(producerId: string): void {
    if (this.#closed) return;
    if (this.#demandDirty.size === 0) setImmediate(() => this.#flushDemand());
    this.#demandDirty.add(producerId);
  }

  #flushDemand(): void {
    const producerIds = [...this.#demandDirty];
    this.#demandDirty.clear();
    if (this.#closed) return;
    for (const producerId of producerIds) {
      const demand = this.demandOf(producerId);
      if (!demand) continue;
      for (const { participant, handle } of this.#participants.values()) {
        if (participant.publications.has(producerId)) handle.safeEmit('producerDemand', producerId, demand);
      }
    }
  }

  /** Queues a task that runs only if the conference is still open when its turn comes. */
  #run<T>(task: () => Promise<T> | T): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#queue.push(() => {
      if (this.#closed) throw this.#closedError();
      return task();
    });
  }

  /** Queues a participant's task: it runs only if that participant is still the current one. */
  #runFor<T>(participant: Participant, task: () => Promise<T> | T): Promise<T> {
    return this.#run(() => {
      if (participant.closed || this.#participants.get(participant.id)?.participant !== participant) {
        throw new InvalidStateError('participant has left', 'NOT_JOINED');
      }
      if (this.#lease.router.closed) throw new InvalidStateError('media router restarting, reconnect requested');
      return task();
    });
  }

  /** Queued removal; a no-op if the participant is no longer current or the conference closed. */
  #removeQueued(participant: Participant, reason: ParticipantCloseReason): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#queue.push(() => {
      if (!this.#closed) this.#remove(participant, reason);
    });
  }

  /** Removes `participant` if current: closes its media, closes its handle, tells peers; `empty` after the last. */
  #remove(participant: Participant, reason: ParticipantCloseReason, emitEmpty = true): void {
    const entry = this.#participants.get(participant.id);
    if (!entry || entry.participant !== participant) return;
    this.#participants.delete(participant.id);
    participant.close();
    entry.handle.conferenceClosed(reason);
    for (const peer of this.#participants.values()) peer.handle.safeEmit('peerLeft', participant.id);
    participant.logger.info('participant left', { reason, participants: this.#participants.size });
    this.observer.safeEmit('participantLeft', participant.id, participant.edge);
    if (emitEmpty && this.#participants.size === 0 && !this.#closed) this.safeEmit('empty');
  }

  async #published(publisher: Participant, publication: Publication): Promise<void> {
    for (const { participant: peer } of this.#participants.values()) {
      if (peer !== publisher && peer.autoSubscribe && peer.recvTransport) {
        await this.#subscribe(peer, publisher, publication).catch((error: unknown) =>
          peer.logger.debug('not subscribed to new producer', { producerId: publication.producer.id, error }),
        );
      }
    }
  }

  async #consume(subscriber: Participant, producerId: string): Promise<ConsumerInfo> {
    for (const { participant: publisher } of this.#participants.values()) {
      const publication = publisher.publications.get(producerId);
      if (!publication) continue;
      if (publisher === subscriber) throw new InvalidStateError('cannot consume own producer');
      return this.#subscribe(subscriber, publisher, publication, false);
    }
    throw new NotFoundError(`unknown producer ${producerId}`);
  }

  /** After the current task's reply is on the wire, subscribes to every publication. */
  #subscribeLater(subscriber: Participant): void {
    // setImmediate runs after the reply is written, so the client knows the
    // transport before consumerCreated.
    setImmediate(() => {
      this.#runFor(subscriber, () => this.#subscribeToEveryone(subscriber)).catch((error: unknown) =>
        subscriber.logger.debug('auto-subscribe skipped', { error }),
      );
    });
  }

  async #subscribeToEveryone(subscriber: Participant): Promise<void> {
    if (!subscriber.recvTransport) return;
    for (const { participant: publisher } of [...this.#participants.values()]) {
      if (publisher === subscriber) continue;
      for (const publication of [...publisher.publications.values()]) {
        if (subscriber.closed) return;
        await this.#subscribe(subscriber, publisher, publication).catch((error: unknown) =>
          subscriber.logger.debug('not subscribed', { producerId: publication.producer.id, error }),
        );
      }
    }
  }

  /**
   * Creates a paused consumer (resumed only when the client acknowledges, so
   * its PeerConnection exists before the first packet and key-frame request),
   * or returns the subscriber's existing consumer of that producer. Refuses
   * with LIMIT_EXCEEDED past the per-participant or per-worker cap.
   * `notify` false: the caller returns the info as a response instead.
   */
  async #subscribe(subscriber: Participant, publisher: Participant, publication: Publication, notify = true): Promise<ConsumerInfo> {
    const { producer, source } = publication;
    const existing = subscriber.consumerByProducer.get(producer.id);
    if (existing !== undefined) {
      const subscription = subscriber.subscriptions.get(existing);
      if (subscription) return subscription.info;
    }
    const transport = subscriber.recvTransport;
    if (!transport) throw new InvalidStateError('no receive transport');
    const maxConsumers = this.#options.maxConsumersPerParticipant ?? DEFAULT_MAX_CONSUMERS_PER_PARTICIPANT;
    if (subscriber.subscriptions.size >= maxConsumers) {
      this.observer.safeEmit('consumerRefused', 'participant-limit');
      throw new SfuError('LIMIT_EXCEEDED', `at most ${maxConsumers} consumers per participant`);
    }
    const lease = this.#lease;
    if (!lease.router.canConsume({ producerId: producer.id, rtpCapabilities: subscriber.rtpCapabilities })) {
      throw new UnsupportedError('receiver cannot decode this producer');
    }
    const release = lease.reserveConsumer();
    if (!release) {
      this.observer.safeEmit('consumerRefused', 'worker-limit');
      subscriber.logger.warn('consumer refused: media worker is at its consumer limit', { slot: lease.slotIndex });
      throw new SfuError('LIMIT_EXCEEDED', 'the media worker carries its maximum of consumers');
    }
    let consumer;
    try {
      consumer = await mediaRequest(
        'transport.consume',
        transport.consume({
          producerId: producer.id,
          rtpCapabilities: subscriber.rtpCapabilities,
          paused: true,
          appData: { participantId: subscriber.id, publisherId: publisher.id, source },
        }),
        lease.requestTimeoutMs,
        (late) => late.close(),
      );
    } finally {
      release();
    }
    if (consumer.closed || subscriber.closed || transport.closed) {
      consumer.close();
      throw new SfuError('GONE', 'the producer or transport closed meanwhile');
    }
    const consumerId = consumer.id;
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
    subscriber.addSubscription({ consumer, publisherId: publisher.id, info, createdAtMs: performance.now() });
    const handle = (): ParticipantHandle | undefined => this.#participants.get(subscriber.id)?.handle;
    const emit = <K extends keyof ParticipantEvents & string>(event: K, ...args: ParticipantEvents[K]): void => {
      if (!subscriber.closed) handle()?.safeEmit(event, ...args);
    };
    consumer.observer.once('close', () => {
      subscriber.removeSubscription(consumerId);
      this.#demandChanged(producer.id);
    });
    consumer.on('producerclose', () => {
      if (!subscriber.closed) emit('consumerClosed', consumerId);
    });
    consumer.on('producerpause', () => emit('consumerPaused', consumerId));
    consumer.on('producerresume', () => emit('consumerResumed', consumerId));
    consumer.on('layerschange', (layers) =>
      emit('consumerLayersChanged', consumerId, layers ? { spatialLayer: layers.spatialLayer, temporalLayer: layers.temporalLayer ?? 0 } : null),
    );
    consumer.on('score', (score) => emit('consumerScore', consumerId, score.score, score.producerScore));
    this.#demandChanged(producer.id);
    if (notify) emit('consumerCreated', info);
    return info;
  }

  #watchRouter(): void {
    const router = this.#lease.router;
    this.#speaker.on('dominantspeaker', ({ producer }) => {
      const participantId = ((producer.appData as { participantId?: string }).participantId ?? null) as ParticipantId | null;
      for (const { handle } of this.#participants.values()) handle.safeEmit('activeSpeaker', participantId);
    });
    router.observer.once('close', () => {
      if (this.#closed || this.#lease.router !== router) return;
      this.#logger.warn('router closed under the conference (worker died); rebuilding');
      this.#scheduleRebuild();
    });
  }

  #scheduleRebuild(): void {
    if (this.#rebuilding || this.#closed) return;
    this.#rebuilding = true;
    this.#run(() => this.#rebuild())
      .catch((error: unknown) => this.#logger.debug('rebuild task not run', { error }))
      .finally(() => {
        this.#rebuilding = false;
        // The new router may have died while this rebuild ran: go again (bounded by the pool's live workers).
        if (this.routerLost) this.#scheduleRebuild();
      });
  }

  /**
   * Moves the conference to a fresh router after its worker died, trying up
   * to maxRebuildAttempts routers (each placed by the pool on a live worker,
   * so a worker that dies during the rebuild is not tried again). Media
   * objects died with the worker; participants stay joined and get
   * `mediaReset`. If every attempt fails the conference closes with
   * `router-lost`, which every handle hears.
   */
  async #rebuild(): Promise<void> {
    const attempts = this.#options.maxRebuildAttempts ?? DEFAULT_MAX_REBUILD_ATTEMPTS;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#closed || !this.#lease.router.closed) return;
      try {
        const { lease, speaker } = await Conference.#newRouter(this.#options, this.#createRouter);
        if (this.#closed) {
          lease.router.close();
          return;
        }
        this.#lease = lease;
        this.#speaker = speaker;
        this.#watchRouter();
        for (const { participant, handle } of this.#participants.values()) {
          participant.forgetMedia();
          handle.safeEmit('mediaReset', 'worker-restarted');
        }
        this.#logger.warn('conference rebuilt on a new router', { participants: this.#participants.size, slot: lease.slotIndex, attempt });
        this.observer.safeEmit('rebuilt');
        return;
      } catch (error) {
        lastError = error;
        this.#logger.warn('conference rebuild attempt failed', { attempt, attempts, error });
      }
    }
    this.#logger.error('conference rebuild failed on every attempt; closing it', { attempts, error: lastError });
    this.close('router-lost');
  }
}
