// closePolicy's pacing: a dropped socket is tried again with capped, jittered exponential
// back-off for as long as RECONNECT_BUDGET_MS lasts (a dead node's rooms move only once its
// registry record expires), "later" closes a fixed number of times; codes map to actions.

import { describe, expect, it } from 'vitest';
import { closeActionOf, mayReconnect, reconnectDelayMs, RECONNECT_BUDGET_MS, RECONNECT_PACING } from '../../../../src/browser/widget/call/closePolicy.ts';
import { CLOSE_CODES } from '../../../../src/common/protocol/closeCodes.ts';

describe('closePolicy', () => {
  it('paces reconnects with capped exponential back-off until the budget since the drop is spent', () => {
    const low = (attempt: number, elapsedMs = 0) => reconnectDelayMs('reconnect', attempt, elapsedMs, () => 0);
    const high = (attempt: number, elapsedMs = 0) => reconnectDelayMs('reconnect', attempt, elapsedMs, () => 0.999_999);
    expect([1, 2, 3, 4, 10].map((attempt) => low(attempt))).toEqual([500, 1000, 2000, 2000, 2000]);
    expect([1, 2, 3, 4, 10].map((attempt) => high(attempt))).toEqual([1000, 2000, 4000, 4000, 4000]);
    expect(low(20, RECONNECT_BUDGET_MS - 2000)).toBe(2000);
    expect(low(20, RECONNECT_BUDGET_MS - 1999)).toBeUndefined();
    expect(RECONNECT_BUDGET_MS).toBe(30_000);
  });

  it('tries "later" closes a fixed number of times', () => {
    const { attempts } = RECONNECT_PACING.backoff;
    expect(reconnectDelayMs('backoff', attempts, 600_000, () => 0)).toBeGreaterThan(0);
    expect(reconnectDelayMs('backoff', attempts + 1, 0, () => 0)).toBeUndefined();
  });

  it('reconnects after a dropped socket or a draining node, ends on eviction, ends quietly when replaced', () => {
    expect([1006, CLOSE_CODES.DRAINING, CLOSE_CODES.GOING_AWAY].map(closeActionOf)).toEqual(['reconnect', 'reconnect', 'reconnect']);
    expect(closeActionOf(CLOSE_CODES.EVICTED)).toBe('end');
    expect(closeActionOf(CLOSE_CODES.REPLACED)).toBe('end-quietly');
    expect(closeActionOf(4999)).toBe('end');
    expect(mayReconnect(CLOSE_CODES.RATE_LIMITED)).toBe(true);
    expect(mayReconnect(CLOSE_CODES.UNAUTHORIZED)).toBe(false);
  });
});
