import { describe, expect, it } from 'vitest';
import { DecayingCounter } from '../../../../src/server/signalling/DecayingCounter.ts';

describe('DecayingCounter', () => {
  it('add() counts up and value() drains one unit per decayMs, never below zero', () => {
    let now = 0;
    const counter = new DecayingCounter(1000, () => now);
    for (let i = 0; i < 5; i++) counter.add();
    expect(counter.value()).toBe(5);
    now += 2500;
    expect(counter.value()).toBeCloseTo(2.5);
    expect(counter.add()).toBeCloseTo(3.5);
    now += 60_000;
    expect(counter.value()).toBe(0);
  });

  it('refuses a non-positive decay period', () => {
    expect(() => new DecayingCounter(0)).toThrow(TypeError);
  });
});
