// The backstop behind the sync: re-reads `GET /rooms/{id}/state` of rooms with watched
// sessions and applies it to the MembershipWatcher, so a state change the sync did not
// deliver as such (a redaction pushed out of a limited timeline, a gap) still ends a
// session. Bounded: one fetch at a time, at most `maxRoomsPerRun` rooms per run, each fetch
// with a timeout; runs every `intervalMs` jittered by ±20 % so nodes do not synchronise.
// A room can also be queued at once (a limited sync reset its timeline).

import type { Logger } from '../../common/lib/logger.ts';
import type { MembershipWatcher } from './MembershipWatcher.ts';

/** Options of Reconciler. */
export interface ReconcilerOptions {
  readonly watcher: Pick<MembershipWatcher, 'watchedRoomIds' | 'applySnapshot' | 'index'>;
  /** Fetches the room's current state events (`GET /rooms/{id}/state`). */
  readonly fetchState: (roomId: string) => Promise<unknown[]>;
  /** Period; 0 = no periodic runs (reconcileSoon() still works). */
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Rooms per periodic run; the rest wait for the next run (oldest-reconciled first). Default 50. */
  readonly maxRoomsPerRun?: number;
  /** Random source in [0, 1) for the jitter (tests). */
  readonly random?: () => number;
}

/** Periodic and on-demand reconciliation of watched rooms against `/state`. */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #log: Logger;
  readonly #queue = new Set<string>();
  readonly #lastRunAt = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #runs = 0;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'matrix' });
    this.#schedule();
  }

  /** Completed fetches (tests, logs). */
  get runs(): number {
    return this.#runs;
  }

  /** Queues `roomId` for a fetch as soon as the current one is done (if the room has sessions). */
  reconcileSoon(roomId: string): void {
    if (this.#stopped || !this.#options.watcher.watchedRoomIds().includes(roomId)) return;
    this.#queue.add(roomId);
    this.#drain();
  }

  /** Runs one periodic pass now; resolves when the queue is empty (tests). */
  async runOnce(): Promise<void> {
    const watched = this.#options.watcher.watchedRoomIds();
    for (const room of this.#lastRunAt.keys()) if (!watched.includes(room)) this.#lastRunAt.delete(room);
    const rooms = watched
      .sort((a, b) => (this.#lastRunAt.get(a) ?? 0) - (this.#lastRunAt.get(b) ?? 0))
      .slice(0, this.#options.maxRoomsPerRun ?? 50);
    for (const room of rooms) this.#queue.add(room);
    this.#drain();
    while (this.#running) await this.#running;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.clear();
  }

  #schedule(): void {
    if (this.#stopped || this.#options.intervalMs <= 0) return;
    const jitter = 0.8 + 0.4 * (this.#options.random ?? Math.random)();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.runOnce().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#log.warn('reconciliation pass failed', { error });
          this.#schedule();
        },
      );
    }, Math.round(this.#options.intervalMs * jitter));
    this.#timer.unref();
  }

  #drain(): void {
    if (this.#running || this.#stopped) return;
    this.#running = (async () => {
      while (!this.#stopped && this.#queue.size > 0) {
        const roomId = this.#queue.values().next().value as string;
        this.#queue.delete(roomId);
        await this.#reconcile(roomId);
      }
    })().finally(() => {
      this.#running = undefined;
    });
  }

  async #reconcile(roomId: string): Promise<void> {
    const { watcher } = this.#options;
    const generation = watcher.index.generation(roomId);
    this.#lastRunAt.set(roomId, Date.now());
    let events: unknown[];
    try {
      events = await this.#options.fetchState(roomId);
    } catch (error) {
      // The homeserver may be down; the next pass tries again. Sessions are never ended for this.
      this.#log.debug('room state fetch failed', { roomId, error });
      return;
    }
    if (this.#stopped) return;
    this.#runs++;
    if (!Array.isArray(events)) return;
    watcher.applySnapshot(roomId, events, generation);
  }
}
