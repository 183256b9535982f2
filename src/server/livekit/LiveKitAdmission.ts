// Admission of LiveKit sessions. livekit-client presents the same token to the
// /rtc upgrade, to /rtc/validate after a failed upgrade, again on the fallback
// from /rtc/v1 and on every resume. So here "a token opens one session" means:
// a refused or validate attempt never spends it; the first admitted connect
// binds its jti to the identity (and marks it used in the JtiStore, so the
// native edge refuses it); later connects with that jti are the same session
// coming back (resume, reconnect after a worker death) and are admitted while
// the membership is live, the session was not evicted, and no more than
// REUSE_WINDOW_MS passed since it last closed. An evicted session's jti is dead.
//
// Matrix mode: the SFU JWT (SfuToken.ts) plus the live membership it names:
// publisher tokens need a membership whose active focus is us, subscribe-only
// tokens a live membership while someone publishes here (MembershipView). A
// pending token (issued before the device had a membership, as Element Call asks)
// is bound at connect to the live membership, waiting up to 10 s for it; validate
// does not wait (auth/pendingMembership.ts).
// Development mode (auth.mode none): the token's payload is read without a
// signature check (`video.room` → conference, `sub` → identity), as the native
// edge's DevAdmission admits anyone.

import { decodeJwt } from 'jose';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { EvictionReason } from '../auth/Admission.ts';
import { AdmissionError, type AdmissionRefusal } from '../auth/errors.ts';
import type { UsedJtis } from '../auth/JtiStore.ts';
import type { SfuTokenService } from '../auth/SfuToken.ts';
import type { MembershipView } from '../auth/types.ts';
import { conferenceIdForRoom } from '../auth/MatrixAdmission.ts';
import { bindMembership, PENDING_MEMBERSHIP_WAIT_MS } from '../auth/pendingMembership.ts';

/** How long after a session closed its token may open it again (resume, full reconnect). */
export const REUSE_WINDOW_MS = 60_000;
/** Most remembered jtis; past it the oldest closed ones are forgotten. */
const MAX_REMEMBERED = 50_000;

/** An admitted LiveKit session. */
export interface LiveKitTicket {
  readonly conferenceId: ConferenceId;
  readonly participantId: ParticipantId;
  /** LiveKit identity (equal to the participant id). */
  readonly identity: string;
  readonly name: string;
  readonly canPublish: boolean;
  /** Room name clients see (`video.room`). */
  readonly roomName: string;
  /** Subscribes to the end of the membership; returns unsubscribe. Absent in development mode. */
  watch?(evict: (reason: EvictionReason) => void): () => void;
  /** The session ended; `evicted` kills the token for good. */
  closed(evicted: boolean): void;
  /** A fresh token for the same session (`refreshToken`), if the mode mints tokens. */
  refresh?(): Promise<string>;
}

/** Admits LiveKit connects and answers /rtc/validate. */
export interface LiveKitAdmission {
  /** Admits a connect; throws AdmissionError. */
  admit(token: string | null): Promise<LiveKitTicket>;
  /** The same checks as admit() without spending anything; throws AdmissionError. */
  validate(token: string | null): Promise<void>;
}

interface JtiEntry {
  readonly identity: string;
  open: number;
  closedAtMs: number;
  evicted: boolean;
  readonly expiresAtMs: number;
}

/** Options of MatrixLiveKitAdmission. */
export interface MatrixLiveKitAdmissionOptions {
  readonly tokens: SfuTokenService;
  readonly membership: MembershipView;
  readonly jtis?: UsedJtis;
  readonly logger: Logger;
  readonly observer?: { admission(outcome: 'granted' | 'refused', reason: AdmissionRefusal | 'ok', durationMs: number): void };
  readonly now?: () => number;
  /** How long a connect with a pending token waits for its membership. Default PENDING_MEMBERSHIP_WAIT_MS. */
  readonly pendingMembershipWaitMs?: number;
}

/** JWT + live membership admission for the livekit edge. */
export class MatrixLiveKitAdmission implements LiveKitAdmission {
  readonly #options: MatrixLiveKitAdmissionOptions;
  readonly #now: () => number;
  readonly #entries = new Map<string, JtiEntry>();
  readonly #log: Logger;

  constructor(options: MatrixLiveKitAdmissionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#log = options.logger.child({ component: 'livekit' });
  }

  async validate(token: string | null): Promise<void> {
    await this.#check(token, 0);
  }

  async admit(token: string | null): Promise<LiveKitTicket> {
    const started = performance.now();
    try {
      const ticket = await this.#admit(token);
      this.#options.observer?.admission('granted', 'ok', performance.now() - started);
      return ticket;
    } catch (error) {
      const refusal = error instanceof AdmissionError ? error : new AdmissionError('jwt_malformed', 'unexpected', { cause: error });
      this.#log.info('livekit session refused', { reason: refusal.reason, detail: refusal.message });
      this.#options.observer?.admission('refused', refusal.reason, performance.now() - started);
      throw refusal;
    }
  }

