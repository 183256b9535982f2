// Retry timing: jittered exponential back-off stays within [ceiling/2, ceiling]; server hints
// (Retry-After seconds or date, retry_after_ms, relayed widget-API errors) win and are bounded.

import { describe, expect, it } from 'vitest';
import { backoffDelayMs, MAX_RETRY_AFTER_MS, rateLimitOf, retryAfterMsOf } from '../../../../../src/browser/client/matrix/retry.ts';
import { MatrixRequestError } from '../../../../../src/browser/client/matrix/matrixHttp.ts';

describe('backoffDelayMs()', () => {
  it('doubles from baseMs up to maxMs, with equal jitter', () => {
    const at = (attempt: number, random: number): number => backoffDelayMs(attempt, { baseMs: 1000, maxMs: 8000, random: () => random });
    expect([1, 2, 3, 4, 5].map((n) => at(n, 0))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => at(n, 0.999999))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(at(10_000, 0.5)).toBe(6000);
  });
});

describe('retryAfterMsOf()', () => {
  it('prefers retry_after_ms, reads Retry-After seconds and dates, ignores nonsense, caps', () => {
    expect(retryAfterMsOf(new Headers({ 'retry-after': '9' }), { retry_after_ms: 1500 })).toBe(1500);
    expect(retryAfterMsOf(new Headers({ 'retry-after': '9' }), {})).toBe(9000);
    expect(retryAfterMsOf(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), {}, 4000)).toBe(6000);
    expect(retryAfterMsOf(new Headers({ 'retry-after': 'soon' }), { retry_after_ms: -1 })).toBeUndefined();
    expect(retryAfterMsOf(new Headers({ 'retry-after': '86400' }), null)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('rateLimitOf()', () => {
  it('recognises our errors, js-sdk MatrixErrors and relayed widget-API errors', () => {
    expect(rateLimitOf(new MatrixRequestError('x', 429, 'M_LIMIT_EXCEEDED', { retryAfterMs: 50 }))).toEqual({ limited: true, retryAfterMs: 50 });
    expect(rateLimitOf({ httpStatus: 429, errcode: 'M_LIMIT_EXCEEDED', data: { retry_after_ms: 700 } })).toEqual({ limited: true, retryAfterMs: 700 });
    expect(rateLimitOf({ data: { matrix_api_error: { http_status: 429, response: { errcode: 'M_LIMIT_EXCEEDED' } } } })).toEqual({ limited: true, retryAfterMs: undefined });
    expect(rateLimitOf(new MatrixRequestError('x', 403, 'M_FORBIDDEN'))).toEqual({ limited: false, retryAfterMs: undefined });
    expect(rateLimitOf('nope')).toEqual({ limited: false, retryAfterMs: undefined });
  });
});
