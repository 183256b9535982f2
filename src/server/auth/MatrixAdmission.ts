// Matrix admission for WebSocket sessions: a valid SFU JWT (offered as the subprotocol
// `matrix-sfu.jwt.<token>`, or in the older `?jwt=` query) whose jti has not opened a
// session before (persisted: JtiStore), AND the call membership it names still live in the
// room state the SFU syncs (a pending token, issued before the device had a membership, is
// bound to the live one here: pendingMembership.ts). While that sync is stale, only returning sessions are admitted,
// for a bounded time (README.md in this folder, "While the homeserver is unreachable").
// The ticket's watch() evicts the session when that membership ends.

import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { PermissionError, SfuError } from '../../common/lib/errors.ts';
import { jwtFromSubprotocols } from '../../common/protocol/admission.ts';
import type { Admission, AdmissionRequest, AdmissionTicket } from './Admission.ts';
import { AdmissionError, type AdmissionRefusal } from './errors.ts';
import type { SfuTokenService } from './SfuToken.ts';
import type { MembershipView } from './types.ts';
import type { UsedJtis } from './JtiStore.ts';
import { narrowDisplayName } from './displayName.ts';
import { bindMembership, PENDING_MEMBERSHIP_WAIT_MS } from './pendingMembership.ts';

/** How fresh the Matrix view is (the SFU account's sync). */
export interface SyncFreshness {
  /** Whether the sync is fresh enough for admission decisions. */
  isFresh(): boolean;
  /** When the last sync response was processed (ms since the epoch). */
  readonly lastSyncAtMs: number;
}

/** Options of MatrixAdmission. */
export interface MatrixAdmissionOptions {
  readonly tokens: SfuTokenService;
  readonly membership: MembershipView;
  readonly logger: Logger;
  /** Used jtis; without it they live in memory only (tests). */
  readonly jtis?: UsedJtis;
  /** Freshness of the sync; without it the view always counts as fresh (tests). */
  readonly sync?: SyncFreshness;
  /** How long after the last sync returning sessions are still admitted (config matrix.staleAdmissionMs). Default 0. */
  readonly staleAdmissionMs?: number;
  readonly observer?: { admission(outcome: 'granted' | 'refused', reason: AdmissionRefusal | 'ok', durationMs: number): void };
  readonly now?: () => number;
  /** How long a pending token (pendingMembership.ts) waits for its membership. Default PENDING_MEMBERSHIP_WAIT_MS. */
  readonly pendingMembershipWaitMs?: number;
}

/** Conference id of a room's call (one call per room: application m.call, call_id ""). */
export function conferenceIdForRoom(roomId: string): ConferenceId {
  return roomId as ConferenceId;
}

/** Participant id of a device: `{user}:{device}`, the rtcBackendIdentity of state memberships. */
export function participantIdFor(userId: string, deviceId: string): ParticipantId {
  return `${userId}:${deviceId}` as ParticipantId;
}

/** Participants remembered for the stale-sync rule; beyond this the oldest are forgotten. */
const MAX_REMEMBERED_PARTICIPANTS = 50_000;

/** JWT + live membership admission. */
export class MatrixAdmission implements Admission {
  readonly mode = 'matrix' as const;
  readonly #options: MatrixAdmissionOptions;
  readonly #now: () => number;
  /** In-memory jti → expiry (ms), used when no JtiStore is given. */
  readonly #usedJti = new Map<string, number>();
  /**
   * Participants (`room\0participant`) with a session here: open sessions count, and closed
   * ones map to when they closed (the stale-sync rule admits only these).
   */
  readonly #participants = new Map<string, { open: number; closedAtMs: number }>();
  readonly #log: Logger;

  constructor(options: MatrixAdmissionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#log = options.logger.child({ component: 'auth' });
  }

  async admit(request: AdmissionRequest): Promise<AdmissionTicket> {
    const started = performance.now();
    try {
      const ticket = await this.#admit(request);
      this.#options.observer?.admission('granted', 'ok', performance.now() - started);
      return ticket;
    } catch (error) {
      const refusal = error instanceof AdmissionError ? error : new AdmissionError('jwt_malformed', 'unexpected', { cause: error });
      this.#log.info('session refused', { reason: refusal.reason, detail: refusal.message });
      this.#options.observer?.admission('refused', refusal.reason, performance.now() - started);
      // Refusals a client should retry (the sync is stale, the jti store is full or failed)
      // close with 4006 "reconnect": the same node may take the session a moment later.
      if (refusal.reason === 'sync_stale' || refusal.reason === 'not_ready') throw new SfuError('DRAINING', 'try again later', { cause: refusal });
      throw new PermissionError('not authorised', 'UNAUTHORIZED', { cause: refusal });
    }
  }

