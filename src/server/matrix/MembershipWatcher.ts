// MembershipView over a CallStateIndex: answers admission checks and evicts
// watched sessions as soon as a state change (or an expiry timer) ends their
// membership. One expiry timer per room, owned here and cleared in close().

import type { EvictionReason } from '../auth/Admission.ts';
import type { MembershipCheck, MembershipView } from '../auth/types.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { CallStateIndex, type OurFocus } from './CallStateIndex.ts';
import { CallMembershipParseError } from './errors.ts';

interface Watch {
  readonly userId: string;
  readonly deviceId: string;
  readonly membershipId: string;
  readonly onEnd: (reason: EvictionReason) => void;
}

/** Options of MembershipWatcher. */
export interface MembershipWatcherOptions {
  readonly focus: OurFocus;
  readonly logger: Logger;
  /** Clock in ms (tests). */
  readonly now?: () => number;
  /** Metrics hook: an eviction happened. */
  readonly onEviction?: (reason: EvictionReason) => void;
}

/** Tracks room/call membership and evicts sessions whose membership ended. */
export class MembershipWatcher implements MembershipView {
  readonly index: CallStateIndex;
  readonly #watches = new Map<string, Set<Watch>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #onEviction: ((reason: EvictionReason) => void) | undefined;
  #closed = false;

  constructor(options: MembershipWatcherOptions) {
    this.index = new CallStateIndex(options.focus);
    this.#now = options.now ?? (() => Date.now());
    this.#log = options.logger.child({ component: 'matrix' });
    this.#onEviction = options.onEviction;
  }

  check(roomId: string, userId: string, deviceId: string): MembershipCheck {
    return this.index.check(roomId, userId, deviceId, this.#now());
  }

  watch(roomId: string, userId: string, deviceId: string, membershipId: string, onEnd: (reason: EvictionReason) => void): () => void {
    const watch: Watch = { userId, deviceId, membershipId, onEnd };
    const set = this.#watches.get(roomId) ?? new Set<Watch>();
    set.add(watch);
    this.#watches.set(roomId, set);
    // The membership may have ended between the admission check and now.
    this.#evaluate(roomId);
    return () => {
      set.delete(watch);
      if (set.size === 0) this.#watches.delete(roomId);
    };
  }

  /** Feeds state events of one room (from sync), then evicts whoever lost their membership. */
  ingest(roomId: string, events: readonly unknown[]): void {
    for (const raw of events) {
      try {
        this.index.ingest(roomId, raw);
      } catch (error) {
        if (!(error instanceof CallMembershipParseError)) throw error;
        const sender = (raw as { sender?: unknown }).sender;
        this.#log.warn('call membership refused', { roomId, sender, faults: error.faults });
      }
    }
    this.#evaluate(roomId);
  }

  /** The SFU account left a room: everyone watched there is evicted. */
  dropRoom(roomId: string): void {
    this.index.dropRoom(roomId);
    this.#evaluate(roomId);
  }

  /** Clears timers and watches. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#watches.clear();
  }

  #evaluate(roomId: string): void {
    if (this.#closed) return;
    const now = this.#now();
    const set = this.#watches.get(roomId);
    for (const watch of [...(set ?? [])]) {
      const reason = this.index.endReason(roomId, watch.userId, watch.deviceId, watch.membershipId, now);
      if (reason === undefined) continue;
      set!.delete(watch);
      this.#log.info('membership ended', { roomId, userId: watch.userId, deviceId: watch.deviceId, reason });
      this.#onEviction?.(reason);
      try {
        watch.onEnd(reason);
      } catch (error) {
        this.#log.warn('eviction callback threw', { error });
      }
    }
    if (set && set.size === 0) this.#watches.delete(roomId);
    this.#armExpiryTimer(roomId, now);
  }

  #armExpiryTimer(roomId: string, now: number): void {
    const previous = this.#timers.get(roomId);
    if (previous) clearTimeout(previous);
    this.#timers.delete(roomId);
    if (!this.#watches.has(roomId)) return;
    const next = this.index.nextExpiryMs(roomId, now);
    if (next === undefined) return;
    // setTimeout caps at 2^31-1 ms; re-arming on fire handles longer waits.
    const delay = Math.min(next - now + 1, 2_147_000_000);
    const timer = setTimeout(() => {
      this.#timers.delete(roomId);
      this.#evaluate(roomId);
    }, delay);
    timer.unref();
    this.#timers.set(roomId, timer);
  }
}