  async #check(token: string | null, pendingWaitMs: number) {
    if (!token) throw new AdmissionError('jwt_missing', 'no access_token');
    const claims = await this.#options.tokens.verify(token);
    const entry = this.#entries.get(claims.jti);
    if (entry) {
      if (entry.evicted) throw new AdmissionError('jwt_replayed', 'token of an evicted session');
      if (entry.identity !== claims.identity) throw new AdmissionError('jwt_replayed', 'token bound to another identity');
      if (entry.open === 0 && this.#now() - entry.closedAtMs > REUSE_WINDOW_MS) throw new AdmissionError('jwt_replayed', 'token reused after its session ended');
    } else if (this.#options.jtis?.has(claims.jti, claims.iat * 1000)) {
      throw new AdmissionError('jwt_replayed', 'jti already used');
    }
    // A pending token (Element Call asks before it publishes its membership) binds to the live
    // membership, waiting while the client's membership is on its way (pendingMembership.ts).
    const check = await bindMembership(
      this.#options.membership,
      { room: claims.room, user: claims.sub, device: claims.device, membership: claims.membership, role: claims.canPublish ? 'publisher' : 'subscriber' },
      { waitMs: pendingWaitMs },
    );
    return { claims, displayName: check.displayName, membershipId: check.membershipId };
  }

  async #admit(token: string | null): Promise<LiveKitTicket> {
    const { claims, displayName, membershipId } = await this.#check(token, this.#options.pendingMembershipWaitMs ?? PENDING_MEMBERSHIP_WAIT_MS);
    let entry = this.#entries.get(claims.jti);
    if (!entry) {
      if (this.#options.jtis) {
        const marked = await this.#options.jtis.mark(claims.jti, claims.iat * 1000, claims.exp * 1000).catch((error: unknown) => {
          this.#log.error('used-jti file could not be written', { error });
          return 'failed' as const;
        });
        if (marked === 'failed' || marked === 'full') throw new AdmissionError('not_ready', `used-jti store ${marked}`);
        if (marked === 'replayed') throw new AdmissionError('jwt_replayed', 'jti already used');
      }
      this.#prune();
      entry = { identity: claims.identity, open: 0, closedAtMs: 0, evicted: false, expiresAtMs: claims.exp * 1000 + REUSE_WINDOW_MS };
      this.#entries.set(claims.jti, entry);
    }
    const held = entry;
    held.open++;
    let closed = false;
    const membership = this.#options.membership;
    const role = claims.canPublish ? 'publisher' : 'subscriber';
    return {
      conferenceId: conferenceIdForRoom(claims.room),
      participantId: claims.identity as ParticipantId,
      identity: claims.identity,
      name: displayName ?? claims.sub,
      canPublish: claims.canPublish,
      roomName: claims.room,
      watch: (evict) => membership.watch(claims.room, claims.sub, claims.device, membershipId, evict, role),
      closed: (evicted) => {
        if (closed) return;
        closed = true;
        held.open = Math.max(0, held.open - 1);
        held.closedAtMs = this.#now();
        if (evicted) held.evicted = true;
      },
      refresh: async () =>
        (
          await this.#options.tokens.mint({
            userId: claims.sub,
            deviceId: claims.device,
            roomId: claims.room,
            membershipId,
            grant: { canPublish: claims.canPublish, canSubscribe: claims.canSubscribe },
          })
        ).jwt,
    };
  }

  #prune(): void {
    const now = this.#now();
    for (const [jti, entry] of this.#entries) if (entry.open === 0 && entry.expiresAtMs < now) this.#entries.delete(jti);
    if (this.#entries.size < MAX_REMEMBERED) return;
    for (const [jti, entry] of this.#entries) {
      if (entry.open === 0) {
        this.#entries.delete(jti);
        if (this.#entries.size < MAX_REMEMBERED) return;
      }
    }
  }
}

const NAME_PATTERN = /^[A-Za-z0-9_.:!@=-]{1,255}$/;

/** Development admission (auth.mode none): the unsigned payload names room and identity. */
export class DevLiveKitAdmission implements LiveKitAdmission {
  async validate(token: string | null): Promise<void> {
    this.#read(token);
  }

  async admit(token: string | null): Promise<LiveKitTicket> {
    const { room, identity, name } = this.#read(token);
    return {
      conferenceId: room as ConferenceId,
      participantId: identity as ParticipantId,
      identity,
      name,
      canPublish: true,
      roomName: room,
      closed: () => undefined,
    };
  }

  #read(token: string | null): { room: string; identity: string; name: string } {
    if (!token) throw new AdmissionError('jwt_missing', 'no access_token');
    let payload: Record<string, unknown>;
    try {
      payload = decodeJwt(token);
    } catch (error) {
      throw new AdmissionError('jwt_malformed', 'token does not decode', { cause: error });
    }
    const video = payload['video'];
    const room = typeof video === 'object' && video !== null ? (video as Record<string, unknown>)['room'] : undefined;
    const identity = payload['sub'];
    if (typeof room !== 'string' || typeof identity !== 'string' || !NAME_PATTERN.test(room) || !NAME_PATTERN.test(identity)) {
      throw new AdmissionError('jwt_bad_claims', 'video.room and sub must match ' + NAME_PATTERN.source);
    }
    const name = typeof payload['name'] === 'string' ? (payload['name'] as string).slice(0, 128) : identity;
    return { room, identity, name };
  }
}
