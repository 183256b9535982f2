// The browser side of MatrixRTC admission without an embedding host: log in
// (or use an access token), publish this device's call membership the way
// matrix-js-sdk does (delayed leave first, then the membership, then keep the
// delayed leave alive), trade an OpenID token for an SFU JWT at
// {sfu_service_url}/sfu/get, and leave by emptying the membership. Plain fetch
// against the client-server API; the widget uses matrix-js-sdk instead.

/** A logged-in Matrix device. */
export interface MatrixSession {
  readonly homeserverUrl: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
}

/** Our transport, as it appears in foci_preferred. */
export interface SfuFocus {
  readonly type: string;
  readonly sfu_service_url: string;
}

/** A Matrix request that failed, with the server's errcode. */
export class MatrixRequestError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;
  constructor(what: string, status: number, errcode: string | undefined) {
    super(`${what} failed: HTTP ${status}${errcode ? ` ${errcode}` : ''}`);
    this.name = 'MatrixRequestError';
    this.status = status;
    this.errcode = errcode;
  }
}

/** Event type of call memberships. */
export const CALL_MEMBER_TYPE = 'org.matrix.msc3401.call.member';

async function call<T>(session: Pick<MatrixSession, 'homeserverUrl'> & { accessToken?: string }, what: string, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (session.accessToken) headers['authorization'] = `Bearer ${session.accessToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${session.homeserverUrl.replace(/\/$/, '')}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const parsed = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) throw new MatrixRequestError(what, response.status, typeof parsed['errcode'] === 'string' ? parsed['errcode'] : undefined);
  return parsed as T;
}

/** Password login; returns the new device's session. */
export async function loginWithPassword(homeserverUrl: string, user: string, password: string): Promise<MatrixSession> {
  const result = await call<{ user_id: string; device_id: string; access_token: string }>({ homeserverUrl }, 'login', 'POST', '/_matrix/client/v3/login', {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user },
    password,
    initial_device_display_name: 'SFU call',
  });
  return { homeserverUrl, userId: result.user_id, deviceId: result.device_id, accessToken: result.access_token };
}

/** The state key of this device's membership in a normal room (MATRIXRTC.md §3.1). */
export function membershipStateKey(session: MatrixSession): string {
  return `_${session.userId}_${session.deviceId}_m.call`;
}

function statePath(roomId: string, stateKey: string): string {
  return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(CALL_MEMBER_TYPE)}/${encodeURIComponent(stateKey)}`;
}

/** Options of CallMembership.join(). */
export interface CallMembershipOptions {
  readonly session: MatrixSession;
  readonly roomId: string;
  readonly focus: SfuFocus;
  /** Delay of the pre-scheduled leave (MSC4140). Default 10 000 ms (Element Call's). */
  readonly delayedLeaveMs?: number;
  /** How often the delayed leave is restarted. Default 5000 ms. */
  readonly restartEveryMs?: number;
}

/** This device's published membership; keeps its delayed leave alive until leave(). */
export class CallMembership {
  readonly #options: CallMembershipOptions;
  #delayId: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #left = false;

  /** Schedules the delayed leave, then publishes the membership (multi_sfu, our focus). */
  static async join(options: CallMembershipOptions): Promise<CallMembership> {
    const membership = new CallMembership(options);
    await membership.#publish();
    return membership;
  }

  private constructor(options: CallMembershipOptions) {
    this.#options = options;
  }

  async #publish(): Promise<void> {
    const { session, roomId, focus } = this.#options;
    const path = statePath(roomId, membershipStateKey(session));
    const delay = this.#options.delayedLeaveMs ?? 10_000;
    try {
      const scheduled = await call<{ delay_id: string }>(session, 'schedule delayed leave', 'PUT', `${path}?org.matrix.msc4140.delay=${delay}`, {});
      this.#delayId = scheduled.delay_id;
    } catch (error) {
      // Without MSC4140 a crashed client lingers until `expires`; the call still works.
      console.warn('delayed leave unavailable', error);
    }
    await call(session, 'publish call membership', 'PUT', path, {
      application: 'm.call',
      call_id: '',
      scope: 'm.room',
      device_id: session.deviceId,
      expires: 14_400_000,
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: [focus],
      created_ts: Date.now(),
    });
    if (this.#delayId) {
      this.#timer = setInterval(() => void this.#restart(), this.#options.restartEveryMs ?? 5000);
    }
  }

  async #restart(): Promise<void> {
    if (!this.#delayId || this.#left) return;
    try {
      await call(this.#options.session, 'restart delayed leave', 'POST', `/_matrix/client/unstable/org.matrix.msc4140/delayed_events/${encodeURIComponent(this.#delayId)}/restart`, {});
    } catch (error) {
      console.warn('could not restart the delayed leave', error);
    }
  }

  /** Empties the membership (the delayed leave is sent now, or `{}` is written). Idempotent. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    if (this.#timer) clearInterval(this.#timer);
    const { session, roomId } = this.#options;
    if (this.#delayId) {
      try {
        await call(session, 'send delayed leave', 'POST', `/_matrix/client/unstable/org.matrix.msc4140/delayed_events/${encodeURIComponent(this.#delayId)}/send`, {});
        return;
      } catch (error) {
        console.warn('could not send the delayed leave; writing {}', error);
      }
    }
    await call(session, 'leave call', 'PUT', statePath(roomId, membershipStateKey(session)), {});
  }
}

/**
 * Trades a fresh OpenID token for a JWT at our SFU. The SFU sees our
 * membership only once its own sync delivers it, so a 403 or 503 right after
 * publishing is retried (bounded: `attempts`, 500 ms apart).
 */
export async function requestSfuAccess(session: MatrixSession, roomId: string, focus: SfuFocus, attempts = 20): Promise<{ url: string; jwt: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await requestSfuAccessOnce(session, roomId, focus);
    } catch (error) {
      const retriable = error instanceof MatrixRequestError && (error.status === 403 || error.status === 503);
      if (!retriable || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

async function requestSfuAccessOnce(session: MatrixSession, roomId: string, focus: SfuFocus): Promise<{ url: string; jwt: string }> {
  const openid = await call<Record<string, unknown>>(session, 'OpenID token', 'POST', `/_matrix/client/v3/user/${encodeURIComponent(session.userId)}/openid/request_token`, {});
  const response = await fetch(`${focus.sfu_service_url.replace(/\/$/, '')}/sfu/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      room: roomId,
      device_id: session.deviceId,
      openid_token: {
        access_token: openid['access_token'],
        token_type: openid['token_type'],
        matrix_server_name: openid['matrix_server_name'],
        expires_in: openid['expires_in'],
      },
    }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok || typeof body['url'] !== 'string' || typeof body['jwt'] !== 'string') {
    throw new MatrixRequestError('SFU admission', response.status, typeof body['errcode'] === 'string' ? body['errcode'] : undefined);
  }
  return { url: body['url'], jwt: body['jwt'] };
}
