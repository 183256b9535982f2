// One request to the Matrix client-server API over plain fetch, shared by the fetch-based
// call flow (matrixCall.ts, CallMembership.ts) and the widget's standalone mode. A refusal
// becomes a MatrixRequestError with the HTTP status, the errcode and the server's retry hint;
// an unreachable server stays the fetch's own error (TypeError, or a TimeoutError
// DOMException), so callers can tell "said no" from "did not answer".

import { retryAfterMsOf } from './retry.ts';

/** A logged-in Matrix device. */
export interface MatrixSession {
  readonly homeserverUrl: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
}

/** A Matrix (or /sfu/get) request that the server refused, with its errcode. */
export class MatrixRequestError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;
  /** The server's "try again in" hint (Retry-After, retry_after_ms), if any. */
  readonly retryAfterMs: number | undefined;
  constructor(what: string, status: number, errcode: string | undefined, options: { retryAfterMs?: number | undefined } = {}) {
    super(`${what} failed: HTTP ${status}${errcode ? ` ${errcode}` : ''}`);
    this.name = 'MatrixRequestError';
    this.status = status;
    this.errcode = errcode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Per-request timeout unless the caller says otherwise. */
export const MATRIX_REQUEST_TIMEOUT_MS = 10_000;

/** Options of matrixRequest(). */
export interface MatrixRequest {
  readonly homeserverUrl: string;
  readonly accessToken?: string | undefined;
  /** What the request does, for the error message (`publish call membership`). */
  readonly what: string;
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Path and query, starting with `/_matrix/`. */
  readonly path: string;
  readonly body?: unknown;
  /** Default MATRIX_REQUEST_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

/**
 * Sends one request and returns the parsed JSON body.
 * @throws MatrixRequestError when the server answered with an error status; the fetch's
 *   TypeError or TimeoutError when it did not answer.
 */
export async function matrixRequest<T>(request: MatrixRequest): Promise<T> {
  const headers: Record<string, string> = {};
  if (request.accessToken) headers['authorization'] = `Bearer ${request.accessToken}`;
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${request.homeserverUrl.replace(/\/+$/, '')}${request.path}`, {
    method: request.method,
    headers,
    ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
    signal: AbortSignal.timeout(request.timeoutMs ?? MATRIX_REQUEST_TIMEOUT_MS),
  });
  const parsed: unknown = await response.json().catch(() => ({}));
  const body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (!response.ok) {
    const errcode = typeof body['errcode'] === 'string' ? body['errcode'] : undefined;
    throw new MatrixRequestError(request.what, response.status, errcode, { retryAfterMs: retryAfterMsOf(response.headers, body) });
  }
  return body as T;
}

/** Whether the server said "too many requests" (HTTP 429 or M_LIMIT_EXCEEDED). */
export function isRateLimited(error: unknown): error is MatrixRequestError {
  return error instanceof MatrixRequestError && (error.status === 429 || error.errcode === 'M_LIMIT_EXCEEDED');
}

/**
 * Whether the failure says nothing about the request itself: the server did not answer
 * (network error, timeout) or answered 5xx / 429. Worth retrying unchanged.
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof MatrixRequestError) return error.status >= 500 || isRateLimited(error);
  return error instanceof TypeError || (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError' || error.name === 'NetworkError'));
}
