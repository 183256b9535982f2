// The one helper that bounds a request to a mediasoup worker in time. A worker
// that stops answering (stopped, wedged, overloaded) would otherwise hold the
// caller, and so its conference queue, forever. A request that answers after
// its deadline may still have created an object in the worker: `onLate`
// receives it so the caller can close it instead of leaking it.

import { SfuError } from '../../common/lib/errors.ts';

/** Default deadline of one worker request (config media.requestTimeoutMs). */
export const DEFAULT_MEDIA_REQUEST_TIMEOUT_MS = 5000;

/** A worker request did not answer in time. Code INTERNAL: the client did nothing wrong. */
export class MediaTimeoutError extends SfuError {
  readonly what: string;
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super('INTERNAL', `media request ${what} timed out after ${timeoutMs} ms`);
    this.name = 'MediaTimeoutError';
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Resolves or rejects with `request`, or rejects with MediaTimeoutError after
 * `timeoutMs`. A value that arrives late goes to `onLate` (close it there); a
 * late rejection is dropped (the caller already has its timeout error).
 */
export function withMediaTimeout<T>(what: string, request: Promise<T>, timeoutMs: number, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new MediaTimeoutError(what, timeoutMs));
    }, timeoutMs);
    request.then(
      (value) => {
        if (!timedOut) {
          clearTimeout(timer);
          resolve(value);
        } else {
          onLate?.(value);
        }
      },
      (error: unknown) => {
        if (!timedOut) {
          clearTimeout(timer);
          reject(error);
        }
      },
    );
  });
}
