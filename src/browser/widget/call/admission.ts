// Admission: trade an OpenID token for an SFU JWT at {sfu_service_url}/sfu/get (README
// "Admission", lk-jwt-service's request shape). The SFU admits a device only once its own
// sync has seen the device's membership, so right after publishing it a 403 or 503 is
// expected and retried (bounded). An expired OpenID token (401) is replaced once.

import { MatrixRequestError } from '../../client/matrix/matrixCall.ts';
import { WidgetError } from '../errors.ts';

/** An OpenID token as the homeserver (or the widget host) hands it out. */
export interface OpenIdToken {
  readonly access_token: string;
  readonly token_type: string;
  readonly matrix_server_name: string;
  readonly expires_in: number;
}

/** Options of admitToSfu(). */
export interface AdmissionOptions {
  readonly sfuServiceUrl: string;
  readonly roomId: string;
  readonly deviceId: string;
  /** Asked once, and once more after a 401. */
  readonly getOpenIdToken: () => Promise<OpenIdToken>;
  /** Tries while the SFU has not seen our membership yet. Default 24 (about 12 s). */
  readonly attempts?: number;
  /** Pause between tries. Default 500 ms. */
  readonly retryDelayMs?: number;
  /** Per-request timeout. Default 15 000 ms: the SFU validates the token at our homeserver. */
  readonly requestTimeoutMs?: number;
  /** Stops waiting (hang-up during admission). */
  readonly signal?: AbortSignal;
}

/** Where to connect and with what. */
export interface SfuAccess {
  readonly url: string;
  readonly jwt: string;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

async function fetchOpenId(options: AdmissionOptions): Promise<OpenIdToken> {
  try {
    return await options.getOpenIdToken();
  } catch (error) {
    throw new WidgetError('OPENID_DENIED', 'no OpenID token', { cause: error });
  }
}

async function postOnce(options: AdmissionOptions, token: OpenIdToken): Promise<SfuAccess> {
  const signals = [AbortSignal.timeout(options.requestTimeoutMs ?? 15_000), ...(options.signal ? [options.signal] : [])];
  const response = await fetch(`${options.sfuServiceUrl.replace(/\/+$/, '')}/sfu/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      room: options.roomId,
      device_id: options.deviceId,
      openid_token: {
        access_token: token.access_token,
        token_type: token.token_type,
        matrix_server_name: token.matrix_server_name,
        expires_in: token.expires_in,
      },
    }),
    signal: AbortSignal.any(signals),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.ok && typeof body['url'] === 'string' && typeof body['jwt'] === 'string') return { url: body['url'], jwt: body['jwt'] };
  throw new MatrixRequestError('SFU admission', response.status, typeof body['errcode'] === 'string' ? body['errcode'] : undefined);
}

/**
 * Asks the SFU for a JWT.
 * @throws WidgetError OPENID_DENIED when no token could be had, ADMISSION_FAILED (cause:
 * MatrixRequestError with status and errcode, or the network error) otherwise.
 */
export async function admitToSfu(options: AdmissionOptions): Promise<SfuAccess> {
  const attempts = options.attempts ?? 24;
  let token = await fetchOpenId(options);
  let renewed = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await postOnce(options, token);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const status = error instanceof MatrixRequestError ? error.status : 0;
      if (status === 401 && !renewed) {
        renewed = true;
        token = await fetchOpenId(options);
        continue;
      }
      // 403: the SFU's sync has not delivered our membership yet; 503: it cannot check right now.
      const retriable = status === 403 || status === 503;
      if (!retriable || attempt >= attempts) throw new WidgetError('ADMISSION_FAILED', 'SFU admission failed', { cause: error });
      await sleep(options.retryDelayMs ?? 500, options.signal);
    }
  }
}
