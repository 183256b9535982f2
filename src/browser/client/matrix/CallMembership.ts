// This device's call membership, published the way matrix-js-sdk does it (delayed leave
// first, then the membership state event, then the delayed leave kept alive), and kept
// published for as long as the device is in the call:
//
// - A homeserver outage does not end it. The keep-alive retries with back-off (capped at the
//   restart period, so the first request after the homeserver returns comes quickly) and
//   never gives up while the call runs. If the outage outlived the delayed leave, the
//   homeserver sends that leave when it returns and our membership is emptied; the next
//   restart then answers 404 M_NOT_FOUND, and we schedule a fresh delayed leave and publish
//   the membership again (`restored`). Synapse forgets the delayed event a moment before the
//   emptied state is stored, so right after a 404 the state can still read live: we read it
//   back in this round and the next SUSPECT_ROUNDS - 1 rounds, SUSPECT_PERIOD_MS apart, and
//   publish as soon as it reads empty. After any failed round we also read our own state
//   event once the homeserver answers, and publish again if it is empty or expired.
// - Without delayed events (MSC4140) the same read runs every `checkEveryMs`.
// - `expires` is extended (created_ts kept) before it runs out, as js-sdk does.
//
// One round at a time (a timer chain, never an interval), and leave() waits for the round in
// flight, so there is never a second delayed leave or a membership written after leaving.

import { TypedEmitter } from '../../../common/lib/TypedEmitter.ts';
import { isRateLimited, isTransient, matrixRequest, MatrixRequestError, type MatrixSession } from './matrixHttp.ts';
import { backoffDelayMs } from './retry.ts';
import { preferredFoci, type SfuFocus } from './foci.ts';

/** Event type of call memberships. */
export const CALL_MEMBER_TYPE = 'org.matrix.msc3401.call.member';
/** `expires` of a fresh membership: 4 h, Element Call's. */
export const MEMBERSHIP_EXPIRES_MS = 14_400_000;
/** `expires` is extended when less than this is left. */
export const EXPIRY_HEADROOM_MS = 300_000;

export type { SfuFocus } from './foci.ts';

/** Why the membership was published again. */
export type RestoreReason =
  /** The homeserver sent our delayed leave (we could not restart it in time, e.g. it was down). */
  | 'delayed-leave-sent'
  /** Our state event was empty when we looked (after an outage, or without delayed events). */
  | 'emptied'
  /** Our state event had expired. */
  | 'expired';

/** Events of CallMembership. */
export type CallMembershipEvents = {
  /** The membership was found emptied or expired and is published again. */
  restored: [reason: RestoreReason];
  /** Keeping the membership alive failed; retrying (first failure of a run only). */
  degraded: [error: unknown];
  /** The homeserver answers again after `degraded`. */
  recovered: [];
};

/** Where CallMembership logs (the client's MembershipLogger fits; kept narrow so Node tests need no DOM types). */
export interface MembershipLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Options of CallMembership.join(). */
export interface CallMembershipOptions {
  readonly session: MatrixSession;
  readonly roomId: string;
  readonly focus: SfuFocus;
  /**
   * The SFU also serves a LiveKit focus (servesLiveKitFocus()): name it first in
   * `foci_preferred`, so Element Call users see this device (foci.ts). Default false.
   */
  readonly liveKitFocus?: boolean;
  /** Delay of the pre-scheduled leave (MSC4140). Default 10 000 ms (Element Call's). */
  readonly delayedLeaveMs?: number;
  /** How often the delayed leave is restarted. Default 5000 ms. */
  readonly restartEveryMs?: number;
  /** `expires` of the membership. Default MEMBERSHIP_EXPIRES_MS. */
  readonly expiresMs?: number;
  /** Without delayed events: how often our state event is read back. Default 30 000 ms. */
  readonly checkEveryMs?: number;
  /** First retry after a failed round; doubles up to `retryMaxMs`. Default 1000 ms. */
  readonly retryBaseMs?: number;
  /** Longest pause between rounds while failing. Default `restartEveryMs`. */
  readonly retryMaxMs?: number;
  /** Per-request timeout. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Jitter source (tests). Default Math.random. */
  readonly random?: () => number;
  readonly logger?: MembershipLogger;
}

const consoleLogger: MembershipLogger = {
  debug: () => undefined,
  info: (message, fields) => console.info(`[membership] ${message}`, JSON.stringify(fields ?? {})),
  warn: (message, fields) => console.warn(`[membership] ${message}`, JSON.stringify(fields ?? {})),
};

/** The state key of this device's membership in a normal room (`_{userId}_{deviceId}_m.call`). */
export function membershipStateKey(session: Pick<MatrixSession, 'userId' | 'deviceId'>): string {
  return `_${session.userId}_${session.deviceId}_m.call`;
}

