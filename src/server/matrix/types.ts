// Branded Matrix identifiers and their parsers. A branded id has passed its parser once,
// so code downstream never re-checks, and a user id cannot be passed where a device id goes.

/** A Matrix user id, `@localpart:server_name` (Matrix spec, appendix "User Identifiers"). */
export type MatrixUserId = string & { readonly __brand: 'MatrixUserId' };

/** A Matrix device id: opaque, chosen by the homeserver or the client. */
export type DeviceId = string & { readonly __brand: 'DeviceId' };

/** A Matrix room id: `!opaque:server_name`, or `!opaque` from room version 12 on. */
export type RoomId = string & { readonly __brand: 'RoomId' };

/** A Matrix server name, `host[:port]`, as found after the first `:` of a user id. */
export type ServerName = string & { readonly __brand: 'ServerName' };

/** Longest user id, room id or device id we accept, in characters (the spec's limit is 255 bytes). */
const MAX_ID_LENGTH = 255;

// Spec, appendix "Server Name": an IPv4 literal, a bracketed IPv6 literal or a DNS name,
// then an optional port of 1 to 5 digits. Server names never contain `_`, which is what
// lets the membership state key `{userId}_{deviceId}_…` be split after the user id.
const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::[0-9]{1,5})?$/;

// Spec, appendix "Historical User IDs": printable ASCII except `:` in the localpart.
const HISTORICAL_LOCALPART = /^[\x21-\x39\x3B-\x7E]+$/;

/** Returns `value` as a {@link ServerName}, or undefined if it is not one. */
export function parseServerName(value: unknown): ServerName | undefined {
  if (typeof value !== 'string' || value.length > MAX_ID_LENGTH || !SERVER_NAME.test(value)) return undefined;
  return value as ServerName;
}

/**
 * Returns `value` as a {@link MatrixUserId}, or undefined if it is not one. Historical
 * localparts (any printable ASCII but `:`) are accepted, since old accounts still exist.
 */
export function parseMatrixUserId(value: unknown): MatrixUserId | undefined {
  if (typeof value !== 'string' || value.length > MAX_ID_LENGTH || !value.startsWith('@')) return undefined;
  const colon = value.indexOf(':');
  if (colon < 2) return undefined;
  const localpart = value.slice(1, colon);
  if (!HISTORICAL_LOCALPART.test(localpart)) return undefined;
  if (parseServerName(value.slice(colon + 1)) === undefined) return undefined;
  return value as MatrixUserId;
}

/** The server name part of a user id. */
export function serverNameOf(userId: MatrixUserId): ServerName {
  return userId.slice(userId.indexOf(':') + 1) as ServerName;
}

/** Returns `value` as a {@link DeviceId} (a non-empty string of at most 255 characters), or undefined. */
export function parseDeviceId(value: unknown): DeviceId | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) return undefined;
  return value as DeviceId;
}

/** Returns `value` as a {@link RoomId} (`!` followed by at least one character), or undefined. */
export function parseRoomId(value: unknown): RoomId | undefined {
  if (typeof value !== 'string' || value.length < 2 || value.length > MAX_ID_LENGTH || !value.startsWith('!')) {
    return undefined;
  }
  return value as RoomId;
}
