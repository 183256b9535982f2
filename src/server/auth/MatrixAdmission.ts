// Matrix admission for WebSocket sessions: a valid SFU JWT (from ?jwt=) whose
// jti has not opened a session before, AND the call membership it names still
// live in the room state the SFU syncs. The ticket's watch() evicts the
// session when that membership ends.

import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';
import type { Logger } from '../../common/lib/logger.ts';
import { PermissionError } from '../../common/lib/errors.ts';
import type { Admission, AdmissionRequest, AdmissionTicket } from './Admission.ts';
import { AdmissionError, type AdmissionRefusal } from './errors.ts';
import type { SfuTokenService } from './SfuToken.ts';
import type { MembershipView } from './types.ts';

/** Options of MatrixAdmission. */
export interface MatrixAdmissionOptions {
  readonly tokens: SfuTokenService;
  readonly membership: MembershipView;
  readonly logger: Logger;
  readonly observer?: { admission(outcome: 'granted' | 'refused', reason: AdmissionRefusal | 'ok', durationMs: number): void };
  readonly now?: () => number;
}

/** Conference id of a room's call (one call per room: application m.call, call_id ""). */
export function conferenceIdForRoom(roomId: string): ConferenceId {
  return roomId as ConferenceId;
}

/** Participant id of a device: `{user}:{device}`, the rtcBackendIdentity of state memberships. */
export function participantIdFor(userId: string, deviceId: string): ParticipantId {
  return `${userId}:${deviceId}` as ParticipantId;
}

/** JWT + live membership admission. */
export class MatrixAdmission implements Admission {
  readonly mode = 'matrix' as const;
  readonly #options: MatrixAdmissionOptions;
  readonly #now: () => number;
  /** jti → expiry (ms); entries are dropped once the token could no longer verify anyway. */
  readonly #usedJti = new Map<string, number>();
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
      throw new PermissionError('not authorised', 'UNAUTHORIZED', { cause: refusal });
    }
  }

  async #admit(request: AdmissionRequest): Promise<AdmissionTicket> {
    const jwt = request.url.searchParams.get('jwt');
    if (!jwt) throw new AdmissionError('jwt_missing', 'no jwt query parameter');
    const claims = await this.#options.tokens.verify(jwt);
    this.#purge();
    if (this.#usedJti.has(claims.jti)) throw new AdmissionError('jwt_replayed', 'jti already used');
    const check = this.#options.membership.check(claims.room, claims.sub, claims.device);
    if (!check.ok) throw new AdmissionError('membership_ended', `membership not live (${check.reason})`);
    if (check.membershipId !== claims.membership) throw new AdmissionError('membership_ended', 'membership replaced since the token was issued');
    // Mark the jti used only once everything else passed, so a refused attempt
    // (e.g. sync not caught up yet) can be retried with the same token.
    this.#usedJti.set(claims.jti, claims.exp * 1000);
    const membership = this.#options.membership;
    return {
      conferenceId: conferenceIdForRoom(claims.room),
      participantId: participantIdFor(claims.sub, claims.device),
      displayName: claims.sub,
      watch: (evict) => membership.watch(claims.room, claims.sub, claims.device, claims.membership, evict),
    };
  }

  #purge(): void {
    const now = this.#now();
    for (const [jti, expiresAt] of this.#usedJti) if (expiresAt < now) this.#usedJti.delete(jti);
  }
}
