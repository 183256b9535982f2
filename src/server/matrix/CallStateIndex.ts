// The SFU's view of Matrix room state that admission needs, built only from
// raw events: each room's `m.room.member` states and its call memberships
// (`org.matrix.msc3401.call.member`). Pure and synchronous, so every rule of
// "who may be in this SFU's call" is unit-testable with fake events; the sync
// client (SfuAccount) only feeds it.

import type { EvictionReason } from '../auth/Admission.ts';
import type { MembershipCheck } from '../auth/types.ts';
import {
  CALL_MEMBER_EVENT_TYPE,
  activeFocus,
  isLive,
  namesOurSfu,
  parseCallMembershipEvent,
  type CallMembership,
  type CallMembershipEvent,
} from './callMembership.ts';

/** A user's room membership and who set it (a leave set by someone else is a kick). */
interface RoomMemberState {
  readonly membership: string;
  readonly sender: string;
}

interface RoomState {
  readonly members: Map<string, RoomMemberState>;
  /** Call membership events by state key (latest wins). */
  readonly calls: Map<string, CallMembershipEvent>;
}

/** Result of ingesting one event. */
export type IngestResult = 'member' | 'call' | 'ignored' | 'invalid';

/** How this SFU is named in `foci_preferred`. */
export interface OurFocus {
  readonly type: string;
  readonly serviceUrl: string;
}

/** Room and call membership state of every room the SFU account is in. */
export class CallStateIndex {
  readonly #rooms = new Map<string, RoomState>();
  readonly #focus: OurFocus;

  constructor(focus: OurFocus) {
    this.#focus = focus;
  }

  /** Rooms known. */
  get roomIds(): string[] {
    return [...this.#rooms.keys()];
  }

  /** Forgets a room (the SFU account left it). */
  dropRoom(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  /**
   * Applies one raw state event. Invalid call memberships are ignored (and
   * reported as 'invalid' so the caller can log the faults it catches).
   * @throws CallMembershipParseError for invalid call membership events.
   */
  ingest(roomId: string, raw: unknown): IngestResult {
    if (typeof raw !== 'object' || raw === null) return 'ignored';
    const event = raw as Record<string, unknown>;
    const room = this.#room(roomId);
    if (event['type'] === 'm.room.member') {
      const userId = event['state_key'];
      const content = event['content'];
      const membership = typeof content === 'object' && content !== null ? (content as Record<string, unknown>)['membership'] : undefined;
      if (typeof userId !== 'string' || typeof membership !== 'string' || typeof event['sender'] !== 'string') return 'ignored';
      room.members.set(userId, { membership, sender: event['sender'] });
      return 'member';
    }
    if (event['type'] === CALL_MEMBER_EVENT_TYPE) {
      const stateKey = event['state_key'];
      if (typeof stateKey !== 'string') return 'ignored';
      let parsed: CallMembershipEvent;
      try {
        parsed = parseCallMembershipEvent(raw);
      } catch (error) {
        // A forged or malformed event must not leave an older valid membership in place
        // under the same key: the slot's latest word is "not a membership".
        room.calls.delete(stateKey);
        throw error;
      }
      room.calls.set(stateKey, parsed);
      return 'call';
    }
    return 'ignored';
  }

  /** Live memberships of the room-wide call (application m.call, call_id ""), oldest first. */
  liveMemberships(roomId: string, nowMs: number): CallMembership[] {
    const room = this.#rooms.get(roomId);
    if (!room) return [];
    const live: CallMembership[] = [];
    for (const event of room.calls.values()) {
      if (!isLive(event, nowMs) || event.application !== 'm.call' || event.callId !== '') continue;
      if (room.members.get(event.userId)?.membership !== 'join') continue;
      live.push(event);
    }
    return live.sort((a, b) => a.createdTs - b.createdTs || (a.rtcBackendIdentity < b.rtcBackendIdentity ? -1 : 1));
  }

  /** Admission check of one device (MembershipView.check). */
  check(roomId: string, userId: string, deviceId: string, nowMs: number): MembershipCheck {
    const room = this.#rooms.get(roomId);
    if (!room || room.members.get(userId)?.membership !== 'join') return { ok: false, reason: 'not_joined' };
    const own = this.#deviceMembership(room, userId, deviceId);
    if (!own) return { ok: false, reason: 'no_membership' };
    if (!isLive(own, nowMs)) return { ok: false, reason: 'membership_expired' };
    const focus = activeFocus(own, this.liveMemberships(roomId, nowMs));
    if (!namesOurSfu(focus, this.#focus.type, this.#focus.serviceUrl)) return { ok: false, reason: 'membership_other_sfu' };
    return { ok: true, membershipId: own.membershipId };
  }

  /** Why an admitted membership no longer counts, or undefined while it still does. */
  endReason(roomId: string, userId: string, deviceId: string, membershipId: string, nowMs: number): EvictionReason | undefined {
    const room = this.#rooms.get(roomId);
    if (!room) return 'left-room';
    const member = room.members.get(userId);
    if (member?.membership === 'ban') return 'banned';
    if (member?.membership !== 'join') return member && member.sender !== userId ? 'kicked' : 'left-room';
    const own = this.#deviceMembership(room, userId, deviceId);
    if (!own || own.membershipId !== membershipId) return 'membership-ended';
    if (!isLive(own, nowMs)) return 'membership-expired';
    const focus = activeFocus(own, this.liveMemberships(roomId, nowMs));
    if (!namesOurSfu(focus, this.#focus.type, this.#focus.serviceUrl)) return 'moved-sfu';
    return undefined;
  }

  /** Earliest future expiry among the room's joined memberships (for a timer), or undefined. */
  nextExpiryMs(roomId: string, nowMs: number): number | undefined {
    const room = this.#rooms.get(roomId);
    let next: number | undefined;
    for (const event of room?.calls.values() ?? []) {
      if (event.kind === 'joined' && event.expiresAtMs > nowMs && (next === undefined || event.expiresAtMs < next)) {
        next = event.expiresAtMs;
      }
    }
    return next;
  }

  #deviceMembership(room: RoomState, userId: string, deviceId: string): CallMembership | undefined {
    for (const event of room.calls.values()) {
      if (event.kind === 'joined' && event.userId === userId && event.deviceId === deviceId && event.application === 'm.call' && event.callId === '') {
        return event;
      }
    }
    return undefined;
  }

  #room(roomId: string): RoomState {
    let room = this.#rooms.get(roomId);
    if (!room) {
      room = { members: new Map(), calls: new Map() };
      this.#rooms.set(roomId, room);
    }
    return room;
  }
}
