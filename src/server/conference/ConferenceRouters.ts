// The routers of one conference, at most one per worker: where a new participant is
// placed (by the measured load of the workers: consumers and CPU, not router counts),
// the pipes that carry a producer from its publisher's router to the routers where
// its subscribers are (mediasoup pipeToRouter, one pipe per producer and router), and
// the active-speaker observer, which lives on the primary router and gets every
// audio producer (piped there when it was published elsewhere).
//
// This class only holds and wires routers; the Conference decides when to call it
// and runs every call inside its queue. It never closes the conference: a router
// that dies is reported through `onRouterLost` and the Conference rebuilds what
// lived on it.

import { InvalidStateError } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { RouterLease } from '../media/WorkerPool.ts';
import { withMediaTimeout } from '../media/timeout.ts';
import type { ActiveSpeakerObserver, Producer, Router } from '../media/types.ts';

/** Load of one worker slot, as placement reads it. */
export interface SlotLoadView {
  readonly slotIndex: number;
  /** Consumers the worker carries (all conferences). */
  readonly consumers: number;
  /** Smoothed CPU share of one core, 0-1; undefined while unknown. */
  readonly cpu: number | undefined;
  /** Missed a request deadline recently. */
  readonly suspect: boolean;
}

/** What a conference needs from the worker pool to place routers. */
export interface RouterPlacement {
  /** Live worker slots and their load. */
  slots(): readonly SlotLoadView[];
  /** A router on `slotIndex` if given and live, else on the pool's choice. */
  createRouter(slotIndex?: number): Promise<RouterLease>;
}

/** When a conference takes a router on another worker (see README, "Across workers"). */
export interface SpreadOptions {
  /** A worker at or above this many consumers counts as full for placement. 0 = never spread. */
  readonly consumersPerWorker: number;
  /** A worker at or above this CPU share (0-1) counts as full for placement. */
  readonly workerLoad: number;
}

/** One router of the conference. */
export interface RouterEntry {
  readonly lease: RouterLease;
  /** Participants whose transports live on this router. */
  homed: number;
  /** Pipe transports currently open on this router. */
  pipeTransports: number;
}

/** Summary of one router for dumps. */
export interface RouterSummary {
  routerId: string;
  slotIndex: number;
  participants: number;
  pipeTransports: number;
  primary: boolean;
}

/** Options of ConferenceRouters.create(). */
export interface ConferenceRoutersOptions {
  readonly placement: RouterPlacement;
  readonly spread: SpreadOptions;
  readonly activeSpeakerIntervalMs: number;
  readonly logger: Logger;
  /** A router closed under the conference (its worker died). */
  readonly onRouterLost: (entry: RouterEntry) => void;
  /** The active-speaker observer of the primary router chose a speaker. */
  readonly onDominantSpeaker: (producer: Producer) => void;
}

/** Placement score of a slot: 1 means full; the larger of the consumer and CPU shares. */
export function placementScore(slot: SlotLoadView, spread: SpreadOptions): number {
  const byConsumers = spread.consumersPerWorker > 0 ? slot.consumers / spread.consumersPerWorker : 0;
  const byCpu = slot.cpu !== undefined && spread.workerLoad > 0 ? slot.cpu / spread.workerLoad : 0;
  return Math.max(byConsumers, byCpu) + (slot.suspect ? 10 : 0);
}

/**
 * Chooses where a new participant goes: the conference's least-loaded router while it
 * is below full, else the least-loaded live worker if that is less loaded than every
 * router the conference has (a new router there), else the conference's least-loaded
 * router anyway (more routers would only add pipes). Spreading off: always the primary.
 * Returns a slot index and whether the conference already has a router there.
 */
export function choosePlacement(
  own: readonly number[],
  slots: readonly SlotLoadView[],
  spread: SpreadOptions,
): { slotIndex: number; existing: boolean } | undefined {
  const score = new Map(slots.map((slot) => [slot.slotIndex, placementScore(slot, spread)]));
  const ownLive = own.filter((index) => score.has(index));
  const bestOwn = ownLive.reduce<number | undefined>(
    (best, index) => (best === undefined || score.get(index)! < score.get(best)! ? index : best),
    undefined,
  );
  if (spread.consumersPerWorker <= 0 && bestOwn !== undefined) {
    return { slotIndex: own[0] !== undefined && score.has(own[0]) ? own[0] : bestOwn, existing: true };
  }
  if (bestOwn !== undefined && score.get(bestOwn)! < 1) return { slotIndex: bestOwn, existing: true };
  const others = slots.filter((slot) => !own.includes(slot.slotIndex));
  const bestOther = others.reduce<SlotLoadView | undefined>(
    (best, slot) => (best === undefined || score.get(slot.slotIndex)! < score.get(best.slotIndex)! ? slot : best),
    undefined,
  );
  if (bestOther && (bestOwn === undefined || score.get(bestOther.slotIndex)! < score.get(bestOwn)!)) {
    return { slotIndex: bestOther.slotIndex, existing: false };
  }
  return bestOwn === undefined ? undefined : { slotIndex: bestOwn, existing: true };
}

