import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../../src/server/signalling/RateLimiter.ts';

describe('RateLimiter', () => {
  it('take() allows the burst, then refuses until tokens refill at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 5, () => now);
    const first = Array.from({ length: 7 }, () => limiter.take());
    expect(first).toEqual([true, true, true, true, true, false, false]);
    now += 100; // one token at 10/s
    expect(limiter.take()).toBe(true);
    expect(limiter.take()).toBe(false);
    now += 10_000; // refill caps at the burst
    expect(Array.from({ length: 6 }, () => limiter.take()).filter(Boolean)).toHaveLength(5);
  });
});
