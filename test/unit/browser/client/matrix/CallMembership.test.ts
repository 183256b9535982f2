// CallMembership keeps this device's call membership published through homeserver trouble:
// it restarts the delayed leave, retries with capped back-off while the homeserver is down,
// publishes the membership again when the homeserver sent the delayed leave meanwhile (or the
// state was emptied), waits out 429s, extends `expires`, and writes nothing after leave().

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallMembership, membershipStateKey, type RestoreReason } from '../../../../../src/browser/client/matrix/CallMembership.ts';
import { FakeHomeserver } from './fakeHomeserver.ts';

const session = { homeserverUrl: 'https://hs.example', userId: '@alice:hs.example', deviceId: 'DEV', accessToken: 'tok' };
const roomId = '!room:hs.example';
const focus = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: 'https://sfu.example' };
const stateKey = membershipStateKey(session);
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined };

let hs: FakeHomeserver;

beforeEach(() => {
  vi.useFakeTimers();
  hs = new FakeHomeserver().install();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function join(extra: Partial<Parameters<typeof CallMembership.join>[0]> = {}): Promise<CallMembership> {
  return CallMembership.join({ session, roomId, focus, delayedLeaveMs: 10_000, restartEveryMs: 5000, random: () => 0.5, logger: quiet, ...extra });
}

function record(membership: CallMembership): { restored: RestoreReason[]; degraded: number; recovered: number } {
  const seen = { restored: [] as RestoreReason[], degraded: 0, recovered: 0 };
  membership.on('restored', (reason) => seen.restored.push(reason));
  membership.on('degraded', () => seen.degraded++);
  membership.on('recovered', () => seen.recovered++);
  return seen;
}

describe('CallMembership', () => {
  it('schedules the delayed leave before publishing and restarts it every restartEveryMs', async () => {
    const membership = await join();
    expect(hs.requests.map((r) => r.method + (r.path.includes('delay=') ? ' delayed' : ' state'))).toEqual(['PUT delayed', 'PUT state']);
    expect(hs.state.get(stateKey)).toMatchObject({ application: 'm.call', call_id: '', device_id: 'DEV', foci_preferred: [focus], focus_active: { type: 'livekit', focus_selection: 'multi_sfu' } });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(hs.count('POST', '/restart')).toBe(3);
    expect(membership.delayedLeave).toBe(true);
    await membership.leave();
  });

  it('with liveKitFocus names the SFU as a LiveKit focus first, then our transport (Element Call reads the first)', async () => {
    const membership = await join({ liveKitFocus: true });
    expect(hs.state.get(stateKey)).toMatchObject({
      focus_active: { type: 'livekit', focus_selection: 'multi_sfu' },
      foci_preferred: [{ type: 'livekit', livekit_service_url: 'https://sfu.example' }, focus],
    });
    await membership.leave();
  });

  it('survives a 60 s outage that outlives the delayed leave: retries, then publishes again once', async () => {
    const membership = await join();
    const seen = record(membership);
    await vi.advanceTimersByTimeAsync(5000);
    hs.down = true;
    const downFrom = hs.requests.length;
    await vi.advanceTimersByTimeAsync(60_000);
    const attempts = hs.requests.slice(downFrom).map((r) => r.atMs);
    const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] as number));
    // Kept trying the whole time, never more than restartEveryMs apart.
    expect(attempts.length).toBeGreaterThanOrEqual(12);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5000);
    expect(seen.degraded).toBe(1);
    // The homeserver comes back and sends the expired delayed leave first.
    hs.fireDelayed();
    hs.down = false;
    expect(hs.state.get(stateKey)).toEqual({});
    await vi.advanceTimersByTimeAsync(5000);
    expect(hs.state.get(stateKey)).toMatchObject({ application: 'm.call', device_id: 'DEV' });
    expect(seen.restored).toEqual(['delayed-leave-sent']);
    expect(seen.recovered).toBe(1);
    expect(membership.restoreCount).toBe(1);
    // Exactly one delayed leave is pending, and it is the one being restarted now.
    expect(hs.delayed.size).toBe(1);
    const [liveId] = [...hs.delayed.keys()];
    await vi.advanceTimersByTimeAsync(10_000);
    expect(hs.requests.filter((r) => r.path.endsWith('/restart')).at(-1)?.path).toContain(`/${liveId}/restart`);
    expect(hs.publishes()).toHaveLength(2);
    await membership.leave();
  });

  it('keeps reading its state back after the delayed leave was found gone, and restores once it reads empty', async () => {
    const membership = await join();
    const seen = record(membership);
    hs.down = true;
    await vi.advanceTimersByTimeAsync(20_000);
    // Back: the delayed event is gone at once, the emptied state is stored a little later.
    const storeEmptied = hs.fireDelayed({ lagged: true });
    hs.down = false;
    // The first round after the outage: restart → 404, the state still reads live.
    for (let step = 0; step < 100 && hs.count('GET', stateKey) === 0; step++) await vi.advanceTimersByTimeAsync(100);
    expect(hs.state.get(stateKey)).toMatchObject({ application: 'm.call' });
    expect(seen.restored).toEqual([]);
    const readsBefore = hs.count('GET', stateKey);
    storeEmptied();
    await vi.advanceTimersByTimeAsync(1000);
    expect(hs.count('GET', stateKey)).toBe(readsBefore + 1);
    expect(seen.restored).toEqual(['delayed-leave-sent']);
    expect(hs.state.get(stateKey)).toMatchObject({ application: 'm.call' });
    expect(hs.publishes()).toHaveLength(2);
    // Then back to the normal period, no more reads.
    const reads = hs.count('GET', stateKey);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(hs.count('GET', stateKey)).toBe(reads);
    await membership.leave();
  });

  it('after a short outage that the delayed leave outlasted, reads the state back and publishes nothing', async () => {
    const membership = await join();
    const seen = record(membership);
    hs.down = true;
    await vi.advanceTimersByTimeAsync(7000);
    hs.down = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(hs.count('GET', stateKey)).toBe(1);
    expect(hs.publishes()).toHaveLength(1);
    expect(seen).toEqual({ restored: [], degraded: 1, recovered: 1 });
    await membership.leave();
  });

  it('publishes again when the state was emptied although the delayed leave still restarts', async () => {
    const membership = await join();
    const seen = record(membership);
    hs.down = true;
    await vi.advanceTimersByTimeAsync(6000);
    hs.state.set(stateKey, {});
    hs.down = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.restored).toEqual(['emptied']);
    expect(hs.state.get(stateKey)).toMatchObject({ application: 'm.call' });
    expect(hs.delayed.size).toBe(1);
    await membership.leave();
  });

  it('waits for retry_after_ms after a 429 instead of the usual period', async () => {
    const membership = await join();
    hs.rateLimitNext = 1;
    hs.retryAfterMs = 2000;
    await vi.advanceTimersByTimeAsync(5000);
    expect(hs.count('POST', '/restart')).toBe(1);
    await vi.advanceTimersByTimeAsync(1999);
    expect(hs.count('POST', '/restart')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    // The retry: a restart, then (after a failed round) one read-back of the state.
    expect(hs.count('POST', '/restart')).toBe(2);
    expect(hs.count('GET', stateKey)).toBe(1);
    await membership.leave();
  });

  it('retries a rate-limited first delayed leave when joining', async () => {
    hs.rateLimitNext = 1;
    hs.retryAfterMs = 300;
    const joining = join();
    await vi.advanceTimersByTimeAsync(300);
    const membership = await joining;
    expect(membership.delayedLeave).toBe(true);
    expect(hs.delayed.size).toBe(1);
    await membership.leave();
  });

  it('without delayed events reads its state back every checkEveryMs and restores it', async () => {
    hs.delayedEventsSupported = false;
    const membership = await join({ checkEveryMs: 20_000 });
    const seen = record(membership);
    expect(membership.delayedLeave).toBe(false);
    hs.state.set(stateKey, {});
    await vi.advanceTimersByTimeAsync(20_000);
    expect(seen.restored).toEqual(['emptied']);
    expect(hs.count('POST', '/restart')).toBe(0);
    await membership.leave();
    expect(hs.state.get(stateKey)).toEqual({});
  });

  it('extends expires before it runs out, keeping created_ts', async () => {
    const membership = await join({ expiresMs: 60_000 });
    const first = hs.state.get(stateKey) as { created_ts: number; expires: number };
    await vi.advanceTimersByTimeAsync(50_000);
    const extended = hs.state.get(stateKey) as { created_ts: number; expires: number };
    expect(extended.created_ts).toBe(first.created_ts);
    expect(extended.expires).toBe(120_000);
    expect(hs.publishes()).toHaveLength(2);
    await membership.leave();
  });

  it('publishes a fresh membership when its own had expired', async () => {
    const membership = await join();
    const seen = record(membership);
    hs.down = true;
    await vi.advanceTimersByTimeAsync(6000);
    hs.state.set(stateKey, { ...hs.state.get(stateKey), created_ts: 0, expires: 1 });
    hs.down = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.restored).toEqual(['expired']);
    expect((hs.state.get(stateKey) as { created_ts: number }).created_ts).toBeGreaterThan(0);
    await membership.leave();
  });

  it('leave() sends the delayed leave after the round in flight and writes nothing afterwards', async () => {
    const membership = await join();
    await vi.advanceTimersByTimeAsync(5000);
    const left = membership.leave();
    await left;
    expect(hs.state.get(stateKey)).toEqual({});
    expect(hs.delayed.size).toBe(0);
    const after = hs.requests.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hs.requests.length).toBe(after);
    expect(membership.leave()).toBe(left);
  });

  it('leave() during an outage writes {} once the homeserver answers the send, or falls back', async () => {
    const membership = await join();
    hs.fireDelayed();
    // The delayed leave is gone (send → 404), so leave() writes {} itself.
    await membership.leave();
    expect(hs.state.get(stateKey)).toEqual({});
    expect(hs.requests.at(-1)).toMatchObject({ method: 'PUT', body: {} });
  });
});
