// A Conference is one call, run as an actor: every
// input that touches its state (participant operations, joins and leaves,
// mediasoup events, router rebuilds) goes through its single AsyncQueue, and
// every task re-checks when it runs that the conference is still open (tasks
// run later than they were pushed). Edges reach it only through the
// ParticipantHandle that join() returns. It ends itself when the last
// participant leaves (`empty`), and its parent (ConferenceRegistry) closes it.
// Its media lives on one router per worker it uses (ConferenceRouters): each
// participant is homed on one of them, and producers are piped to the routers
// of their subscribers. When a worker dies, only the participants homed there
// move (to another router, trying other workers); the conference closes with
// `router-lost` only when no router can be had. In a cluster, participants of other
// nodes serving the same room appear here too (upsertRemote, from the cascade): their
// producers are pipe producers on the primary router; they are peers like any other but
// not this node's participants (no handle an edge holds, not counted). See README.md.

import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError, NotFoundError, SfuError } from '../../common/lib/errors.ts';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { RouterLease } from '../media/WorkerPool.ts';
import type { Producer, Router, RtpCapabilities } from '../media/types.ts';
import { ConferenceRouters, type RouterEntry, type RouterPlacement } from './ConferenceRouters.ts';
import type { ConferenceEvents, ConferenceObserverEvents, ParticipantCloseReason } from './events.ts';
import { Participant, type Publication } from './Participant.ts';
import { ParticipantHandle, type HandleContext } from './ParticipantHandle.ts';
import { demandOf, mediaRequest, subscribe, type SubscribeContext } from './subscribe.ts';
import type { ConferenceDump, ConferenceOptions, ConsumerInfo, JoinInput, LocalPeerView, ProducerDemand, RemotePeerInput } from './types.ts';

export { KEY_FRAME_REQUEST_DELAY_MS } from './ParticipantHandle.ts';


/** Default routers tried when rebuilding after a worker death. */
export const DEFAULT_MAX_REBUILD_ATTEMPTS = 3;

/** One call: participants and their media on one router per worker it uses. */
export class Conference extends TypedEmitter<ConferenceEvents> {
  readonly id: ConferenceId;
  readonly observer = new TypedEmitter<ConferenceObserverEvents>();
  readonly #options: ConferenceOptions;
  readonly #queue: AsyncQueue;
  readonly #participants = new Map<string, { participant: Participant; handle: ParticipantHandle }>();
  /** The router each participant's transports live on; absent while a lost router's participants move. */
  readonly #homes = new Map<Participant, RouterEntry>();
  readonly #logger: Logger;
  readonly #ctx: HandleContext;
  readonly #subscribeCtx: SubscribeContext;
  #routers!: ConferenceRouters;
  #closed = false;
  #rebuilding = false;
  /** Producers whose demand changed this turn (told to their publishers once, on setImmediate). */
  readonly #demandDirty = new Set<string>();
  /** Local producers piped to other nodes (they count as wanted in full by the cascade). */
  readonly #exported = new Map<string, number>();