  async #admit(request: AdmissionRequest): Promise<AdmissionTicket> {
    // The subprotocol form is preferred: URLs end up in proxy logs.
    const jwt = jwtFromSubprotocols(request.headers['sec-websocket-protocol']) ?? request.url.searchParams.get('jwt');
    if (!jwt) throw new AdmissionError('jwt_missing', 'no jwt subprotocol or query parameter');
    const claims = await this.#options.tokens.verify(jwt);
    const issuedAtMs = claims.iat * 1000;
    if (this.#jtiUsed(claims.jti, issuedAtMs)) throw new AdmissionError('jwt_replayed', 'jti already used');
    const key = `${claims.room}\u0000${participantIdFor(claims.sub, claims.device)}`;
    this.#checkFreshness(key);
    // A pending token (issued before the membership existed) binds to the live one, waiting a moment for it.
    const check = await bindMembership(
      this.#options.membership,
      { room: claims.room, user: claims.sub, device: claims.device, membership: claims.membership, role: 'publisher' },
      { waitMs: this.#options.pendingMembershipWaitMs ?? PENDING_MEMBERSHIP_WAIT_MS },
    );
    // Mark the jti used only once everything else passed, so a refused attempt
    // (e.g. sync not caught up yet) can be retried with the same token.
    await this.#markJti(claims.jti, issuedAtMs, claims.exp * 1000);
    const membership = this.#options.membership;
    const matrixName = check.displayName ?? claims.sub;
    return {
      conferenceId: conferenceIdForRoom(claims.room),
      participantId: participantIdFor(claims.sub, claims.device),
      displayName: matrixName,
      displayNameFor: (requested) => narrowDisplayName(matrixName, requested),
      watch: (evict) => {
        this.#sessionOpened(key);
        const unwatch = membership.watch(claims.room, claims.sub, claims.device, check.membershipId, evict);
        let closed = false;
        return () => {
          if (closed) return;
          closed = true;
          unwatch();
          this.#sessionClosed(key);
        };
      },
    };
  }

  /**
   * While the sync is stale, the room state we hold may be out of date: admit only a
   * participant that had a session here when the sync went stale (a reconnect), and only for
   * `staleAdmissionMs` after the last sync. Everyone else is told to try again.
   */
  #checkFreshness(key: string): void {
    const sync = this.#options.sync;
    if (!sync || sync.isFresh()) return;
    const lagMs = this.#now() - sync.lastSyncAtMs;
    if (lagMs > (this.#options.staleAdmissionMs ?? 0)) throw new AdmissionError('sync_stale', `Matrix sync stale for ${lagMs} ms`);
    const seen = this.#participants.get(key);
    const returning = seen !== undefined && (seen.open > 0 || seen.closedAtMs >= sync.lastSyncAtMs);
    if (!returning) throw new AdmissionError('sync_stale', 'Matrix sync stale: only returning sessions are admitted');
  }

  #sessionOpened(key: string): void {
    const seen = this.#participants.get(key);
    if (seen) {
      seen.open++;
      return;
    }
    if (this.#participants.size >= MAX_REMEMBERED_PARTICIPANTS) {
      for (const [oldKey, entry] of this.#participants) {
        if (entry.open === 0) {
          this.#participants.delete(oldKey);
          break;
        }
      }
    }
    this.#participants.set(key, { open: 1, closedAtMs: 0 });
  }

  #sessionClosed(key: string): void {
    const seen = this.#participants.get(key);
    if (!seen) return;
    seen.open = Math.max(0, seen.open - 1);
    seen.closedAtMs = this.#now();
    // Re-insert so Map order stays "least recently closed first" for the bound above.
    this.#participants.delete(key);
    this.#participants.set(key, seen);
  }

  #jtiUsed(jti: string, issuedAtMs: number): boolean {
    if (this.#options.jtis) return this.#options.jtis.has(jti, issuedAtMs);
    const now = this.#now();
    for (const [id, expiresAt] of this.#usedJti) if (expiresAt < now) this.#usedJti.delete(id);
    return this.#usedJti.has(jti);
  }

  async #markJti(jti: string, issuedAtMs: number, expiresAtMs: number): Promise<void> {
    if (!this.#options.jtis) {
      if (this.#usedJti.has(jti)) throw new AdmissionError('jwt_replayed', 'jti already used');
      this.#usedJti.set(jti, expiresAtMs);
      return;
    }
    let result;
    try {
      result = await this.#options.jtis.mark(jti, issuedAtMs, expiresAtMs);
    } catch (error) {
      this.#log.error('used-jti store could not record the token (file not written, or cluster Redis unavailable)', { error });
      throw new AdmissionError('not_ready', 'used-jti store write failed', { cause: error });
    }
    if (result === 'replayed') throw new AdmissionError('jwt_replayed', 'jti already used');
    if (result === 'full') {
      this.#log.warn('used-jti store full: refusing new sessions until tokens expire', {});
      throw new AdmissionError('not_ready', 'used-jti store full');
    }
  }
}
