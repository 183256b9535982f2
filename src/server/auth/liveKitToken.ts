// POST /get_token: the MSC4195 token service of a MatrixRTC `livekit` focus, as
// Element Call asks it (`{room_id, slot_id, openid_token, member: {id,
// claimed_user_id, claimed_device_id}}` plus optional delay_id, delay_timeout,
// delay_cs_api_url). The OpenID → userinfo → allow-list steps are the /sfu/get
// ones (createOpenIdRoute in tokenEndpoint.ts). Then:
// - claimed_user_id must be the verified user; slot_id must be the room-wide call;
// - publish + subscribe when the device's live membership has this SFU as its
//   active focus (our own transport, or a `livekit` one with our service URL);
// - subscribe only when the device has a live membership whose focus is
//   elsewhere (a multi-SFU member) while some live member publishes here;
// - publish + subscribe on a pending token when the joined user's device has no
//   membership yet (Element Call asks before it publishes one; the connect binds
//   the token to the membership: pendingMembership.ts);
// - anything else is refused with the Matrix envelope.
// The reply is `{url, jwt}`: url is where livekit-client connects (it appends
// /rtc), jwt carries the LiveKit claims Element Call decodes (SfuToken.ts).
// The delay_* fields are parsed and handed to `onDelegation` (the livekit edge
// keeps the member's delayed leave alive while it is connected).

import { num, obj, opt, str } from '../../common/protocol/schema.ts';
import { AdmissionError } from './errors.ts';
import { createOpenIdRoute, routeOrRefuse, type RoomTarget, type TokenEndpointOptions } from './tokenEndpoint.ts';
import type { LiveKitGrant } from './SfuToken.ts';
import { PENDING_MEMBERSHIP } from './pendingMembership.ts';

/** The only MatrixRTC slot this SFU serves: the room-wide call (application m.call, call id ""). */
export const ROOM_CALL_SLOT = 'm.call#ROOM';

/** Body of POST /get_token (MSC4195). */
export const getTokenBodySchema = obj({
  room_id: str({ minLength: 2, maxLength: 255, pattern: /^![^\s]+$/ }),
  slot_id: str({ minLength: 1, maxLength: 255 }),
  openid_token: obj({
    access_token: str({ minLength: 1, maxLength: 1024 }),
    token_type: opt(str({ maxLength: 32 })),
    matrix_server_name: str({ minLength: 1, maxLength: 255 }),
    expires_in: opt(num({ int: true, min: 0, max: 86_400 })),
  }),
  member: obj({
    id: str({ minLength: 1, maxLength: 511 }),
    claimed_user_id: str({ minLength: 3, maxLength: 255, pattern: /^@\S+:\S+$/ }),
    claimed_device_id: str({ minLength: 1, maxLength: 255, pattern: /^\S+$/ }),
  }),
  delay_id: opt(str({ minLength: 1, maxLength: 255 })),
  delay_timeout: opt(num({ int: true, min: 0, max: 86_400_000 })),
  delay_cs_api_url: opt(str({ maxLength: 1024 })),
});

/** A member's request to keep its delayed leave alive while it is connected (MSC4140 delegation). */
export interface DelayDelegation {
  readonly roomId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly delayId: string;
  readonly delayTimeoutMs: number;
  /** Client-server API base URL the client named; the receiver validates it against the user's homeserver. */
  readonly csApiUrl: string;
}

/** Options of createGetTokenEndpoint(). */
export interface GetTokenEndpointOptions extends Omit<TokenEndpointOptions, 'signallingUrl'> {
  /** Base URL livekit-client connects to (it appends /rtc): ws(s)://<server.publicUrl host>. */
  readonly liveKitUrl: string;
  /** Called for a granted request that carries delay_id, delay_timeout and delay_cs_api_url. */
  /** `target`: in a cluster, the node serving the room (the delegation belongs there). */
  readonly onDelegation?: (delegation: DelayDelegation, target?: RoomTarget) => void;
}

/** The grant for a device, or the refusal reason (thrown). */
export function liveKitGrantFor(
  membership: TokenEndpointOptions['membership'],
  roomId: string,
  userId: string,
  deviceId: string,
): { grant: LiveKitGrant; membershipId: string } {
  const check = membership.check(roomId, userId, deviceId);
  if (check.ok) return { grant: { canPublish: true, canSubscribe: true }, membershipId: check.membershipId };
  // Element Call asks before it publishes its membership: a pending token, bound at connect.
  if (check.reason === 'no_membership') return { grant: { canPublish: true, canSubscribe: true }, membershipId: PENDING_MEMBERSHIP };
  if (check.reason === 'membership_other_sfu' && membership.checkSubscriber) {
    const subscriber = membership.checkSubscriber(roomId, userId, deviceId);
    if (subscriber.ok) return { grant: { canPublish: false, canSubscribe: true }, membershipId: subscriber.membershipId };
    throw new AdmissionError(subscriber.reason, `subscribe-only check failed for ${userId} ${deviceId}`);
  }
  throw new AdmissionError(check.reason, `membership check failed for ${userId} ${deviceId}`);
}

/** Creates the /get_token route handler. */
export function createGetTokenEndpoint(options: GetTokenEndpointOptions) {
  return createOpenIdRoute(options, {
    schema: getTokenBodySchema,
    openIdToken: (body) => body.openid_token,
    issue: async (body, userId) => {
      if (body.member.claimed_user_id !== userId) throw new AdmissionError('openid_invalid', 'claimed_user_id is not the OpenID user');
      if (body.slot_id !== ROOM_CALL_SLOT) throw new AdmissionError('no_membership', `slot ${body.slot_id} is not served`);
      const deviceId = body.member.claimed_device_id;
      if (options.roomVisible && !(await options.roomVisible(body.room_id))) {
        throw new AdmissionError('room_not_visible', `no source of room state sees ${body.room_id}`);
      }
      const { grant, membershipId } = liveKitGrantFor(options.membership, body.room_id, userId, deviceId);
      const target = options.route ? await routeOrRefuse(options.route, body.room_id) : undefined;
      const url = target?.liveKitUrl ?? options.liveKitUrl;
      const { jwt } = await options.tokens.mint({ userId, deviceId, roomId: body.room_id, membershipId, grant });
      // A pending token has no membership yet whose delayed leave could be kept alive.
      if (membershipId !== PENDING_MEMBERSHIP && body.delay_id !== undefined && body.delay_timeout !== undefined && body.delay_cs_api_url !== undefined) {
        options.onDelegation?.({
          roomId: body.room_id,
          userId,
          deviceId,
          delayId: body.delay_id,
          delayTimeoutMs: body.delay_timeout,
          csApiUrl: body.delay_cs_api_url,
        }, target);
      }
      return {
        reply: { url, jwt },
        log: { deviceId, roomId: body.room_id, canPublish: grant.canPublish, endpoint: '/get_token' },
      };
    },
  });
}
