// Admission: trade an OpenID token for an SFU JWT at {sfu_service_url}/sfu/get (README
// "Admission", lk-jwt-service's request shape). The SFU admits a device only once its own
// sync has seen the device's membership, so right after publishing it a 403 or 503 is
// expected and retried (bounded; a 503 backs off, since it also means "my Matrix view is
// stale", e.g. while the homeserver is down). An expired OpenID token (401) is replaced once.
// HTTP 429, from /sfu/get or from the homeserver handing out the OpenID token, is never
// fatal at once: we wait for the server's Retry-After / retry_after_ms, or back off
// exponentially with jitter, for a bounded number of tries.

import { MatrixRequestError } from '../../client/matrix/matrixCall.ts';
import { backoffDelayMs, rateLimitOf, retryAfterMsOf, sleep } from '../../client/matrix/retry.ts';
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
  /** Tries while the SFU has not seen our membership yet (403) or cannot check (503). Default 24. */
  readonly attempts?: number;
  /** Pause after a 403; first back-off after a 503 (doubling up to 5 s). Default 500 ms. */
  readonly retryDelayMs?: number;
  /** Tries after HTTP 429 (ours or the homeserver's). Default 6. */
  readonly rateLimitAttempts?: number;
  /** First back-off after a 429 without a Retry-After; doubles up to 30 s. Default 1000 ms. */
  readonly rateLimitBackoffMs?: number;
  /** Jitter source (tests). Default Math.random. */
  readonly random?: () => number;
  /** Told before each pause that follows a 429 or 503 (the UI says "trying again"). */
  readonly onRetry?: (delayMs: number) => void;
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

/** Longest back-off after a 503. */
const UNAVAILABLE_BACKOFF_MAX_MS = 5000;
/** Longest back-off after a 429 without a hint. */
const RATE_LIMIT_BACKOFF_MAX_MS = 30_000;

/** The pause before the next try after a 429, or undefined when the tries are used up. */
function rateLimitPause(options: AdmissionOptions, error: unknown, strikes: number): number | undefined {
  const { limited, retryAfterMs } = rateLimitOf(error);
  if (!limited || strikes >= (options.rateLimitAttempts ?? 6)) return undefined;
  return retryAfterMs ?? backoffDelayMs(strikes, { baseMs: options.rateLimitBackoffMs ?? 1000, maxMs: RATE_LIMIT_BACKOFF_MAX_MS, ...(options.random ? { random: options.random } : {}) });
}

async function pause(options: AdmissionOptions, ms: number): Promise<void> {
  options.onRetry?.(ms);
  await sleep(ms, options.signal);
}

/** An OpenID token; a rate-limited homeserver is waited for (bounded). */
async function fetchOpenId(options: AdmissionOptions): Promise<OpenIdToken> {
  for (let strikes = 1; ; strikes++) {
    try {
      return await options.getOpenIdToken();
    } catch (error) {
      const delay = options.signal?.aborted ? undefined : rateLimitPause(options, error, strikes);
      if (delay === undefined) throw new WidgetError('OPENID_DENIED', 'no OpenID token', { cause: error });
      await pause(options, delay);
    }
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
  throw new MatrixRequestError('SFU admission', response.status, typeof body['errcode'] === 'string' ? body['errcode'] : undefined, { retryAfterMs: retryAfterMsOf(response.headers, body) });
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
  let strikes = 0;
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
      if (status === 429) {
        // Rate limited: its own budget of tries, so a busy SFU does not use up the 403 ones.
        attempt--;
        const delay = rateLimitPause(options, error, ++strikes);
        if (delay === undefined) throw new WidgetError('ADMISSION_FAILED', 'SFU admission rate limited', { cause: error });
        await pause(options, delay);
        continue;
      }
      // 403: the SFU's sync has not delivered our membership yet; 503: it cannot check right now.
      if ((status !== 403 && status !== 503) || attempt >= attempts) throw new WidgetError('ADMISSION_FAILED', 'SFU admission failed', { cause: error });
      const hinted = error instanceof MatrixRequestError ? error.retryAfterMs : undefined;
      const retryDelayMs = options.retryDelayMs ?? 500;
      if (status === 403) await sleep(retryDelayMs, options.signal);
      else await pause(options, hinted ?? backoffDelayMs(attempt, { baseMs: retryDelayMs, maxMs: UNAVAILABLE_BACKOFF_MAX_MS, ...(options.random ? { random: options.random } : {}) }));
    }
  }
}
