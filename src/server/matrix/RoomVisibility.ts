// Whether any source of room state sees a room, asked by the token endpoint before its
// membership check: the SFU account's sync for rooms it joined, else the admin API source
// (read fresh, so a membership published a moment ago is seen). A user of a room the SFU
// cannot see is told that, never "you are not in a call". The operator is told once per
// room and hour (bounded memory).

import type { Logger } from '../../common/lib/logger.ts';
import { AdmissionError } from '../auth/errors.ts';
import type { AdminStateSource } from './AdminStateSource.ts';

/** How often the operator hint is repeated for the same room. */
const HINT_INTERVAL_MS = 3_600_000;
/** Rooms remembered for the hint; past it the memory starts over. */
const MAX_HINTED_ROOMS = 1000;

/** Options of roomVisibilityView(). */
export interface RoomVisibilityOptions {
  /** Whether the SFU account has joined the room. */
  readonly joinedBySfu: (roomId: string) => boolean;
  /** The admin API source, when configured (matrix.adminTokenFile). */
  readonly admin: AdminStateSource | undefined;
  /** The SFU account, named in the hint. */
  readonly sfuUserId: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * Returns `roomVisible(roomId)`: true when a source sees the room (after refreshing the admin
 * source's view of it), false when none does; throws AdmissionError `not_ready` when the
 * admin API could not be read (the client may retry).
 */
export function roomVisibility(options: RoomVisibilityOptions): (roomId: string) => Promise<boolean> {
  const log = options.logger.child({ component: 'matrix' });
  const now = options.now ?? (() => Date.now());
  const hinted = new Map<string, number>();
  const hint = (roomId: string): void => {
    const last = hinted.get(roomId);
    if (last !== undefined && now() - last < HINT_INTERVAL_MS) return;
    if (hinted.size >= MAX_HINTED_ROOMS) hinted.clear();
    hinted.set(roomId, now());
    log.warn(
      options.admin
        ? 'a call was refused: the homeserver is not in this room (the admin API does not know it); users of other homeservers need the SFU account invited'
        : 'a call was refused: the SFU cannot see this room; invite the SFU account to it, or set matrix.adminTokenFile so it reads rooms through the Synapse admin API',
      { roomId, sfuUserId: options.sfuUserId },
    );
  };
  return async (roomId) => {
    if (options.joinedBySfu(roomId)) return true;
    if (options.admin) {
      const result = await options.admin.refresh(roomId);
      if (result === 'visible') return true;
      if (result === 'unavailable') throw new AdmissionError('not_ready', `admin API read of ${roomId} failed`);
    }
    hint(roomId);
    return false;
  };
}
