// The SFU's view of Matrix room state that admission needs, built only from
// raw events: each room's `m.room.member` states and its call memberships
// (`org.matrix.msc3401.call.member`), redactions of those, and snapshots of
// `/rooms/{id}/state` (the reconciliation backstop). Pure and synchronous, so
// every rule of "who may be in this SFU's call" is unit-testable with fake
// events; the sync client (SfuAccount) only feeds it. Rules: README.md in this folder.

import type { EvictionReason } from '../auth/Admission.ts';
import type { MembershipCheck } from '../auth/types.ts';
import { cleanDisplayName } from '../auth/displayName.ts';
import {
  CALL_MEMBER_EVENT_TYPE,
  activeFocus,
  isLive,
  namesOurLiveKitFocus,
  namesOurSfu,
  parseCallMembershipEvent,
  withCreatedTs,
  type CallMembership,
  type CallMembershipEvent,
} from './callMembership.ts';

/** A user's room membership, who set it (a leave set by someone else is a kick), and their display name. */
interface RoomMemberState {
  readonly membership: string;
  readonly sender: string;
  readonly displayName: string | undefined;
  readonly eventId: string | undefined;
  /** Room write counter when this entry was last set (snapshots skip newer entries). */
  readonly generation: number;
}

/** One device slot (state key) of call membership. */
interface CallSlot {
  /** What the slot's latest event says. */
  readonly latest: CallMembershipEvent;
  /** True when the latest event was redacted: a leave nobody gets grace for. */
  readonly redacted: boolean;
  /** The slot's last joined membership, kept after it ends (for the created_ts chain rule). */
  readonly lastJoined: CallMembership | undefined;
  readonly generation: number;
}

interface RoomState {
  readonly members: Map<string, RoomMemberState>;
  /** Call membership slots by state key (latest wins). */
  readonly calls: Map<string, CallSlot>;
  /** Counts writes to this room's state (see RoomMemberState.generation). */
  generation: number;
  /**
   * Ids of state events a newer event replaced (insertion order, at most
   * MAX_SUPERSEDED_PER_ROOM): delivered live again, they are stale, not news.
   */
  readonly superseded: Set<string>;
}

/**
 * Superseded event ids remembered per room. A sync can hand an already replaced state event
 * over again (seen after a homeserver outage: the `state` block of a later incremental sync
 * carried a device's old "membership emptied" event right after the device had published
 * its membership again, and applying it evicted a healthy session). A state key's state
 * never legitimately returns to an event it already left except through state resolution,
 * and the `/state` reconciliation (a snapshot, not subject to this rule) corrects that case.
 */
export const MAX_SUPERSEDED_PER_ROOM = 1024;

/** Result of ingesting one event. */
export type IngestResult = 'member' | 'call' | 'redaction' | 'ignored' | 'stale' | 'invalid';

/**
 * Where an event comes from. `live`: the sync delivered it as new (the SFU sees the
 * membership begin). `snapshot`: it was read from a state snapshot (first sync, `/state`),
 * so the SFU knows nothing of the slot's history.
 */
export type EventSource = 'live' | 'snapshot';

/** How this SFU is named in `foci_preferred`. */
export interface OurFocus {
  readonly type: string;
  readonly serviceUrl: string;
  /**
   * Set when this SFU also serves as a MatrixRTC `livekit` focus: a LiveKit transport whose
   * `livekit_service_url` is this URL names us too (src/server/livekit).
   */
  readonly liveKitServiceUrl?: string;
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

  /** The room's write counter: pass it to applySnapshot() for a snapshot fetched from now on. */
  generation(roomId: string): number {
    return this.#rooms.get(roomId)?.generation ?? 0;
  }

