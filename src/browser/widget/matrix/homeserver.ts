// The few client-server API calls standalone mode makes beside src/browser/client/matrix/matrixCall.ts
// (which logs in and publishes the membership): whoami for access-token login, the joined
// rooms with their names and live call members for the picker, member names for tiles,
// OpenID for admission, and logout. Plain fetch (matrixRequest); errors are MatrixRequestError
// with the server's errcode and retry hint, or the fetch's own TypeError when the server is
// unreachable.

import { matrixRequest, MatrixRequestError, type MatrixSession } from '../../client/matrix/matrixCall.ts';
import type { OpenIdToken } from '../call/admission.ts';
import { CALL_MEMBER_EVENT_TYPE } from './capabilities.ts';

/** A room the person may call in. */
export interface RoomSummary {
  readonly roomId: string;
  readonly name: string;
  /** Devices with a live call membership (room-wide call). */
  readonly callMembers: number;
}

/** Rooms listed at most (a picker is not a room directory). */
export const MAX_ROOMS = 50;
const REQUEST_TIMEOUT_MS = 10_000;

function request<T>(homeserverUrl: string, accessToken: string | undefined, what: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<T> {
  return matrixRequest<T>({ homeserverUrl, accessToken, what, method, path, ...(body !== undefined ? { body } : {}), timeoutMs: REQUEST_TIMEOUT_MS });
}

const room = (roomId: string): string => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;

/** The session of an existing access token. */
export async function sessionFromToken(homeserverUrl: string, accessToken: string): Promise<MatrixSession> {
  const me = await request<{ user_id?: unknown; device_id?: unknown }>(homeserverUrl, accessToken, 'whoami', 'GET', '/_matrix/client/v3/account/whoami');
  if (typeof me.user_id !== 'string' || typeof me.device_id !== 'string') throw new MatrixRequestError('whoami (no device)', 400, 'M_UNKNOWN_TOKEN');
  return { homeserverUrl, userId: me.user_id, deviceId: me.device_id, accessToken };
}

interface StateEvent {
  readonly type?: unknown;
  readonly state_key?: unknown;
  readonly sender?: unknown;
  readonly content?: Record<string, unknown>;
  readonly origin_server_ts?: unknown;
}

/** Whether a call membership event is live (src/server/matrix/README.md §3, §5; membership join checked by the caller). */
function isLiveMembership(event: StateEvent, now: number): boolean {
  const content = event.content ?? {};
  if (typeof content['application'] !== 'string' || content['call_id'] !== '') return false;
  const created = typeof content['created_ts'] === 'number' ? content['created_ts'] : typeof event.origin_server_ts === 'number' ? event.origin_server_ts : now;
  const expires = typeof content['expires'] === 'number' ? content['expires'] : 14_400_000;
  return created + expires > now;
}

/** Name, member names and call members of one room, from its full state. */
function summarise(roomId: string, state: readonly StateEvent[], selfId: string): RoomSummary {
  const joined = new Map<string, string>();
  let name: string | undefined;
  let alias: string | undefined;
  for (const event of state) {
    const content = event.content ?? {};
    if (event.type === 'm.room.name' && typeof content['name'] === 'string' && content['name'].trim()) name = content['name'].trim();
    if (event.type === 'm.room.canonical_alias' && typeof content['alias'] === 'string') alias = content['alias'];
    if (event.type === 'm.room.member' && content['membership'] === 'join' && typeof event.state_key === 'string') {
      joined.set(event.state_key, typeof content['displayname'] === 'string' && content['displayname'] ? content['displayname'] : event.state_key);
    }
  }
  const now = Date.now();
  const callMembers = state.filter((event) => event.type === CALL_MEMBER_EVENT_TYPE && typeof event.sender === 'string' && joined.has(event.sender) && isLiveMembership(event, now)).length;
  const others = [...joined].filter(([userId]) => userId !== selfId).map(([, display]) => display);
  return { roomId, name: name ?? alias ?? (others.length > 0 ? others.slice(0, 3).join(', ') : roomId), callMembers };
}

/** The joined rooms (at most MAX_ROOMS), rooms with a call first, then by name. */
export async function listRooms(session: MatrixSession): Promise<RoomSummary[]> {
  const { joined_rooms: joinedRooms } = await request<{ joined_rooms: string[] }>(session.homeserverUrl, session.accessToken, 'joined rooms', 'GET', '/_matrix/client/v3/joined_rooms');
  const roomIds = (Array.isArray(joinedRooms) ? joinedRooms : []).filter((id): id is string => typeof id === 'string').slice(0, MAX_ROOMS);
  const summaries: RoomSummary[] = [];
  // Four at a time: a picker should not hammer the homeserver.
  for (let index = 0; index < roomIds.length; index += 4) {
    const batch = roomIds.slice(index, index + 4);
    const results = await Promise.allSettled(
      batch.map(async (roomId) => summarise(roomId, await request<StateEvent[]>(session.homeserverUrl, session.accessToken, 'room state', 'GET', `${room(roomId)}/state`), session.userId)),
    );
    results.forEach((result, i) => summaries.push(result.status === 'fulfilled' ? result.value : { roomId: batch[i] as string, name: batch[i] as string, callMembers: 0 }));
  }
  return summaries.sort((a, b) => Number(b.callMembers > 0) - Number(a.callMembers > 0) || a.name.localeCompare(b.name));
}

/** Display names of the room's joined members. */
export async function memberNames(session: MatrixSession, roomId: string): Promise<Map<string, string>> {
  const result = await request<{ joined?: Record<string, { display_name?: unknown }> }>(session.homeserverUrl, session.accessToken, 'members', 'GET', `${room(roomId)}/joined_members`);
  const names = new Map<string, string>();
  for (const [userId, profile] of Object.entries(result.joined ?? {})) {
    names.set(userId, typeof profile.display_name === 'string' && profile.display_name ? profile.display_name : userId);
  }
  return names;
}

/** A fresh OpenID token of the session's user. */
export function requestOpenIdToken(session: MatrixSession): Promise<OpenIdToken> {
  return request<OpenIdToken>(session.homeserverUrl, session.accessToken, 'OpenID token', 'POST', `/_matrix/client/v3/user/${encodeURIComponent(session.userId)}/openid/request_token`, {});
}

/** Ends the session (the device is deleted). */
export async function logout(session: MatrixSession): Promise<void> {
  await request(session.homeserverUrl, session.accessToken, 'logout', 'POST', '/_matrix/client/v3/logout', {});
}
