// Creates Synapse accounts through the shared-secret admin API
// (POST /_synapse/admin/v1/register, Synapse docs "Shared-Secret Registration"): fetch a
// nonce, then post the account with an HMAC-SHA1 over it keyed by registration_shared_secret.
import { createHmac } from 'node:crypto';

import type { DeviceId, MatrixUserId } from '../../matrix/types.ts';

/** Fields covered by the registration MAC, in the order Synapse hashes them. */
export interface RegistrationMacInput {
  readonly nonce: string;
  readonly username: string;
  readonly password: string;
  readonly admin: boolean;
}

/**
 * The `mac` field for shared-secret registration: hex HMAC-SHA1, keyed by the shared
 * secret, over `nonce NUL username NUL password NUL ("admin" | "notadmin")`.
 */
export function registrationMac(sharedSecret: string, input: RegistrationMacInput): string {
  const hmac = createHmac('sha1', Buffer.from(sharedSecret, 'utf8'));
  hmac.update(input.nonce, 'utf8');
  hmac.update('\x00');
  hmac.update(input.username, 'utf8');
  hmac.update('\x00');
  hmac.update(input.password, 'utf8');
  hmac.update('\x00');
  hmac.update(input.admin ? 'admin' : 'notadmin');
  return hmac.digest('hex');
}

/** A freshly registered account, logged in on one new device. */
export interface RegisteredUser {
  readonly userId: MatrixUserId;
  readonly accessToken: string;
  readonly deviceId: DeviceId;
}

/** Options for {@link registerUser}. */
export interface RegisterUserOptions {
  /** Make the account a server admin. Default false. */
  readonly admin?: boolean;
  /** Abort each HTTP request after this long. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
}

/**
 * Registers `localpart` on the homeserver at `baseUrl` with the shared secret and
 * returns its user id, access token and device id.
 *
 * @throws {Error} with the HTTP status and Matrix errcode when Synapse refuses.
 */
export async function registerUser(
  baseUrl: string,
  sharedSecret: string,
  localpart: string,
  password: string,
  options: RegisterUserOptions = {},
): Promise<RegisteredUser> {
  const admin = options.admin ?? false;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const url = new URL('/_synapse/admin/v1/register', baseUrl);

  const nonceBody = await fetchJson(url, { method: 'GET' }, timeoutMs, 'fetching the nonce');
  const nonce = nonceBody['nonce'];
  if (typeof nonce !== 'string') {
    throw new Error('shared-secret registration: the nonce response has no string nonce');
  }

  const body = {
    nonce,
    username: localpart,
    password,
    admin,
    mac: registrationMac(sharedSecret, { nonce, username: localpart, password, admin }),
  };
  const result = await fetchJson(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    timeoutMs,
    `registering ${localpart}`,
  );
  const { user_id: userId, access_token: accessToken, device_id: deviceId } = result;
  if (typeof userId !== 'string' || typeof accessToken !== 'string' || typeof deviceId !== 'string') {
    throw new Error('shared-secret registration: the response lacks user_id, access_token or device_id');
  }
  return {
    userId: userId as MatrixUserId,
    accessToken,
    deviceId: deviceId as DeviceId,
  };
}

async function fetchJson(
  url: URL,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<Record<string, unknown>> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`shared-secret registration: ${what}: HTTP ${response.status}, body is not JSON`, {
      cause: error,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`shared-secret registration: ${what}: HTTP ${response.status}, body is not an object`);
  }
  const record = parsed as Record<string, unknown>;
  if (!response.ok) {
    const errcode = typeof record['errcode'] === 'string' ? record['errcode'] : 'no errcode';
    const message = typeof record['error'] === 'string' ? record['error'] : '';
    throw new Error(`shared-secret registration: ${what}: HTTP ${response.status} ${errcode} ${message}`.trim());
  }
  return record;
}