  /** Forgets a room (the SFU account left it). */
  dropRoom(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  /**
   * Applies one raw event: a state event of a type we track, or an `m.room.redaction`.
   * @throws CallMembershipParseError for invalid call membership events (the slot is emptied).
   */
  ingest(roomId: string, raw: unknown, source: EventSource = 'live'): IngestResult {
    if (typeof raw !== 'object' || raw === null) return 'ignored';
    const event = raw as Record<string, unknown>;
    if (event['type'] === 'm.room.redaction') return this.#redact(roomId, event) ? 'redaction' : 'ignored';
    const room = this.#room(roomId);
    const eventId = typeof event['event_id'] === 'string' ? event['event_id'] : undefined;
    if (source === 'live' && eventId !== undefined && room.superseded.has(eventId)) return 'stale';
    if (event['type'] === 'm.room.member') {
      const member = parseMember(event, ++room.generation);
      if (!member) return 'ignored';
      const userId = event['state_key'] as string;
      this.#supersede(room, room.members.get(userId)?.eventId, eventId);
      room.members.set(userId, member);
      return 'member';
    }
    if (event['type'] === CALL_MEMBER_EVENT_TYPE) {
      const stateKey = event['state_key'];
      if (typeof stateKey !== 'string') return 'ignored';
      const previous = room.calls.get(stateKey);
      if (source === 'snapshot' && previous?.latest.eventId === event['event_id'] && !isRedacted(event)) return 'call';
      this.#supersede(room, previous?.latest.eventId, eventId);
      const generation = ++room.generation;
      let parsed: CallMembershipEvent;
      try {
        parsed = parseCallMembershipEvent(raw);
      } catch (error) {
        // A forged or malformed event must not leave an older valid membership in place
        // under the same key: the slot's latest word is "not a membership".
        room.calls.delete(stateKey);
        throw error;
      }
      if (parsed.kind === 'joined') {
        parsed = withCreatedTs(parsed, believedCreatedTs(parsed, previous?.lastJoined, source));
      }
      room.calls.set(stateKey, {
        latest: parsed,
        redacted: parsed.kind === 'left' && isRedacted(event),
        lastJoined: parsed.kind === 'joined' ? parsed : previous?.lastJoined,
        generation,
      });
      return 'call';
    }
    return 'ignored';
  }

  /**
   * Applies a `/rooms/{id}/state` snapshot fetched when the room's generation was
   * `generationAtFetch`: entries the sync changed since then are left alone (the sync is
   * newer), the rest take the snapshot's word, including redacted content.
   * @returns the faults of call membership events that did not parse, for the caller's log.
   */
  applySnapshot(roomId: string, events: readonly unknown[], generationAtFetch: number): string[][] {
    const room = this.#rooms.get(roomId);
    if (!room) return [];
    const faults: string[][] = [];
    const seenCalls = new Set<string>();
    for (const raw of events) {
      if (typeof raw !== 'object' || raw === null) continue;
      const event = raw as Record<string, unknown>;
      const key = event['state_key'];
      if (typeof key !== 'string') continue;
      if (event['type'] === 'm.room.member') {
        const current = room.members.get(key);
        if (current && current.generation > generationAtFetch) continue;
        if (current && current.eventId === event['event_id']) continue;
      } else if (event['type'] === CALL_MEMBER_EVENT_TYPE) {
        seenCalls.add(key);
        const current = room.calls.get(key);
        if (current && current.generation > generationAtFetch) continue;
      } else {
        continue;
      }
      try {
        this.ingest(roomId, raw, 'snapshot');
      } catch (error) {
        faults.push((error as { faults?: string[] }).faults ?? [String(error)]);
      }
    }
    for (const [key, slot] of room.calls) {
      if (!seenCalls.has(key) && slot.generation <= generationAtFetch) room.calls.delete(key);
    }
    return faults;
  }

  /** Live memberships of the room-wide call (application m.call, call_id ""), oldest first. */
  liveMemberships(roomId: string, nowMs: number): CallMembership[] {
    const room = this.#rooms.get(roomId);
    if (!room) return [];
    const live: CallMembership[] = [];
    for (const { latest } of room.calls.values()) {
      if (!isLive(latest, nowMs) || latest.application !== 'm.call' || latest.callId !== '') continue;
      if (room.members.get(latest.userId)?.membership !== 'join') continue;
      live.push(latest);
    }
    return live.sort((a, b) => a.createdTs - b.createdTs || (a.rtcBackendIdentity < b.rtcBackendIdentity ? -1 : 1));
  }

  /** Admission check of one device (MembershipView.check), with the user's display name from room state. */
  check(roomId: string, userId: string, deviceId: string, nowMs: number): MembershipCheck {
    const room = this.#rooms.get(roomId);
    const member = room?.members.get(userId);
    if (!room || member?.membership !== 'join') return { ok: false, reason: 'not_joined' };
    const own = this.#deviceMembership(room, userId, deviceId);
    if (!own) return { ok: false, reason: 'no_membership' };
    if (!isLive(own, nowMs)) return { ok: false, reason: 'membership_expired' };
    const focus = activeFocus(own, this.liveMemberships(roomId, nowMs));
    if (!this.#namesUs(focus)) return { ok: false, reason: 'membership_other_sfu' };
    return { ok: true, membershipId: own.membershipId, ...(member.displayName !== undefined ? { displayName: member.displayName } : {}) };
  }

  /**
   * Admission check of a subscribe-only device (a multi-SFU member whose own focus is
   * elsewhere, connecting here to receive): joined, with a live membership of the room-wide
   * call whatever its focus, while at least one live member of the call publishes here.
   */
  checkSubscriber(roomId: string, userId: string, deviceId: string, nowMs: number): MembershipCheck {
    const room = this.#rooms.get(roomId);
    const member = room?.members.get(userId);
    if (!room || member?.membership !== 'join') return { ok: false, reason: 'not_joined' };
    const own = this.#deviceMembership(room, userId, deviceId);
    if (!own) return { ok: false, reason: 'no_membership' };
    if (!isLive(own, nowMs)) return { ok: false, reason: 'membership_expired' };
    if (!this.#someonePublishesHere(roomId, nowMs)) return { ok: false, reason: 'membership_other_sfu' };
    return { ok: true, membershipId: own.membershipId, ...(member.displayName !== undefined ? { displayName: member.displayName } : {}) };
  }

  /** Why an admitted subscribe-only membership no longer counts (as endReason, but any focus; `moved-sfu` once nobody publishes here). */
  subscriberEndReason(roomId: string, userId: string, deviceId: string, membershipId: string, nowMs: number): EvictionReason | undefined {
    return this.#endReason(roomId, userId, deviceId, membershipId, nowMs, () => this.#someonePublishesHere(roomId, nowMs));
  }

  #someonePublishesHere(roomId: string, nowMs: number): boolean {
    const live = this.liveMemberships(roomId, nowMs);
    return live.some((membership) => this.#namesUs(activeFocus(membership, live)));
  }

  /** Our own transport type, or (when the livekit edge is on) a LiveKit focus with our service URL. */
  #namesUs(focus: ReturnType<typeof activeFocus>): boolean {
    if (namesOurSfu(focus, this.#focus.type, this.#focus.serviceUrl)) return true;
    return this.#focus.liveKitServiceUrl !== undefined && namesOurLiveKitFocus(focus, this.#focus.liveKitServiceUrl);
  }

  /** Why an admitted membership no longer counts, or undefined while it still does. */
  endReason(roomId: string, userId: string, deviceId: string, membershipId: string, nowMs: number): EvictionReason | undefined {
    return this.#endReason(roomId, userId, deviceId, membershipId, nowMs, (own) => this.#namesUs(activeFocus(own, this.liveMemberships(roomId, nowMs))));
  }

  /**
   * The room- and membership-level reasons shared by publishers and subscribers, then
   * `moved-sfu` when `stillHere` says the live membership no longer belongs on this SFU.
   */
  #endReason(
    roomId: string,
    userId: string,
    deviceId: string,
    membershipId: string,
    nowMs: number,
    stillHere: (own: CallMembership) => boolean,
  ): EvictionReason | undefined {
    const room = this.#rooms.get(roomId);
    if (!room) return 'left-room';
    const member = room.members.get(userId);
    if (member?.membership === 'ban') return 'banned';
    if (member?.membership !== 'join') return member && member.sender !== userId ? 'kicked' : 'left-room';
    const own = this.#deviceMembership(room, userId, deviceId);
    if (!own || own.membershipId !== membershipId) {
      return this.#redactedSlot(room, userId, deviceId, membershipId) ? 'membership-redacted' : 'membership-ended';
    }
    if (!isLive(own, nowMs)) return 'membership-expired';
    if (!stillHere(own)) return 'moved-sfu';
    return undefined;
  }

  /** Earliest future expiry among the room's joined memberships (for a timer), or undefined. */
  nextExpiryMs(roomId: string, nowMs: number): number | undefined {
    const room = this.#rooms.get(roomId);
    let next: number | undefined;
    for (const { latest } of room?.calls.values() ?? []) {
      if (latest.kind === 'joined' && latest.expiresAtMs > nowMs && (next === undefined || latest.expiresAtMs < next)) {
        next = latest.expiresAtMs;
      }
    }
    return next;
  }

  /** Marks the call slot whose latest event `event` redacts as a redacted leave; true if one was. */
  #redact(roomId: string, event: Record<string, unknown>): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    // Room versions up to 10 put the target at the top level, version 11 in the content.
    const content = event['content'];
    const target = event['redacts'] ?? (typeof content === 'object' && content !== null ? (content as Record<string, unknown>)['redacts'] : undefined);
    if (typeof target !== 'string') return false;
    for (const [key, slot] of room.calls) {
      if (slot.latest.eventId !== target || slot.latest.kind !== 'joined') continue;
      // The redaction algorithm keeps no content of this event type: `{}`, a leave.
      const leave: CallMembershipEvent = Object.freeze({
        kind: 'left',
        eventId: slot.latest.eventId,
        stateKey: slot.latest.stateKey,
        stateKeyForm: slot.latest.stateKeyForm,
        userId: slot.latest.userId,
        originServerTs: slot.latest.originServerTs,
        leaveReason: undefined,
      });
      room.calls.set(key, { latest: leave, redacted: true, lastJoined: slot.lastJoined, generation: ++room.generation });
      return true;
    }
    // m.room.member keeps `membership` through redaction; only the display name goes.
    for (const [userId, member] of room.members) {
      if (member.eventId === target) room.members.set(userId, { ...member, displayName: undefined, generation: ++room.generation });
    }
    return false;
  }

  #redactedSlot(room: RoomState, userId: string, deviceId: string, membershipId: string): boolean {
    for (const slot of room.calls.values()) {
      const joined = slot.lastJoined;
      if (slot.redacted && joined && joined.userId === userId && joined.deviceId === deviceId && joined.membershipId === membershipId) return true;
    }
    return false;
  }

  #deviceMembership(room: RoomState, userId: string, deviceId: string): CallMembership | undefined {
    for (const { latest } of room.calls.values()) {
      if (latest.kind === 'joined' && latest.userId === userId && latest.deviceId === deviceId && latest.application === 'm.call' && latest.callId === '') {
        return latest;
      }
    }
    return undefined;
  }

