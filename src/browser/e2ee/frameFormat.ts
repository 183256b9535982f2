// Which media frame format our senders write in a call (src/common/e2ee/README.md §12): RFC 9605
// SFrame while every live member uses our widget; LiveKit's format as soon as one member uses
// Element Call (or another livekit-client based MatrixRTC client), which reads nothing else.
// Receivers read both formats per frame, so the switch needs no agreement beyond this rule.
//
// A member is one of ours when any transport in its membership (`foci_preferred`, or
// `transports.published` for m.rtc.member) has our type `org.matrix_sfu.mediasoup`, whatever
// else it lists (our widget may also advertise a `livekit` focus for Element Call). A member
// listing a `livekit` transport and none of ours is an Element Call member. Members with
// neither publish on no service we reach and do not change the format.

import type { FrameFormat } from './worker/types.ts';

/** Our transport type in call memberships (the widget's SFU_FOCUS_TYPE). */
export const OUR_TRANSPORT_TYPE = 'org.matrix_sfu.mediasoup';
/** The transport type Element Call publishes on. */
export const LIVEKIT_TRANSPORT_TYPE = 'livekit';

/** What the rule reads of a live membership: its transport types, in any order. */
export interface FormatMember {
  readonly transportTypes?: readonly string[];
}

/** Whether a membership is an Element Call (livekit-client) member (see the file header). */
export function isLiveKitMember(member: FormatMember): boolean {
  const types = member.transportTypes ?? [];
  return types.includes(LIVEKIT_TRANSPORT_TYPE) && !types.includes(OUR_TRANSPORT_TYPE);
}

/** The format our senders write, given the other live members of the call. */
export function chooseFrameFormat(members: readonly FormatMember[]): FrameFormat {
  return members.some(isLiveKitMember) ? 'livekit' : 'sframe';
}
