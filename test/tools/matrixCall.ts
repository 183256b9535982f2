// Test scenario builders for Matrix admission: matrix-js-sdk clients of
// registered users joining a room's MatrixRTC session with our transport,
// then trading an OpenID token for an SFU JWT.

import { ClientEvent, createClient, type MatrixClient, type Room } from 'matrix-js-sdk';
import type { MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/MatrixRTCSession.js';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { registerUser, type RegisteredUser } from '../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { MatrixTestClient } from './synapse/MatrixTestClient.ts';
import { membershipStateKey } from '../../src/server/matrix/callMembership.ts';
import { quietSdkGlobalLogger, sdkLoggerFor } from '../../src/server/matrix/sdkLogger.ts';

quietSdkGlobalLogger();

/** A started matrix-js-sdk client of one registered user. */
export interface SdkUser {
  readonly user: RegisteredUser;
  readonly client: MatrixClient;
}

/** Starts a matrix-js-sdk client and waits for its first sync. */
export async function startSdkClient(baseUrl: string, user: RegisteredUser): Promise<SdkUser> {
  const client = createClient({
    baseUrl,
    userId: user.userId,
    deviceId: user.deviceId,
    accessToken: user.accessToken,
    logger: sdkLoggerFor(silentLogger()),
  });
  const ready = new Promise<void>((resolve) => {
    client.on(ClientEvent.Sync, (state) => {
      if (state === 'PREPARED') resolve();
    });
  });
  await client.startClient({ initialSyncLimit: 0 });
  await ready;
  return { user, client };
}

/** Waits until the client sees itself joined to `roomId`. */
export async function joinedRoom(sdk: SdkUser, roomId: string): Promise<Room> {
  return waitFor(() => {
    const room = sdk.client.getRoom(roomId);
    return room?.getMyMembership() === 'join' ? room : undefined;
  }, { description: `${sdk.user.userId} joined ${roomId}` });
}

/** Joins the room's MatrixRTC session with `focus` as multi-SFU transport (js-sdk's own MembershipManager). */
export function joinCall(sdk: SdkUser, room: Room, focus: { type: string; [key: string]: unknown }, delayedLeaveMs = 2000): MatrixRTCSession {
  const session = sdk.client.matrixRTC.getRoomSession(room);
  session.joinRTCSession(
    { userId: sdk.user.userId, deviceId: sdk.user.deviceId, memberId: `${sdk.user.userId}:${sdk.user.deviceId}` },
    [focus as never],
    focus as never,
    { manageMediaKeys: false, delayedLeaveEventDelayMs: delayedLeaveMs, delayedLeaveEventRestartMs: 500 } as never,
  );
  return session;
}

/** POST /sfu/get with a fresh OpenID token of `sdk`'s user. */
export async function requestSfuToken(
  sfuBaseUrl: string,
  sdk: SdkUser,
  roomId: string,
  overrides: { deviceId?: string; body?: Record<string, unknown> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const openid = await sdk.client.getOpenIdToken();
  const body = overrides.body ?? {
    room: roomId,
    openid_token: openid,
    device_id: overrides.deviceId ?? sdk.user.deviceId,
  };
  const response = await fetch(`${sfuBaseUrl}/sfu/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * POST {sfuBaseUrl}/get_token the way Element Call asks (room, `m.call#ROOM` slot, OpenID token,
 * member claims of `sdk`'s user and device), with `extra` body fields (delay_*, or overrides);
 * `openid` reuses an OpenID token instead of asking the homeserver for a fresh one.
 */
export async function requestLiveKitToken(
  sfuBaseUrl: string,
  sdk: SdkUser,
  roomId: string,
  options: { extra?: Record<string, unknown>; openid?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const openid = options.openid ?? (await sdk.client.getOpenIdToken());
  const response = await fetch(`${sfuBaseUrl}/get_token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      room_id: roomId,
      slot_id: 'm.call#ROOM',
      openid_token: openid,
      member: { id: `${sdk.user.userId}:${sdk.user.deviceId}`, claimed_user_id: sdk.user.userId, claimed_device_id: sdk.user.deviceId },
      ...options.extra,
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Where the users of a test room come from: the homeserver, who invites, and the room. */
export interface TestRoomSource {
  readonly synapse: { readonly baseUrl: string; readonly sharedSecret: string };
  /** Read when a user is added (the room is usually created in beforeAll). */
  readonly room: () => { readonly inviter: Pick<MatrixTestClient, 'invite'>; readonly roomId: string };
}

/** Registers users with unique names, and js-sdk users invited into and joined to the test room. */
export interface TestRoomUsers {
  /** Registers `${localpart}${unique}` with a password. */
  user(localpart: string): Promise<RegisteredUser>;
  /** Registers a user, invites it, starts its js-sdk client and joins the room; kept in `sdkUsers`. */
  sdkUserInRoom(localpart: string): Promise<SdkUser>;
  /** Every js-sdk user started here (and any the test pushes), for teardown. */
  readonly sdkUsers: SdkUser[];
}

/** The user factory the Matrix integration files share. */
export function testRoomUsers(source: TestRoomSource): TestRoomUsers {
  const sdkUsers: SdkUser[] = [];
  let counter = 0;
  const user = (localpart: string): Promise<RegisteredUser> =>
    registerUser(source.synapse.baseUrl, source.synapse.sharedSecret, `${localpart}${Date.now()}${counter++}`, 'pw-' + localpart);
  return {
    user,
    sdkUsers,
    async sdkUserInRoom(localpart) {
      const registered = await user(localpart);
      const { inviter, roomId } = source.room();
      await inviter.invite(roomId as never, registered.userId);
      const sdk = await startSdkClient(source.synapse.baseUrl, registered);
      sdkUsers.push(sdk);
      await sdk.client.joinRoom(roomId);
      await joinedRoom(sdk, roomId);
      return sdk;
    },
  };
}

/** A call membership published the way Element Call publishes it, with its delayed leave. */
export interface DelayedMembership {
  /** The member's own client-server API client. */
  readonly http: MatrixTestClient;
  readonly stateKey: string;
  /** The MSC4140 delayed leave's id (what `/get_token` gets as `delay_id`). */
  readonly delayId: string;
  /** Whether the membership is still in the room state (the delayed leave has not fired). */
  live(): Promise<boolean>;
}

/**
 * Publishes `sdk`'s LiveKit call membership in Element Call's order: the delayed leave first
 * (an empty membership after `delayMs`, MSC4140), then the membership naming `focus`.
 * `content` adds fields (e.g. `membershipID`).
 */
export async function publishDelayedMembership(
  synapseBaseUrl: string,
  sdk: SdkUser,
  roomId: string,
  options: { readonly focus: Record<string, unknown>; readonly delayMs: number; readonly content?: Record<string, unknown> },
): Promise<DelayedMembership> {
  const http = new MatrixTestClient({ baseUrl: synapseBaseUrl, ...sdk.user });
  const stateKey = membershipStateKey(sdk.user.userId as never, sdk.user.deviceId as never);
  const delayId = await http.sendDelayedState(roomId as never, 'org.matrix.msc3401.call.member', stateKey, {}, options.delayMs);
  await http.sendState(roomId as never, 'org.matrix.msc3401.call.member', stateKey, {
    application: 'm.call',
    call_id: '',
    scope: 'm.room',
    device_id: sdk.user.deviceId,
    ...options.content,
    expires: 14_400_000,
    focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
    foci_preferred: [options.focus],
  });
  const live = async (): Promise<boolean> => {
    const event = await http.stateEvent(roomId as never, 'org.matrix.msc3401.call.member', stateKey);
    return (event?.content as { application?: string } | undefined)?.application === 'm.call';
  };
  return { http, stateKey, delayId, live };
}
