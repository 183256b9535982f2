// Ephemeral TURN credentials in the TURN REST scheme (draft-uberti-behave-turn-rest, as
// coturn's `use-auth-secret` checks them): the username is `expiry:identity` with the expiry
// in Unix seconds, the password is base64(HMAC-SHA1(shared secret, username)). The TURN server
// recomputes the password from the username, and refuses it once the expiry has passed, also
// for refreshes of an existing allocation. Pure functions; nothing here logs.

import { createHash, createHmac } from 'node:crypto';

/** One credential for the configured TURN URLs. */
export interface TurnCredential {
  /** `expiry:identity`. */
  readonly username: string;
  /** base64(HMAC-SHA1(secret, username)). */
  readonly credential: string;
  /** When the TURN server stops accepting it (ms since the epoch, whole seconds). */
  readonly expiresAtMs: number;
}

/** Longest identity part we put in a username (STUN USERNAME is < 513 bytes). */
export const MAX_IDENTITY_LENGTH = 64;

/**
 * The opaque identity of a participant in TURN usernames: 16 hex digits of SHA-256 over the
 * participant id, so the TURN server's logs correlate one participant's allocations without
 * naming the Matrix user.
 */
export function turnIdentity(participantId: string): string {
  return createHash('sha256').update(participantId).digest('hex').slice(0, 16);
}

/**
 * A TURN REST credential for `identity`, valid `lifetimeMs` from `nowMs`.
 * @throws {TypeError} on an empty secret, an identity that is empty, too long or holds ':', or a non-positive lifetime.
 */
export function turnRestCredential(secret: string, identity: string, nowMs: number, lifetimeMs: number): TurnCredential {
  if (secret.length === 0) throw new TypeError('TURN shared secret is empty');
  if (identity.length === 0 || identity.length > MAX_IDENTITY_LENGTH || identity.includes(':')) {
    throw new TypeError(`TURN identity must be 1-${MAX_IDENTITY_LENGTH} characters without ':'`);
  }
  if (!(lifetimeMs > 0)) throw new TypeError('TURN credential lifetime must be positive');
  const expirySeconds = Math.floor((nowMs + lifetimeMs) / 1000);
  const username = `${expirySeconds}:${identity}`;
  return { username, credential: turnRestPassword(secret, username), expiresAtMs: expirySeconds * 1000 };
}

/** The password a TURN server with `secret` expects for `username`. */
export function turnRestPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}
