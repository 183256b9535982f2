// MembershipView over a CallStateIndex: answers admission checks and evicts
// watched sessions as soon as a state change (or an expiry timer) ends their
// membership, after a short grace when the membership was only emptied or
// expired (the client may restore it: homeserver outages fire delayed leaves).
// Timers (one expiry timer per room, one grace timer per watch in grace) are
// owned here and cleared in close().

import type { EvictionReason } from '../auth/Admission.ts';
import type { MembershipCheck, MembershipRole, MembershipView } from '../auth/types.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { CallStateIndex, type EventSource, type OurFocus } from './CallStateIndex.ts';
import { CallMembershipParseError } from './errors.ts';

interface Watch {
  readonly userId: string;
  readonly deviceId: string;
  /** The membership the session stands on; replaced when the client restores it in grace. */
  membershipId: string;
  readonly onEnd: (reason: EvictionReason) => void;
  readonly role: MembershipRole;
  /** Set while in grace: when the grace runs out, and why the membership ended. */
  grace: { readonly untilMs: number; readonly reason: EvictionReason; readonly timer: NodeJS.Timeout } | undefined;
}

/** Reasons a connected session gets grace for: the membership was emptied or ran out, nothing more. */
const GRACE_REASONS: ReadonlySet<EvictionReason> = new Set(['membership-ended', 'membership-expired']);

/** Outcome of a grace period (metrics). */
export type GraceOutcome = 'restored' | 'expired';

/** Options of MembershipWatcher. */
export interface MembershipWatcherOptions {
  readonly focus: OurFocus;
  readonly logger: Logger;
  /** Clock in ms (tests). */
  readonly now?: () => number;
  /** Metrics hook: an eviction happened. */
  readonly onEviction?: (reason: EvictionReason) => void;
  /** Metrics hook: a grace period ended. */
  readonly onGrace?: (outcome: GraceOutcome) => void;
  /**
   * Grace for `membership-ended` / `membership-expired` (config matrix.membershipGraceMs).
   * Default 0: evict at once.
   */
  readonly graceMs?: number;
}

/** Tracks room/call membership and evicts sessions whose membership ended. */
export class MembershipWatcher implements MembershipView {
  readonly index: CallStateIndex;
  readonly #watches = new Map<string, Set<Watch>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #options: MembershipWatcherOptions;
  #closed = false;

  constructor(options: MembershipWatcherOptions) {
    this.index = new CallStateIndex(options.focus);
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#log = options.logger.child({ component: 'matrix' });
  }