/**
 * The worker a new conference should start on: the one with the lowest placement score,
 * or undefined when the lowest score is shared (the pool then spreads conferences by
 * router count, round-robin), so idle workers take new conferences in turn.
 */
export function firstRouterSlot(slots: readonly SlotLoadView[], spread: SpreadOptions): number | undefined {
  const scored = slots.map((slot) => ({ slotIndex: slot.slotIndex, score: placementScore(slot, spread) })).sort((a, b) => a.score - b.score);
  const [best, second] = scored;
  if (!best) return undefined;
  return second && second.score === best.score ? undefined : best.slotIndex;
}

/** The routers of one conference (see the header comment). */
export class ConferenceRouters {
  readonly #options: ConferenceRoutersOptions;
  readonly #entries = new Map<number, RouterEntry>();
  /** Producer id → routers (ids) it was piped to, each as the pending or done pipe. */
  readonly #pipes = new Map<string, Map<string, Promise<void>>>();
  /** Audio producers the current observer knows (ids), so a new observer can be refilled. */
  readonly #observedAudio = new Set<string>();
  #primary: RouterEntry;
  #speaker: ActiveSpeakerObserver;
  #closed = false;

  /** Creates the primary router (placed by load) and its active-speaker observer. */
  static async create(options: ConferenceRoutersOptions): Promise<ConferenceRouters> {
    const lease = await options.placement.createRouter(firstRouterSlot(options.placement.slots(), options.spread));
    let speaker: ActiveSpeakerObserver;
    try {
      speaker = await ConferenceRouters.#newSpeaker(lease, options.activeSpeakerIntervalMs);
    } catch (error) {
      lease.router.close();
      throw error;
    }
    return new ConferenceRouters(options, lease, speaker);
  }

