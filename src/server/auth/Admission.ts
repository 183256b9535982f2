// The one interface every WebSocket session is admitted through. [core] ships
// only DevAdmission (`auth.mode: none`); Matrix admission (JWT + live call
// membership) implements the same interface.

import { randomUUID } from 'node:crypto';
import { PermissionError } from '../../common/lib/errors.ts';
import type { ConferenceId, ParticipantId } from '../../common/lib/ids.ts';

/** What the edge knows about an upgrade request. */
export interface AdmissionRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly remoteAddress: string | undefined;
}

/**
 * Why an admitted session must end. `membership-redacted`: the membership event was
 * redacted (by its sender or a moderator); unlike `membership-ended` it gets no grace.
 */
export type EvictionReason = 'membership-ended' | 'membership-expired' | 'membership-redacted' | 'moved-sfu' | 'left-room' | 'kicked' | 'banned';

/** An admitted session: who it is and where it belongs. */
export interface AdmissionTicket {
  readonly conferenceId: ConferenceId;
  readonly participantId: ParticipantId;
  readonly displayName: string;
  /**
   * The name to show when the client asks for `requested` in `join`; absent = the client's
   * name is taken as is (development admission). Matrix admission lets a client only narrow
   * its Matrix display name (src/server/auth/displayName.ts).
   */
  displayNameFor?(requested: string | undefined): string;
  /**
   * Subscribes to the end of the session's right to stay (membership ended).
   * Returns an unsubscribe function. Absent for admissions that never end.
   */
  watch?(evict: (reason: EvictionReason) => void): () => void;
}

/** Decides whether a WebSocket may open a session. Throws PermissionError to refuse. */
export interface Admission {
  readonly mode: 'none' | 'matrix';
  admit(request: AdmissionRequest): Promise<AdmissionTicket>;
}

const NAME_PATTERN = /^[A-Za-z0-9_.:!@=-]{1,128}$/;

/**
 * Development admission (`auth.mode: none`): anyone may join any conference
 * named by `?conference=`; ids come from `?participant=` or are random.
 * Never a default once Matrix admission exists; main.ts warns loudly.
 */
export class DevAdmission implements Admission {
  readonly mode = 'none' as const;

  async admit(request: AdmissionRequest): Promise<AdmissionTicket> {
    const conference = request.url.searchParams.get('conference') ?? 'default';
    const participant = request.url.searchParams.get('participant') ?? randomUUID();
    const displayName = request.url.searchParams.get('name') ?? participant.slice(0, 8);
    if (!NAME_PATTERN.test(conference) || !NAME_PATTERN.test(participant)) {
      throw new PermissionError('conference and participant must match ' + NAME_PATTERN.source, 'UNAUTHORIZED');
    }
    return {
      conferenceId: conference as ConferenceId,
      participantId: participant as ParticipantId,
      displayName: displayName.slice(0, 128),
    };
  }
}