  /** Remembers that `previousId` was replaced by the different event `nextId` (bounded). */
  #supersede(room: RoomState, previousId: string | undefined, nextId: string | undefined): void {
    if (previousId === undefined || previousId === nextId) return;
    room.superseded.delete(nextId ?? '');
    room.superseded.add(previousId);
    if (room.superseded.size > MAX_SUPERSEDED_PER_ROOM) {
      room.superseded.delete(room.superseded.values().next().value as string);
    }
  }

  #room(roomId: string): RoomState {
    let room = this.#rooms.get(roomId);
    if (!room) {
      room = { members: new Map(), calls: new Map(), generation: 0, superseded: new Set() };
      this.#rooms.set(roomId, room);
    }
    return room;
  }
}

/**
 * The start time this SFU believes for a joined membership (README.md, "created_ts"):
 * - a refresh of the slot's previous membership (same membershipID, sent while that one was
 *   still live) keeps the previous belief, never older;
 * - a membership seen beginning live began when it was sent (js-sdk sends no created_ts in a
 *   new membership; any earlier claim is unproven, and even minutes would let a newcomer
 *   jump ahead of members who joined just before);
 * - from a snapshot, the parser's bound (one refresh period before it was sent) stands.
 */
function believedCreatedTs(membership: CallMembership, previous: CallMembership | undefined, source: EventSource): number {
  const claimed = Math.min(membership.claimedCreatedTs, membership.originServerTs);
  if (previous && previous.membershipId === membership.membershipId && membership.originServerTs < previous.expiresAtMs) {
    return Math.max(claimed, previous.createdTs);
  }
  if (source === 'live') return membership.originServerTs;
  return membership.createdTs;
}

/** Whether the server says this event was redacted (`unsigned.redacted_because`). */
function isRedacted(event: Record<string, unknown>): boolean {
  const unsigned = event['unsigned'];
  return typeof unsigned === 'object' && unsigned !== null && (unsigned as Record<string, unknown>)['redacted_because'] !== undefined;
}

function parseMember(event: Record<string, unknown>, generation: number): RoomMemberState | undefined {
  const userId = event['state_key'];
  const content = event['content'];
  const fields = typeof content === 'object' && content !== null ? (content as Record<string, unknown>) : {};
  const membership = fields['membership'];
  if (typeof userId !== 'string' || typeof membership !== 'string' || typeof event['sender'] !== 'string') return undefined;
  const eventId = event['event_id'];
  return {
    membership,
    sender: event['sender'],
    displayName: cleanDisplayName(fields['displayname']),
    eventId: typeof eventId === 'string' ? eventId : undefined,
    generation,
  };
}