function statePath(roomId: string, stateKey: string): string {
  return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(CALL_MEMBER_TYPE)}/${encodeURIComponent(stateKey)}`;
}

const DELAYED_EVENTS = '/_matrix/client/unstable/org.matrix.msc4140/delayed_events';
const isNotFound = (error: unknown): boolean => error instanceof MatrixRequestError && error.status === 404 && error.errcode === 'M_NOT_FOUND';
/** Rounds that read the state back after the delayed leave was found gone. */
export const SUSPECT_ROUNDS = 4;
/** Pause between those rounds (or the restart period, if shorter). */
export const SUSPECT_PERIOD_MS = 1000;
/** Attempts at scheduling the first delayed leave while rate limited. */
const JOIN_RATE_LIMIT_ATTEMPTS = 5;

/** This device's published membership; keeps it alive (and restores it) until leave(). */
export class CallMembership extends TypedEmitter<CallMembershipEvents> {
  readonly #options: CallMembershipOptions;
  readonly #log: MembershipLogger;
  readonly #path: string;
  #delayedEvents = true;
  #delayId: string | undefined;
  #createdTs = 0;
  #expiresMs: number;
  /** Set when something may have emptied our membership: read it back (and restore) next round. */
  #check: RestoreReason | undefined;
  /** Rounds left that read the state back (more than one after the delayed leave was found gone). */
  #checkRounds = 0;
  #nextCheckAt = 0;
  #failures = 0;
  #restores = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #round: Promise<void> = Promise.resolve();
  #left = false;
  #leaving: Promise<void> | undefined;

  /**
   * Schedules the delayed leave, then publishes the membership (multi_sfu, our focus), then
   * keeps both alive. Without MSC4140 the membership is published without a delayed leave.
   * @throws MatrixRequestError or the fetch's error when the membership cannot be published.
   */
  static async join(options: CallMembershipOptions): Promise<CallMembership> {
    const membership = new CallMembership(options);
    await membership.#joinOnce();
    membership.#schedule(membership.#period());
    return membership;
  }

  private constructor(options: CallMembershipOptions) {
    super((event, error) => (options.logger ?? consoleLogger).warn('membership listener threw', { event, error: String(error) }));
    this.#options = options;
    this.#log = options.logger ?? consoleLogger;
    this.#path = statePath(options.roomId, membershipStateKey(options.session));
    this.#expiresMs = options.expiresMs ?? MEMBERSHIP_EXPIRES_MS;
  }

  /** Whether the homeserver keeps a delayed leave for us (MSC4140). */
  get delayedLeave(): boolean {
    return this.#delayedEvents;
  }

  /** How many times the membership was published again after it was emptied or expired. */
  get restoreCount(): number {
    return this.#restores;
  }

  /** Empties the membership (the delayed leave is sent now, or `{}` is written). Idempotent. */
  leave(): Promise<void> {
    if (this.#leaving) return this.#leaving;
    this.#left = true;
    clearTimeout(this.#timer);
    // After the round in flight, so nothing is written once we are gone.
    this.#leaving = this.#round.then(() => this.#empty());
    return this.#leaving;
  }

  #request<T>(what: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
    const { session } = this.#options;
    return matrixRequest<T>({
      homeserverUrl: session.homeserverUrl,
      accessToken: session.accessToken,
      what,
      method,
      path,
      ...(body !== undefined ? { body } : {}),
      ...(this.#options.requestTimeoutMs !== undefined ? { timeoutMs: this.#options.requestTimeoutMs } : {}),
    });
  }

  async #joinOnce(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#scheduleDelayedLeave();
        break;
      } catch (error) {
        if (!isRateLimited(error) || attempt >= JOIN_RATE_LIMIT_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs ?? backoffDelayMs(attempt, this.#backoff())));
      }
    }
    await this.#publish(Date.now(), this.#options.expiresMs ?? MEMBERSHIP_EXPIRES_MS);
  }

  /** Schedules a new delayed leave; a refusal other than a transient one means no MSC4140 here. */
  async #scheduleDelayedLeave(): Promise<void> {
    const delay = this.#options.delayedLeaveMs ?? 10_000;
    try {
      const scheduled = await this.#request<{ delay_id?: unknown }>('schedule delayed leave', 'PUT', `${this.#path}?org.matrix.msc4140.delay=${delay}`, {});
      if (typeof scheduled.delay_id !== 'string') throw new MatrixRequestError('schedule delayed leave (no delay_id)', 200, undefined);
      this.#delayId = scheduled.delay_id;
    } catch (error) {
      if (isTransient(error)) throw error;
      // Without MSC4140 a crashed client lingers until `expires`; the call still works.
      this.#delayedEvents = false;
      this.#delayId = undefined;
      this.#log.warn('delayed leave unavailable; the membership is read back instead', { error: String(error) });
    }
  }

  async #publish(createdTs: number, expiresMs: number): Promise<void> {
    const { session, focus, liveKitFocus = false } = this.#options;
    await this.#request('publish call membership', 'PUT', this.#path, {
      application: 'm.call',
      call_id: '',
      scope: 'm.room',
      device_id: session.deviceId,
      expires: expiresMs,
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: preferredFoci(focus, liveKitFocus),
      created_ts: createdTs,
    });
    this.#createdTs = createdTs;
    this.#expiresMs = expiresMs;
  }

  #period(): number {
    if (this.#checkRounds > 0) return Math.min(SUSPECT_PERIOD_MS, this.#options.restartEveryMs ?? 5000);
    return this.#delayedEvents ? (this.#options.restartEveryMs ?? 5000) : Math.min(this.#options.checkEveryMs ?? 30_000, this.#options.restartEveryMs ?? 30_000);
  }

  #backoff(): { baseMs: number; maxMs: number; random?: () => number } {
    return {
      baseMs: this.#options.retryBaseMs ?? 1000,
      maxMs: this.#options.retryMaxMs ?? this.#options.restartEveryMs ?? 5000,
      ...(this.#options.random ? { random: this.#options.random } : {}),
    };
  }

  #schedule(ms: number): void {
    if (this.#left) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#round = this.#runRound();
    }, ms);
  }

  async #runRound(): Promise<void> {
    try {
      await this.#keepAlive();
      if (this.#failures > 0) {
        this.#log.info('homeserver answers again', { failedRounds: this.#failures });
        this.safeEmit('recovered');
      }
      this.#failures = 0;
      this.#schedule(this.#period());
    } catch (error) {
      this.#failures++;
      // Whatever the outage did, look at our state event once the homeserver answers again.
      if (!this.#check) {
        this.#check = 'emptied';
        this.#checkRounds = 1;
      }
      const delay = isRateLimited(error) && error.retryAfterMs !== undefined ? error.retryAfterMs : backoffDelayMs(this.#failures, this.#backoff());
      if (this.#failures === 1) {
        this.#log.warn('keeping the call membership alive failed; retrying', { error: String(error), retryInMs: delay });
        this.safeEmit('degraded', error);
      } else {
        this.#log.debug('still failing to keep the call membership alive', { error: String(error), failedRounds: this.#failures, retryInMs: delay });
      }
      this.#schedule(delay);
    }
  }

  /** One round: the delayed leave, the membership itself if in doubt, then `expires`. */
  async #keepAlive(): Promise<void> {
    if (this.#left) return;
    if (this.#delayedEvents) {
      if (this.#delayId) {
        try {
          await this.#request('restart delayed leave', 'POST', `${DELAYED_EVENTS}/${encodeURIComponent(this.#delayId)}/restart`, {});
        } catch (error) {
          if (!isNotFound(error)) throw error;
          // The homeserver sent (or dropped) our delayed leave: the membership is probably empty.
          this.#log.info('delayed leave gone (sent by the homeserver); restoring the membership', {});
          this.#delayId = undefined;
          this.#check = 'delayed-leave-sent';
          this.#checkRounds = SUSPECT_ROUNDS;
        }
      }
      if (!this.#delayId && !this.#left) await this.#scheduleDelayedLeave();
    } else if (Date.now() >= this.#nextCheckAt && !this.#check) {
      this.#check = 'emptied';
      this.#checkRounds = 1;
    }
    if (this.#check && !this.#left) {
      const restored = await this.#ensurePublished(this.#check);
      this.#checkRounds--;
      if (restored || this.#checkRounds <= 0) {
        this.#check = undefined;
        this.#checkRounds = 0;
        this.#nextCheckAt = Date.now() + (this.#options.checkEveryMs ?? 30_000);
      }
    }
    if (!this.#left && Date.now() >= this.#createdTs + this.#expiresMs - Math.min(EXPIRY_HEADROOM_MS, this.#expiresMs / 4)) {
      // Extend, keeping created_ts (js-sdk's way): the membership stays the same one.
      await this.#publish(this.#createdTs, this.#expiresMs + (this.#options.expiresMs ?? MEMBERSHIP_EXPIRES_MS));
      this.#log.debug('membership expiry extended', { expiresMs: this.#expiresMs });
    }
  }

  /** Reads our state event back; publishes a fresh membership if it is empty or expired. Returns whether it did. */
  async #ensurePublished(suspected: RestoreReason): Promise<boolean> {
    let content: Record<string, unknown> = {};
    try {
      content = await this.#request<Record<string, unknown>>('read own call membership', 'GET', this.#path);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const createdTs = typeof content['created_ts'] === 'number' ? content['created_ts'] : undefined;
    const expires = typeof content['expires'] === 'number' ? content['expires'] : undefined;
    const published = content['application'] === 'm.call' && content['device_id'] === this.#options.session.deviceId;
    const expired = published && createdTs !== undefined && expires !== undefined && createdTs + expires <= Date.now();
    if ((published && !expired) || this.#left) return false;
    const reason: RestoreReason = expired ? 'expired' : suspected;
    await this.#publish(Date.now(), this.#options.expiresMs ?? MEMBERSHIP_EXPIRES_MS);
    this.#restores++;
    this.#log.info('call membership restored', { reason, restores: this.#restores });
    this.safeEmit('restored', reason);
    return true;
  }

  async #empty(): Promise<void> {
    if (this.#delayId) {
      try {
        await this.#request('send delayed leave', 'POST', `${DELAYED_EVENTS}/${encodeURIComponent(this.#delayId)}/send`, {});
        return;
      } catch (error) {
        this.#log.warn('could not send the delayed leave; writing {}', { error: String(error) });
      }
    }
    await this.#request('leave call', 'PUT', this.#path, {});
  }
}
