// Retry timing shared by the browser's Matrix and admission requests: exponential back-off
// with jitter, and the server's own "try again in" hint (HTTP Retry-After, Matrix
// `retry_after_ms`), which always wins over our guess. Pure functions; callers own timers.

/** How a caller backs off. */
export interface BackoffOptions {
  /** Delay before the first retry. */
  readonly baseMs: number;
  /** Longest delay (the exponential stops growing here). */
  readonly maxMs: number;
  /** Source of randomness in [0, 1) (tests pass a fixed one). Default Math.random. */
  readonly random?: () => number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): `baseMs · 2^(attempt-1)` capped at
 * `maxMs`, then "equal jitter" (half fixed, half random) so a room full of clients that lost
 * the same server do not come back in the same millisecond, yet nobody retries at once.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const random = (options.random ?? Math.random)();
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** Longest server hint we follow; a longer one is treated as this (a call cannot wait an hour). */
export const MAX_RETRY_AFTER_MS = 120_000;

/**
 * The server's retry hint in ms, if it gave one: the `Retry-After` header (seconds or an
 * HTTP date) or the Matrix body's `retry_after_ms`. Bounded to MAX_RETRY_AFTER_MS; nonsense
 * (negative, not a number) is ignored.
 */
export function retryAfterMsOf(headers: Pick<Headers, 'get'> | undefined, body: unknown, nowMs = Date.now()): number | undefined {
  const fromBody = typeof body === 'object' && body !== null ? (body as { retry_after_ms?: unknown }).retry_after_ms : undefined;
  if (typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0) return Math.min(fromBody, MAX_RETRY_AFTER_MS);
  const header = headers?.get('retry-after')?.trim();
  if (!header) return undefined;
  if (/^\d+$/.test(header)) return Math.min(Number(header) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(header);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - nowMs, 0), MAX_RETRY_AFTER_MS);
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a failure says about rate limiting, whatever shape it has. */
export interface RateLimitHint {
  /** HTTP 429 or M_LIMIT_EXCEEDED. */
  readonly limited: boolean;
  /** The server's "try again in", if it gave one. */
  readonly retryAfterMs: number | undefined;
}

/**
 * Reads rate limiting from any error: our MatrixRequestError (`status`, `errcode`,
 * `retryAfterMs`), matrix-js-sdk's MatrixError (`httpStatus`, `errcode`, `data.retry_after_ms`),
 * or a widget API error relayed by the host (`matrix_api_error` with `http_status` and the
 * homeserver's `response`). Never throws.
 */
export function rateLimitOf(error: unknown): RateLimitHint {
  if (typeof error !== 'object' || error === null) return { limited: false, retryAfterMs: undefined };
  const fields = error as { status?: unknown; httpStatus?: unknown; errcode?: unknown; retryAfterMs?: unknown; data?: unknown };
  const data = (typeof fields.data === 'object' && fields.data !== null ? fields.data : {}) as { errcode?: unknown; retry_after_ms?: unknown; matrix_api_error?: unknown };
  const relayed = (typeof data.matrix_api_error === 'object' && data.matrix_api_error !== null ? data.matrix_api_error : {}) as { http_status?: unknown; response?: unknown };
  const response = (typeof relayed.response === 'object' && relayed.response !== null ? relayed.response : {}) as { errcode?: unknown; retry_after_ms?: unknown };
  const limited =
    fields.status === 429 || fields.httpStatus === 429 || relayed.http_status === 429 ||
    fields.errcode === 'M_LIMIT_EXCEEDED' || data.errcode === 'M_LIMIT_EXCEEDED' || response.errcode === 'M_LIMIT_EXCEEDED';
  const hint = [fields.retryAfterMs, data.retry_after_ms, response.retry_after_ms].find((value): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0);
  return { limited, retryAfterMs: hint === undefined ? undefined : Math.min(hint, MAX_RETRY_AFTER_MS) };
}
