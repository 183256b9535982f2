// The browser side of MatrixRTC admission without an embedding host: log in (or use an
// access token), publish this device's call membership and keep it published
// (CallMembership.ts), trade an OpenID token for an SFU JWT at {sfu_service_url}/sfu/get,
// and leave by emptying the membership. Plain fetch against the client-server API
// (matrixHttp.ts); the widget's embedded mode uses matrix-js-sdk instead. See README.md.

import { isRateLimited, matrixRequest, MatrixRequestError, type MatrixSession } from './matrixHttp.ts';
import { backoffDelayMs } from './retry.ts';
import type { SfuFocus } from './CallMembership.ts';

export { MatrixRequestError, isRateLimited, isTransient, matrixRequest, type MatrixSession } from './matrixHttp.ts';
export {
  CALL_MEMBER_TYPE,
  CallMembership,
  membershipStateKey,
  type CallMembershipEvents,
  type CallMembershipOptions,
  type RestoreReason,
  type SfuFocus,
} from './CallMembership.ts';
export { liveKitFocusOf, preferredFoci, servesLiveKitFocus, type LiveKitFocus } from './foci.ts';

/**
 * Password login; returns the device's session. With `deviceId` (a device this browser used
 * before) the homeserver reuses that device instead of creating another one.
 */
export async function loginWithPassword(homeserverUrl: string, user: string, password: string, deviceId?: string): Promise<MatrixSession> {
  const result = await matrixRequest<{ user_id: string; device_id: string; access_token: string }>({
    homeserverUrl,
    what: 'login',
    method: 'POST',
    path: '/_matrix/client/v3/login',
    body: {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user },
      password,
      initial_device_display_name: 'SFU call',
      ...(deviceId ? { device_id: deviceId } : {}),
    },
  });
  return { homeserverUrl, userId: result.user_id, deviceId: result.device_id, accessToken: result.access_token };
}

/**
 * Trades a fresh OpenID token for a JWT at our SFU. The SFU sees our membership only once
 * its own sync delivers it, so a 403 or 503 right after publishing is retried (bounded:
 * `attempts`, 500 ms apart); a 429 (ours or the homeserver's) waits for the server's
 * Retry-After, or backs off exponentially with jitter.
 */
export async function requestSfuAccess(session: MatrixSession, roomId: string, focus: SfuFocus, attempts = 20): Promise<{ url: string; jwt: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestSfuAccessOnce(session, roomId, focus);
    } catch (error) {
      const limited = isRateLimited(error);
      const retriable = limited || (error instanceof MatrixRequestError && (error.status === 403 || error.status === 503));
      if (!retriable || attempt >= attempts) throw error;
      const delay = limited ? (error.retryAfterMs ?? backoffDelayMs(attempt, { baseMs: 1000, maxMs: 30_000 })) : 500;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function requestSfuAccessOnce(session: MatrixSession, roomId: string, focus: SfuFocus): Promise<{ url: string; jwt: string }> {
  const openid = await matrixRequest<Record<string, unknown>>({
    homeserverUrl: session.homeserverUrl,
    accessToken: session.accessToken,
    what: 'OpenID token',
    method: 'POST',
    path: `/_matrix/client/v3/user/${encodeURIComponent(session.userId)}/openid/request_token`,
    body: {},
  });
  const body = await matrixRequest<Record<string, unknown>>({
    homeserverUrl: focus.sfu_service_url,
    what: 'SFU admission',
    method: 'POST',
    path: '/sfu/get',
    body: {
      room: roomId,
      device_id: session.deviceId,
      openid_token: {
        access_token: openid['access_token'],
        token_type: openid['token_type'],
        matrix_server_name: openid['matrix_server_name'],
        expires_in: openid['expires_in'],
      },
    },
    timeoutMs: 15_000,
  });
  if (typeof body['url'] !== 'string' || typeof body['jwt'] !== 'string') throw new MatrixRequestError('SFU admission (no url or jwt)', 200, undefined);
  return { url: body['url'], jwt: body['jwt'] };
}
