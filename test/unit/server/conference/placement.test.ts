// choosePlacement(): where a conference puts a new participant, from the load of the
// workers (consumers and CPU), never from router counts.

import { describe, expect, it } from 'vitest';
import { choosePlacement, firstRouterSlot, placementScore, type SlotLoadView } from '../../../../src/server/conference/ConferenceRouters.ts';

const spread = { consumersPerWorker: 100, workerLoad: 0.5 };
const slot = (slotIndex: number, consumers: number, cpu?: number, suspect = false): SlotLoadView => ({ slotIndex, consumers, cpu, suspect });

describe('choosePlacement', () => {
  it('a new conference takes the least-loaded worker', () => {
    expect(choosePlacement([], [slot(0, 80), slot(1, 10), slot(2, 50)], spread)).toEqual({ slotIndex: 1, existing: false });
  });

  it('stays on the conference’s least-loaded router while it is below full', () => {
    expect(choosePlacement([0, 2], [slot(0, 90), slot(1, 0), slot(2, 60)], spread)).toEqual({ slotIndex: 2, existing: true });
  });

  it('spreads to a less-loaded worker once every router of the conference is full by consumers', () => {
    expect(choosePlacement([0], [slot(0, 100), slot(1, 30)], spread)).toEqual({ slotIndex: 1, existing: false });
  });

  it('counts CPU too: a worker at the spread load is full even with few consumers', () => {
    expect(choosePlacement([0], [slot(0, 5, 0.55), slot(1, 30, 0.1)], spread)).toEqual({ slotIndex: 1, existing: false });
    expect(placementScore(slot(0, 5, 0.25), spread)).toBe(0.5);
  });

  it('does not add a router on a worker busier than the conference’s own', () => {
    expect(choosePlacement([0], [slot(0, 150), slot(1, 180)], spread)).toEqual({ slotIndex: 0, existing: true });
  });

  it('a suspect worker is a last resort', () => {
    expect(choosePlacement([], [slot(0, 0, undefined, true), slot(1, 99)], spread)).toEqual({ slotIndex: 1, existing: false });
  });

  it('with spreading off (0 consumers per worker) the conference keeps its first router', () => {
    expect(choosePlacement([1], [slot(0, 0), slot(1, 10_000, 0.99)], { consumersPerWorker: 0, workerLoad: 0.5 })).toEqual({
      slotIndex: 1,
      existing: true,
    });
  });

  it('without live slot information (a plain router factory) it gives no choice', () => {
    expect(choosePlacement([0], [], spread)).toBeUndefined();
  });

  it('a new conference starts on the least-loaded worker, or on the pool’s round-robin choice when workers tie', () => {
    expect(firstRouterSlot([slot(0, 80), slot(1, 10)], spread)).toBe(1);
    expect(firstRouterSlot([slot(0, 0), slot(1, 0)], spread)).toBeUndefined();
    expect(firstRouterSlot([], spread)).toBeUndefined();
  });
});
