// The widget capabilities the call asks its host for, and nothing more
// (src/browser/widget/README.md, "MatrixRTC widget mode"): write this device's call membership, read the room state the
// member list and tile names are computed from, exchange media keys over encrypted to-device
// messages, schedule and keep alive the delayed leave (MSC4140 via MSC4157), and (not a
// capability) the OpenID request of admission. No timeline events, no other devices' keys.

import type { ICapabilities } from 'matrix-js-sdk/lib/embedded.js';

/** Call membership state event type (src/server/matrix/README.md §1). */
export const CALL_MEMBER_EVENT_TYPE = 'org.matrix.msc3401.call.member';
/** Media key to-device event type (src/common/e2ee/keys/README.md, "Wire format"). */
export const ENCRYPTION_KEYS_EVENT_TYPE = 'io.element.call.encryption_keys';

/**
 * The membership state keys of this device in the room-wide call: `_@u:hs_DEV_m.call` in
 * normal rooms, `@u:hs_DEV_m.call` in MSC3757/MSC3779 rooms (js-sdk picks one from the room
 * version, which the widget learns only after capabilities are settled, so both are asked for).
 */
export function ownMembershipStateKeys(userId: string, deviceId: string): [string, string] {
  const key = `${userId}_${deviceId}_m.call`;
  return [`_${key}`, key];
}

/**
 * State the call reads: memberships (who is in the call), room members (membership `join`
 * is required of call members, and display names for tiles), the create event (room version:
 * the state key rule above) and the room name (the header).
 */
export const RECEIVED_STATE_TYPES = Object.freeze([CALL_MEMBER_EVENT_TYPE, 'm.room.member', 'm.room.create', 'm.room.name']);

/** The capabilities handed to js-sdk's createRoomWidgetClient for this user and device. */
export function callCapabilities(userId: string, deviceId: string): ICapabilities {
  return {
    sendState: ownMembershipStateKeys(userId, deviceId).map((stateKey) => ({ eventType: CALL_MEMBER_EVENT_TYPE, stateKey })),
    receiveState: RECEIVED_STATE_TYPES.map((eventType) => ({ eventType })),
    sendToDevice: [ENCRYPTION_KEYS_EVENT_TYPE],
    receiveToDevice: [ENCRYPTION_KEYS_EVENT_TYPE],
    sendDelayedEvents: true,
    updateDelayedEvents: true,
  };
}

/**
 * The matrix-widget-api capability strings those become (js-sdk adds the room timeline
 * capability because state is read). The host shows these to the person approving them.
 */
export function capabilityStrings(roomId: string, userId: string, deviceId: string): string[] {
  return [
    `org.matrix.msc2762.timeline:${roomId}`,
    ...ownMembershipStateKeys(userId, deviceId).map((key) => `org.matrix.msc2762.send.state_event:${CALL_MEMBER_EVENT_TYPE}#${key}`),
    ...RECEIVED_STATE_TYPES.map((type) => `org.matrix.msc2762.receive.state_event:${type}`),
    `org.matrix.msc3819.send.to_device:${ENCRYPTION_KEYS_EVENT_TYPE}`,
    `org.matrix.msc3819.receive.to_device:${ENCRYPTION_KEYS_EVENT_TYPE}`,
    'org.matrix.msc4157.send.delayed_event',
    'org.matrix.msc4157.update_delayed_event',
  ];
}

/** Capabilities without which the call cannot work: publishing our membership and seeing others'. */
export function requiredCapabilities(roomId: string, userId: string, deviceId: string): string[] {
  const [normalKey] = ownMembershipStateKeys(userId, deviceId);
  return [
    `org.matrix.msc2762.timeline:${roomId}`,
    `org.matrix.msc2762.send.state_event:${CALL_MEMBER_EVENT_TYPE}#${normalKey}`,
    `org.matrix.msc2762.receive.state_event:${CALL_MEMBER_EVENT_TYPE}`,
  ];
}