  static async #newSpeaker(lease: RouterLease, intervalMs: number): Promise<ActiveSpeakerObserver> {
    const speaker = await withMediaTimeout(
      'router.createActiveSpeakerObserver',
      lease.router.createActiveSpeakerObserver({ interval: intervalMs }),
      lease.requestTimeoutMs,
    );
    if (lease.router.closed) throw new InvalidStateError('router closed while it was being set up');
    return speaker;
  }

  private constructor(options: ConferenceRoutersOptions, lease: RouterLease, speaker: ActiveSpeakerObserver) {
    this.#options = options;
    this.#primary = this.#add(lease);
    this.#speaker = speaker;
    this.#watchSpeaker(speaker);
  }

  /** The router holding the active-speaker observer. */
  get primary(): RouterEntry {
    return this.#primary;
  }

  /** Live routers of the conference. */
  entries(): RouterEntry[] {
    return [...this.#entries.values()];
  }

  /** Worker slots the conference uses. */
  slotIndexes(): number[] {
    return [...this.#entries.keys()];
  }

  summaries(): RouterSummary[] {
    return this.entries().map((entry) => ({
      routerId: entry.lease.router.id,
      slotIndex: entry.lease.slotIndex,
      participants: entry.homed,
      pipeTransports: entry.pipeTransports,
      primary: entry === this.#primary,
    }));
  }

  /**
   * The router a new participant is homed on (its transports, producers and consumers
   * live there), creating one on another worker when placement says so. A router that
   * cannot be created there falls back to the conference's least-loaded router.
   */
  async place(): Promise<RouterEntry> {
    this.#assertOpen();
    const choice = choosePlacement(this.slotIndexes(), this.#options.placement.slots(), this.#options.spread);
    if (choice?.existing) {
      const entry = this.#entries.get(choice.slotIndex);
      if (entry && !entry.lease.router.closed) return this.#home(entry);
    }
    if (choice && !choice.existing) {
      try {
        const lease = await this.#options.placement.createRouter(choice.slotIndex);
        if (this.#closed) {
          lease.router.close();
          throw new InvalidStateError('conference is closed');
        }
        const already = this.#entries.get(lease.slotIndex);
        if (already) {
          // The pool placed it on a worker we use already (the chosen one was gone).
          lease.router.close();
          return this.#home(already);
        }
        this.#options.logger.info('conference spreads to another worker', { slot: lease.slotIndex, routers: this.#entries.size + 1 });
        return this.#home(this.#add(lease));
      } catch (error) {
        if (this.#closed) throw error;
        this.#options.logger.warn('could not add a router on another worker; placing on an existing one', { error });
      }
    }
    const fallback = this.entries()
      .filter((entry) => !entry.lease.router.closed)
      .sort((a, b) => a.homed - b.homed)[0];
    if (!fallback) throw new InvalidStateError('media router restarting, reconnect requested');
    return this.#home(fallback);
  }

  /** A participant homed on `entry` left; a non-primary router nobody is homed on closes. */
  release(entry: RouterEntry): void {
    entry.homed = Math.max(0, entry.homed - 1);
    if (entry.homed === 0 && entry !== this.#primary && this.#entries.get(entry.lease.slotIndex) === entry) {
      this.#entries.delete(entry.lease.slotIndex);
      entry.lease.router.close();
      this.#options.logger.info('router without participants closed', { slot: entry.lease.slotIndex, routers: this.#entries.size });
    }
  }

  /**
   * Makes `producer` (living on `from`) consumable on `to`: pipes it once per router,
   * bounded in time; concurrent callers share the pending pipe.
   */
  pipe(producer: Producer, from: RouterEntry, to: RouterEntry): Promise<void> {
    if (from === to) return Promise.resolve();
    const toRouter = to.lease.router;
    let byRouter = this.#pipes.get(producer.id);
    const pending = byRouter?.get(toRouter.id);
    if (pending) return pending;
    if (!byRouter) {
      byRouter = new Map();
      this.#pipes.set(producer.id, byRouter);
      producer.observer.once('close', () => this.#pipes.delete(producer.id));
    }
    const forget = (): void => {
      this.#pipes.get(producer.id)?.delete(toRouter.id);
    };
    const piped = withMediaTimeout(
      'router.pipeToRouter',
      from.lease.router.pipeToRouter({ producerId: producer.id, router: toRouter }),
      // pipeToRouter is several requests (two transports on first use, connect, consume, produce).
      from.lease.requestTimeoutMs * 2,
      (late) => {
        late.pipeConsumer?.close();
        late.pipeProducer?.close();
      },
    ).then(
      (result) => {
        // The piped producer closes when its source closes (mediasoup closes the pair);
        // forget the pipe then, so a later subscriber pipes anew if the id returns.
        result.pipeProducer?.observer.once('close', forget);
      },
      (error: unknown) => {
        forget();
        throw error;
      },
    );
    byRouter.set(toRouter.id, piped);
    return piped;
  }

  /** Adds an audio producer (homed on `from`) to the active-speaker observer, piping it to the primary first. */
  async observeAudio(producer: Producer, from: RouterEntry): Promise<void> {
    const primary = this.#primary;
    await this.pipe(producer, from, primary);
    if (this.#primary !== primary || primary.lease.router.closed) return;
    await withMediaTimeout(
      'activeSpeakerObserver.addProducer',
      this.#speaker.addProducer({ producerId: producer.id }),
      primary.lease.requestTimeoutMs,
    );
    this.#observedAudio.add(producer.id);
    producer.observer.once('close', () => this.#observedAudio.delete(producer.id));
  }

  /**
   * After the primary router died: makes the least-loaded live router primary, or a new
   * router when none is left, with a new active-speaker observer. Returns the new primary;
   * the caller re-adds the audio producers (observeAudio).
   */
  async replacePrimary(): Promise<RouterEntry> {
    this.#assertOpen();
    if (!this.#primary.lease.router.closed) return this.#primary;
    let entry = this.entries()
      .filter((candidate) => !candidate.lease.router.closed)
      .sort((a, b) => b.homed - a.homed)[0];
    if (!entry) {
      const lease = await this.#options.placement.createRouter(firstRouterSlot(this.#options.placement.slots(), this.#options.spread));
      if (this.#closed) {
        lease.router.close();
        throw new InvalidStateError('conference is closed');
      }
      entry = this.#entries.get(lease.slotIndex) ?? this.#add(lease);
      if (entry.lease !== lease) lease.router.close();
    }
    const speaker = await ConferenceRouters.#newSpeaker(entry.lease, this.#options.activeSpeakerIntervalMs);
    this.#primary = entry;
    this.#speaker = speaker;
    this.#observedAudio.clear();
    this.#watchSpeaker(speaker);
    this.#options.logger.warn('conference primary router moved', { slot: entry.lease.slotIndex });
    return entry;
  }

  /** Closes every router (pipes and observer close with them). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) entry.lease.router.close();
    this.#entries.clear();
    this.#pipes.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidStateError('conference is closed');
  }

  #home(entry: RouterEntry): RouterEntry {
    entry.homed++;
    return entry;
  }

  #add(lease: RouterLease): RouterEntry {
    const entry: RouterEntry = { lease, homed: 0, pipeTransports: 0 };
    this.#entries.set(lease.slotIndex, entry);
    const router: Router = lease.router;
    router.observer.on('newtransport', (transport) => {
      if (transport.type !== 'pipe') return;
      entry.pipeTransports++;
      transport.observer.once('close', () => entry.pipeTransports--);
    });
    router.observer.once('close', () => {
      if (this.#entries.get(lease.slotIndex) === entry) this.#entries.delete(lease.slotIndex);
      if (this.#closed) return;
      if (entry.homed > 0 || entry === this.#primary) this.#options.onRouterLost(entry);
    });
    return entry;
  }

  #watchSpeaker(speaker: ActiveSpeakerObserver): void {
    speaker.on('dominantspeaker', ({ producer }) => {
      if (speaker === this.#speaker) this.#options.onDominantSpeaker(producer);
    });
  }
}
