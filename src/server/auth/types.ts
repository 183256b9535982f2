// What admission needs to know about Matrix room state, as a narrow interface
// implemented by src/server/matrix (the SFU account's sync) and by fakes in unit tests.

import type { EvictionReason } from './Admission.ts';

/** Why a device may not be admitted, as seen in room state. */
export type MembershipRefusal = 'not_joined' | 'no_membership' | 'membership_other_sfu' | 'membership_expired';

/** Result of a membership check. */
export type MembershipCheck =
  | {
      ok: true;
      membershipId: string;
      /** The user's display name from room state (`m.room.member` displayname), cleaned; absent if unset. */
      displayName?: string;
    }
  | { ok: false; reason: MembershipRefusal };

/** Live view of room and call membership from the SFU account's sync. */
export interface MembershipView {
  /** Whether `userId` is joined to `roomId` and has a live call membership for `deviceId` naming this SFU. */
  check(roomId: string, userId: string, deviceId: string): MembershipCheck;
  /**
   * Calls `onEnd` once when that membership stops counting (emptied, expired,
   * moved to another SFU, user left / kicked / banned). Returns unsubscribe.
   */
  watch(
    roomId: string,
    userId: string,
    deviceId: string,
    membershipId: string,
    onEnd: (reason: EvictionReason) => void,
    role?: MembershipRole,
  ): () => void;
  /**
   * Subscribe-only admission (the livekit edge): `userId` is joined with a live call membership
   * for `deviceId` whatever its focus, while some live member's active focus is this SFU.
   * Absent in views that know no such role.
   */
  checkSubscriber?(roomId: string, userId: string, deviceId: string): MembershipCheck;
}

/** What a session stands on: a membership whose focus is us (`publisher`), or any live one while someone publishes here (`subscriber`). */
export type MembershipRole = 'publisher' | 'subscriber';
