// The registry of live conferences: serialised get-or-create (two first
// joiners cannot create two conferences), join with one retry when the
// conference closed under the joiner (its last participant left meanwhile),
// closing a conference when it becomes empty or idle, and admission control by worker
// load: a join is refused with OVERLOADED when a worker holding one of the conference's routers (or,
// for a new conference, every worker) is at or above media.maxWorkerLoad.

import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { InvalidStateError, SfuError } from '../../common/lib/errors.ts';
import type { ConferenceId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { WorkerPool } from '../media/WorkerPool.ts';
import { Conference } from './Conference.ts';
import type { ParticipantHandle } from './ParticipantHandle.ts';
import type { ConferenceOptions, JoinInput } from './types.ts';

/** Options of the registry. */
export interface ConferenceRegistryOptions {
  readonly pool: WorkerPool;
  readonly conference: Omit<ConferenceOptions, 'id' | 'logger'>;
  /** A conference nobody joined is closed after this long. Default 30 000 ms. */
  readonly idleCloseMs?: number;
  readonly logger: Logger;
  /** Worker load for admission control (WorkerLoadMonitor); absent = no load check. */
  readonly load?: JoinLoadGate;
}

/** What admission control and placement ask about worker load. */
export interface JoinLoadGate {
  overloaded(slotIndex: number): boolean;
  allOverloaded(): boolean;
  /** Smoothed CPU share of one core of a worker; undefined while unknown. */
  load(slotIndex: number): number | undefined;
}

export type ConferenceRegistryObserverEvents = {
  conferenceCreated: [conference: Conference];
  conferenceClosed: [conference: Conference];
  /** A join was refused before reaching a conference: its worker (or every worker) is overloaded. */
  joinRefused: [reason: 'worker-overloaded'];
};

/** Owns every Conference of this node. */
export class ConferenceRegistry {
  readonly observer = new TypedEmitter<ConferenceRegistryObserverEvents>();
  readonly #conferences = new Map<ConferenceId, Conference>();
  readonly #idleTimers = new Map<ConferenceId, NodeJS.Timeout>();
  readonly #queue = new AsyncQueue('conference registry');
  readonly #options: ConferenceRegistryOptions;
  readonly #logger: Logger;
  #closed = false;

  constructor(options: ConferenceRegistryOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'registry' });
    // Conferences rebuild themselves when their router dies (Conference watches it);
    // a lost slot only means fewer workers to place routers on.
    options.pool.on('workerLost', (slotIndex) => {
      this.#logger.error('mediasoup worker slot lost; conferences move to the remaining workers', { slot: slotIndex });
    });
  }

  get size(): number {
    return this.#conferences.size;
  }

  /** Live conferences. */
  list(): Conference[] {
    return [...this.#conferences.values()];
  }

  get(id: ConferenceId): Conference | undefined {
    return this.#conferences.get(id);
  }

  /** Returns the live conference with this id, creating it (once) if needed. */
  getOrCreate(id: ConferenceId): Promise<Conference> {
    const existing = this.#conferences.get(id);
    if (existing && !existing.closed) return Promise.resolve(existing);
    if (this.#closed) return Promise.reject(new InvalidStateError('registry is closed', 'DRAINING'));
    return this.#queue.push(async () => {
      const again = this.#conferences.get(id);
      if (again && !again.closed) return again;
      const { pool, load } = this.#options;
      const conference = await Conference.create(
        { ...this.#options.conference, id, logger: this.#options.logger },
        {
          slots: () =>
            pool.slots.map((slot) => {
              const counted = pool.load(slot.index);
              return { slotIndex: slot.index, consumers: counted?.consumers ?? 0, suspect: counted?.suspect ?? false, cpu: load?.load(slot.index) };
            }),
          createRouter: (slotIndex) => pool.createRouter(slotIndex),
        },
      );
      this.#conferences.set(id, conference);
      conference.on('empty', () => this.#remove(conference));
      conference.on('closed', () => this.#forget(conference));
      this.#armIdleTimer(conference);
      this.observer.safeEmit('conferenceCreated', conference);
      return conference;
    });
  }

  /**
   * Joins conference `id`, creating it if needed. A join that lands in a
   * conference which closed meanwhile (queued behind its last leave) is
   * retried once on a fresh conference, so no edge ever holds a handle of a
   * closed conference. `attach` as in Conference.join().
   */
  async join(id: ConferenceId, input: JoinInput, attach?: (handle: ParticipantHandle) => void): Promise<ParticipantHandle> {
    for (let attempt = 1; ; attempt++) {
      this.#admitByLoad(id, input.participantId);
      const conference = await this.getOrCreate(id);
      try {
        return await conference.join(input, attach);
      } catch (error) {
        if (!conference.closed || attempt >= 2) throw error;
        this.#logger.debug('conference closed under a joiner; joining a fresh one', { conferenceId: id });
      }
    }
  }

  /**
   * Refuses a join (OVERLOADED) when a worker the live conference `id` has a router on is
   * overloaded (a newcomer adds consumers on every one of them: its peers receive it where
   * they are homed), or, when `id` has no live conference yet, when every worker is. A
   * participant already in the conference (a new session replacing its old one) is always
   * let through.
   */
  #admitByLoad(id: ConferenceId, participantId: string): void {
    const gate = this.#options.load;
    if (!gate) return;
    const existing = this.#conferences.get(id);
    const refuse = existing && !existing.closed ? !existing.has(participantId) && existing.slotIndexes.some((slot) => gate.overloaded(slot)) : gate.allOverloaded();
    if (!refuse) return;
    this.observer.safeEmit('joinRefused', 'worker-overloaded');
    this.#logger.debug('join refused: media worker overloaded', { conferenceId: id });
    throw new SfuError('OVERLOADED', 'media worker overloaded');
  }

  /** Closes every conference (their participants' handles close with `conference-closed`). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    for (const conference of [...this.#conferences.values()]) conference.close();
  }

  #armIdleTimer(conference: Conference): void {
    const timer = setTimeout(() => {
      this.#idleTimers.delete(conference.id);
      if (conference.participantCount === 0) this.#remove(conference);
    }, this.#options.idleCloseMs ?? 30_000);
    timer.unref();
    this.#idleTimers.set(conference.id, timer);
  }

  #remove(conference: Conference): void {
    conference.close();
  }

  #forget(conference: Conference): void {
    if (this.#conferences.get(conference.id) === conference) this.#conferences.delete(conference.id);
    const timer = this.#idleTimers.get(conference.id);
    if (timer) clearTimeout(timer);
    this.#idleTimers.delete(conference.id);
    this.observer.safeEmit('conferenceClosed', conference);
  }
}