  /**
   * Creates the conference with its primary router and active-speaker observer.
   * `placement` is the worker pool's view (load per worker, router creation); a plain
   * router factory keeps the whole conference on routers it returns, without spreading.
   */
  static async create(options: ConferenceOptions, placement: RouterPlacement | (() => Promise<RouterLease>)): Promise<Conference> {
    const view: RouterPlacement = typeof placement === 'function' ? { slots: () => [], createRouter: () => placement() } : placement;
    const conference = new Conference(options);
    conference.#routers = await ConferenceRouters.create({
      placement: view,
      spread: { consumersPerWorker: options.spreadConsumersPerWorker ?? 0, workerLoad: options.spreadWorkerLoad ?? 0 },
      activeSpeakerIntervalMs: options.activeSpeakerIntervalMs,
      logger: conference.#logger,
      onRouterLost: (entry) => conference.#routerLost(entry),
      onDominantSpeaker: (producer) => conference.#dominantSpeaker(producer),
    });
    return conference;
  }

  private constructor(options: ConferenceOptions) {
    super();
    this.id = options.id;
    this.#options = options;
    this.#queue = new AsyncQueue(`conference ${options.id}`);
    this.#logger = options.logger.child({ component: 'conference', conferenceId: options.id });
    this.#ctx = {
      options,
      run: (participant, task) => this.#runFor(participant, task),
      media: (what, request, onLate) => mediaRequest(what, request, this.#routers.primary.lease.requestTimeoutMs, onLate),
      lease: (participant) => this.#homeOf(participant).lease,
      observeAudio: (participant, producer) => this.#routers.observeAudio(producer, this.#homeOf(participant)),
      published: (publisher, publication) => this.#published(publisher, publication),
      consume: (subscriber, producerId) => this.#consume(subscriber, producerId),
      subscribeLater: (subscriber) => this.#subscribeLater(subscriber),
      remove: (participant, reason) => this.#removeQueued(participant, reason),
      firstMediaReported: (elapsedMs) => this.observer.safeEmit('firstMediaReported', elapsedMs),
      demandChanged: (producerId) => this.#demandChanged(producerId),
    };
    this.#subscribeCtx = {
      options,
      observer: this.observer,
      homes: this.#homes,
      routers: () => this.#routers,
      homeOf: (participant) => this.#homeOf(participant),
      handleOf: (participant) => {
        const entry = this.#participants.get(participant.id);
        return entry?.participant === participant ? entry.handle : undefined;
      },
      demandChanged: (producerId) => this.#demandChanged(producerId),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Participants of this node (those of other nodes, seen through the cascade, not counted). */
  get participantCount(): number {
    let local = 0;
    for (const { participant } of this.#participants.values()) if (participant.remoteLink === undefined) local++;
    return local;
  }

  /** Pool slot of the worker holding the conference's primary router. */
  get slotIndex(): number {
    return this.#routers.primary.lease.slotIndex;
  }

  /** Pool slots of every worker the conference has a router on (admission control reads their load). */
  get slotIndexes(): number[] {
    return this.#routers.slotIndexes();
  }

  /** Whether a participant with this id is in the conference (a new session of it replaces the old one). */
  has(participantId: string): boolean {
    return this.#participants.has(participantId);
  }

  /** The conference's primary router (holds the active-speaker observer; changes after a worker restart). */
  get router(): Router {
    return this.#routers.primary.lease.router;
  }

  /** Every live router of the conference, primary first. */
  get routers(): Router[] {
    const primary = this.#routers.primary;
    return [primary, ...this.#routers.entries().filter((entry) => entry !== primary)]
      .filter((entry) => !entry.lease.router.closed)
      .map((entry) => entry.lease.router);
  }

  /** Whether a router was lost with its worker and its participants still wait for a new one. */
  get routerLost(): boolean {
    if (this.#closed) return false;
    if (this.#routers.primary.lease.router.closed) return true;
    for (const { participant } of this.#participants.values()) {
      const home = this.#homes.get(participant);
      if (!home || home.lease.router.closed) return true;
    }
    return false;
  }

  /** Router RTP capabilities for the client's Device.load() (every router of a conference has the same). */
  rtpCapabilities(): RtpCapabilities {
    return this.#routers.primary.lease.router.rtpCapabilities;
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
    return this.#run(async () => {
      const previous = this.#participants.get(input.participantId);
      if (previous) this.#remove(previous.participant, 'replaced', false);
      if (this.#participants.size >= this.#options.maxParticipants) {
        throw new SfuError('CONFERENCE_FULL', 'conference is full');
      }
      const home = await this.#routers.place();
      if (this.#closed) throw this.#closedError();
      const participant = new Participant({
        ...input,
        id: input.participantId,
        logger: this.#logger.child({ participantId: input.participantId }),
      });
      const peers = [...this.#participants.values()].map((entry) => entry.participant.info());
      const handle = new ParticipantHandle(this.id, participant, peers, this.#ctx);
      // Homed before `attach`: the edge may read the handle's router capabilities there.
      this.#homes.set(participant, home);
      try {
        attach?.(handle);
      } catch (error) {
        this.#homes.delete(participant);
        this.#routers.release(home);
        throw error;
      }
      this.#participants.set(participant.id, { participant, handle });
      const info = participant.info();
      for (const entry of this.#participants.values()) {
        if (entry.participant !== participant) entry.handle.safeEmit('peerJoined', info);
      }
      participant.logger.info('participant joined', {
        participants: this.#participants.size,
        replaced: previous !== undefined,
        slot: home.lease.slotIndex,
      });
      this.observer.safeEmit('participantJoined', participant.id, participant.edge);
      this.observer.safeEmit('localChanged');
      return handle;
    });
  }

  /** This node's participants and their publications, for the cascade's announcements. */
  localPeers(): LocalPeerView[] {
    return [...this.#participants.values()]
      .filter(({ participant }) => participant.remoteLink === undefined)
      .map(({ participant }) => ({
        participantId: participant.id,
        displayName: participant.displayName,
        joinedAtMs: participant.joinedAtMs,
        publications: [...participant.publications.values()],
      }));
  }

  /**
   * Makes a local producer consumable on the primary router (where the cascade's pipe
   * transports live) and counts it as wanted in full while a link exports it (one call per
   * link; unexportProducer undoes one). Queued; GONE when the producer closed meanwhile.
   */
  exportProducer(producerId: string): Promise<void> {
    return this.#run(async () => {
      for (const { participant } of this.#participants.values()) {
        const publication = participant.remoteLink === undefined ? participant.publications.get(producerId) : undefined;
        if (!publication) continue;
        await this.#routers.pipe(publication.producer, this.#homeOf(participant), this.#routers.primary);
        if (publication.producer.closed) break;
        const links = this.#exported.get(producerId) ?? 0;
        this.#exported.set(producerId, links + 1);
        if (links === 0) {
          publication.producer.observer.once('close', () => this.#exported.delete(producerId));
          this.#demandChanged(producerId);
        }
        return;
      }
      throw new SfuError('GONE', `producer ${producerId} closed meanwhile`);
    });
  }

  /** One cascade link no longer pipes a local producer (exportProducer's counterpart). */
  unexportProducer(producerId: string): void {
    const links = this.#exported.get(producerId);
    if (links === undefined) return;
    if (links > 1) {
      this.#exported.set(producerId, links - 1);
      return;
    }
    this.#exported.delete(producerId);
    this.#demandChanged(producerId);
  }

  /**
   * Shows (or updates) a participant served by another node: local peers hear `peerJoined`
   * and auto-subscribers get consumers of its publications. A participant with a session on
   * this node is not shown (its session here stays until it leaves: a client moving to another
   * node leaves the old one itself); of sessions on two other nodes the newer one shows, the
   * older is dropped. Resolves false when not shown (the cascade shows it again when the local
   * session leaves). Queued.
   */
  upsertRemote(link: string, peer: RemotePeerInput): Promise<boolean> {
    return this.#run(async () => {
      const current = this.#participants.get(peer.participantId);
      if (current && current.participant.remoteLink === link && current.participant.joinedAtMs === peer.joinedAtMs) {
        for (const publication of peer.publications) {
          if (current.participant.publications.has(publication.producer.id)) continue;
          this.#keepPublication(current.participant, publication);
          await this.#announceRemotePublication(current.participant, publication);
        }
        return true;
      }
      // A session of this node stays while it lasts (a client moving nodes leaves it itself);
      // of two other nodes' sessions the newer one shows.
      if (current && (current.participant.remoteLink === undefined || current.participant.joinedAtMs >= peer.joinedAtMs)) return false;
      if (current) this.#remove(current.participant, 'replaced', false);
      const participant = new Participant({
        id: peer.participantId,
        displayName: peer.displayName,
        rtpCapabilities: this.#routers.primary.lease.router.rtpCapabilities,
        autoSubscribe: false,
        remoteLink: link,
        joinedAtMs: peer.joinedAtMs,
        logger: this.#logger.child({ participantId: peer.participantId, remoteLink: link }),
      });
      this.#homes.set(participant, this.#routers.primary);
      this.#participants.set(participant.id, { participant, handle: new ParticipantHandle(this.id, participant, [], this.#ctx) });
      for (const publication of peer.publications) this.#keepPublication(participant, publication);
      const info = participant.info();
      for (const entry of this.#participants.values()) {
        if (entry.participant !== participant) entry.handle.safeEmit('peerJoined', info);
      }
      participant.logger.info('participant of another node shown', { publications: peer.publications.length });
      for (const publication of peer.publications) await this.#announceRemotePublication(participant, publication);
      if (current && current.participant.remoteLink === undefined && this.participantCount === 0) this.safeEmit('empty');
      return true;
    });
  }

  /** Removes the participant shown through `link` (it left its node), or all of them (the link closed). Queued. */
  removeRemote(link: string, participantId?: string): Promise<void> {
    return this.#run(() => {
      for (const { participant } of [...this.#participants.values()]) {
        if (participant.remoteLink === link && (participantId === undefined || participant.id === participantId)) this.#remove(participant, 'left');
      }
    });
  }

  /** Records a remote publication; it is forgotten when its pipe producer closes. */
  #keepPublication(participant: Participant, publication: Publication): void {
    participant.publications.set(publication.producer.id, publication);
    publication.producer.observer.once('close', () => participant.removePublication(publication.producer.id));
  }

  /** Feeds a remote publication to the active-speaker observer and to the auto-subscribers. */
  async #announceRemotePublication(participant: Participant, publication: Publication): Promise<void> {
    if (publication.producer.closed) return;
    if (publication.producer.kind === 'audio') {
      await this.#routers
        .observeAudio(publication.producer, this.#routers.primary)
        .catch((error: unknown) => participant.logger.warn('active speaker observer refused a remote producer', { error }));
    }
    await this.#published(participant, publication);
  }

  /** Snapshot of participants and their media ids. */
  dump(): ConferenceDump {
    return {
      id: this.id,
      routerId: this.#routers.primary.lease.router.id,
      routers: this.#routers.summaries(),
      closed: this.#closed,
      participants: [...this.#participants.values()].map(({ participant: p }) => ({
        id: p.id,
        displayName: p.displayName,
        slotIndex: this.#homes.get(p)?.lease.slotIndex ?? null,
        ...(p.remoteLink !== undefined ? { remoteLink: p.remoteLink } : {}),
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
    const participants = [...this.#participants.values()].map((entry) => entry.participant);
    return demandOf(participants, producerId, this.#exported.has(producerId));
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
    this.#homes.clear();
    this.#routers.close();
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
      const home = this.#homes.get(participant);
      if (!home || home.lease.router.closed) throw new InvalidStateError('media router restarting, reconnect requested');
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
    const home = this.#homes.get(participant);
    this.#homes.delete(participant);
    const local = participant.remoteLink === undefined;
    // A remote participant is shown on the primary without being homed there.
    if (home && local) this.#routers.release(home);
    entry.handle.conferenceClosed(reason);
    for (const peer of this.#participants.values()) peer.handle.safeEmit('peerLeft', participant.id);
    participant.logger.info(local ? 'participant left' : 'participant of another node gone', { reason, participants: this.#participants.size });
    if (!local) return;
    this.observer.safeEmit('participantLeft', participant.id, participant.edge);
    this.observer.safeEmit('localChanged');
    if (emitEmpty && this.participantCount === 0 && !this.#closed) this.safeEmit('empty');
  }

  async #published(publisher: Participant, publication: Publication): Promise<void> {
    if (publisher.remoteLink === undefined) this.observer.safeEmit('localChanged');
    for (const { participant: peer } of this.#participants.values()) {
      if (peer !== publisher && peer.autoSubscribe && peer.recvTransport) {
        await subscribe(this.#subscribeCtx, peer, publisher, publication).catch((error: unknown) =>
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
      return subscribe(this.#subscribeCtx, subscriber, publisher, publication, false);
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
        await subscribe(this.#subscribeCtx, subscriber, publisher, publication).catch((error: unknown) =>
          subscriber.logger.debug('not subscribed', { producerId: publication.producer.id, error }),
        );
      }
    }
  }

  /** The router a current participant is homed on; INVALID_STATE while it moves after a worker death. */
  #homeOf(participant: Participant): RouterEntry {
    const home = this.#homes.get(participant);
    if (!home || home.lease.router.closed) throw new InvalidStateError('media router restarting, reconnect requested');
    return home;
  }

  #dominantSpeaker(producer: Producer): void {
    const participantId = ((producer.appData as { participantId?: string }).participantId ?? null) as ParticipantId | null;
    for (const { handle } of this.#participants.values()) handle.safeEmit('activeSpeaker', participantId);
  }

  /** A router died with its worker: its participants (and the speaker observer, if it was primary) move. */
  #routerLost(entry: RouterEntry): void {
    if (this.#closed) return;
    this.#logger.warn('a router of the conference closed under it (worker died); rebuilding what lived there', {
      slot: entry.lease.slotIndex,
      participants: entry.homed,
      primary: entry === this.#routers.primary,
    });
    this.#scheduleRebuild();
  }

  #scheduleRebuild(): void {
    if (this.#rebuilding || this.#closed) return;
    this.#rebuilding = true;
    this.#run(() => this.#rebuild())
      .catch((error: unknown) => this.#logger.debug('rebuild task not run', { error }))
      .finally(() => {
        this.#rebuilding = false;
        // A router may have died while this rebuild ran: go again (bounded by the pool's live workers).
        if (this.routerLost) this.#scheduleRebuild();
      });
  }

  /**
   * Moves what lived on dead routers, trying up to maxRebuildAttempts times (each router
   * is placed by the pool on a live worker, so a worker that dies during the rebuild is
   * not tried again): a new primary with a new active-speaker observer (re-fed with every
   * audio producer) if the primary died, and a new home for every participant homed on a
   * dead router, which then gets `mediaReset`. Participants on surviving routers keep
   * their media; they only lose the consumers of producers that died. If every attempt
   * fails the conference closes with `router-lost`, which every handle hears.
   */
  async #rebuild(): Promise<void> {
    const attempts = this.#options.maxRebuildAttempts ?? DEFAULT_MAX_REBUILD_ATTEMPTS;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#closed || !this.routerLost) return;
      try {
        if (this.#routers.primary.lease.router.closed) {
          await this.#routers.replacePrimary();
          for (const { participant } of this.#participants.values()) {
            const home = this.#homes.get(participant);
            if (!home || home.lease.router.closed) continue;
            for (const { producer } of participant.publications.values()) {
              if (producer.kind !== 'audio') continue;
              await this.#routers
                .observeAudio(producer, home)
                .catch((error: unknown) => participant.logger.warn('active speaker observer refused producer', { error }));
            }
          }
        }
        let moved = 0;
        for (const { participant, handle } of [...this.#participants.values()]) {
          const home = this.#homes.get(participant);
          if (home && !home.lease.router.closed) continue;
          if (participant.remoteLink !== undefined) {
            // Its pipe died with the router; the cascade links it again and shows it anew.
            this.#remove(participant, 'router-lost');
            continue;
          }
          this.#homes.delete(participant);
          const next = await this.#routers.place();
          if (this.#closed || participant.closed) {
            this.#routers.release(next);
            continue;
          }
          this.#homes.set(participant, next);
          participant.forgetMedia();
          handle.safeEmit('mediaReset', 'worker-restarted');
          moved++;
        }
        this.#logger.warn('conference rebuilt after a worker death', {
          participants: this.#participants.size,
          moved,
          routers: this.#routers.entries().length,
          attempt,
        });
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