  check(roomId: string, userId: string, deviceId: string): MembershipCheck {
    return this.index.check(roomId, userId, deviceId, this.#now());
  }

  checkSubscriber(roomId: string, userId: string, deviceId: string): MembershipCheck {
    return this.index.checkSubscriber(roomId, userId, deviceId, this.#now());
  }

  watch(
    roomId: string,
    userId: string,
    deviceId: string,
    membershipId: string,
    onEnd: (reason: EvictionReason) => void,
    role: MembershipRole = 'publisher',
  ): () => void {
    const watch: Watch = { userId, deviceId, membershipId, onEnd, role, grace: undefined };
    const set = this.#watches.get(roomId) ?? new Set<Watch>();
    set.add(watch);
    this.#watches.set(roomId, set);
    // The membership may have ended between the admission check and now.
    this.#evaluate(roomId);
    return () => {
      if (watch.grace) clearTimeout(watch.grace.timer);
      watch.grace = undefined;
      set.delete(watch);
      if (set.size === 0 && this.#watches.get(roomId) === set) this.#watches.delete(roomId);
    };
  }

  /** Rooms with at least one watched session (the reconciliation backstop reads these). */
  watchedRoomIds(): string[] {
    return [...this.#watches.keys()];
  }

  /** Feeds events of one room (state events and redactions, from sync), then evicts whoever lost their membership. */
  ingest(roomId: string, events: readonly unknown[], source: EventSource = 'live'): void {
    for (const raw of events) {
      try {
        this.index.ingest(roomId, raw, source);
      } catch (error) {
        if (!(error instanceof CallMembershipParseError)) throw error;
        const sender = (raw as { sender?: unknown }).sender;
        this.#log.warn('call membership refused', { roomId, sender, faults: error.faults });
      }
    }
    this.#evaluate(roomId);
  }

  /** Applies a `/state` snapshot fetched at `generationAtFetch` (CallStateIndex.applySnapshot), then re-evaluates. */
  applySnapshot(roomId: string, events: readonly unknown[], generationAtFetch: number): void {
    for (const faults of this.index.applySnapshot(roomId, events, generationAtFetch)) {
      this.#log.debug('call membership in state snapshot refused', { roomId, faults });
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
    for (const set of this.#watches.values()) for (const watch of set) if (watch.grace) clearTimeout(watch.grace.timer);
    this.#watches.clear();
  }

  #evaluate(roomId: string): void {
    if (this.#closed) return;
    const now = this.#now();
    const set = this.#watches.get(roomId);
    for (const watch of [...(set ?? [])]) {
      const reason =
        watch.role === 'subscriber'
          ? this.index.subscriberEndReason(roomId, watch.userId, watch.deviceId, watch.membershipId, now)
          : this.index.endReason(roomId, watch.userId, watch.deviceId, watch.membershipId, now);
      if (reason === undefined) {
        if (watch.grace) this.#endGrace(roomId, watch, 'restored');
        continue;
      }
      if (GRACE_REASONS.has(reason) && (this.#options.graceMs ?? 0) > 0) {
        // A new live membership of the same user and device naming us: the client restored it.
        const check =
          watch.role === 'subscriber'
            ? this.index.checkSubscriber(roomId, watch.userId, watch.deviceId, now)
            : this.index.check(roomId, watch.userId, watch.deviceId, now);
        if (check.ok) {
          if (check.membershipId !== watch.membershipId) {
            this.#log.info('membership replaced; session kept', { roomId, userId: watch.userId, deviceId: watch.deviceId });
            watch.membershipId = check.membershipId;
          }
          if (watch.grace) this.#endGrace(roomId, watch, 'restored');
          continue;
        }
        if (!watch.grace) {
          this.#startGrace(roomId, watch, reason, now);
          continue;
        }
        if (now < watch.grace.untilMs) continue;
      }
      const finalReason = watch.grace && GRACE_REASONS.has(reason) ? watch.grace.reason : reason;
      if (watch.grace) this.#endGrace(roomId, watch, 'expired');
      set!.delete(watch);
      this.#log.info('membership ended', { roomId, userId: watch.userId, deviceId: watch.deviceId, reason: finalReason });
      this.#options.onEviction?.(finalReason);
      try {
        watch.onEnd(finalReason);
      } catch (error) {
        this.#log.warn('eviction callback threw', { error });
      }
    }
    if (set && set.size === 0) this.#watches.delete(roomId);
    this.#armExpiryTimer(roomId, now);
  }

  #startGrace(roomId: string, watch: Watch, reason: EvictionReason, now: number): void {
    const graceMs = this.#options.graceMs ?? 0;
    const timer = setTimeout(() => this.#evaluate(roomId), graceMs + 1);
    timer.unref();
    watch.grace = { untilMs: now + graceMs, reason, timer };
    this.#log.info('membership ended; grace for the client to restore it', { roomId, userId: watch.userId, deviceId: watch.deviceId, reason, graceMs });
  }

  #endGrace(roomId: string, watch: Watch, outcome: GraceOutcome): void {
    if (!watch.grace) return;
    clearTimeout(watch.grace.timer);
    watch.grace = undefined;
    if (outcome === 'restored') this.#log.info('membership restored within grace', { roomId, userId: watch.userId, deviceId: watch.deviceId });
    this.#options.onGrace?.(outcome);
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
