// Delay delegation with a fake homeserver resolver and a fake POST, on fake timers: only the
// member's own homeserver is ever called, restarts run while connected and stop on
// disconnect or when the delayed event is gone.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DelayedLeaveKeeper } from '../../../../src/server/livekit/DelayedLeaveKeeper.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const delegation = {
  roomId: '!r:example.org',
  userId: '@a:example.org',
  deviceId: 'D',
  delayId: 'syd_1',
  delayTimeoutMs: 3000,
  csApiUrl: 'https://matrix.example.org/',
};

let posts: string[];
let status: number;

function keeper(): DelayedLeaveKeeper {
  return new DelayedLeaveKeeper({
    overrides: {},
    timeoutMs: 1000,
    logger: silentLogger(),
    resolveBase: async (server) => (server === 'example.org' ? 'https://matrix.example.org' : 'https://nowhere.invalid'),
    post: async (url) => {
      posts.push(url);
      return status;
    },
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  posts = [];
  status = 200;
});
afterEach(() => vi.useRealTimers());

describe('DelayedLeaveKeeper', () => {
  it('refuses a delay_cs_api_url that is not the member\'s homeserver', async () => {
    const k = keeper();
    expect(await k.offer({ ...delegation, csApiUrl: 'https://attacker.example.net' })).toBe(false);
    expect(await k.offer({ ...delegation, csApiUrl: 'https://user:pw@matrix.example.org' })).toBe(false);
    k.connected(delegation.roomId, '@a:example.org:D');
    await vi.advanceTimersByTimeAsync(5000);
    expect(posts).toEqual([]);
  });

  it('restarts every third of the timeout while connected and stops on disconnect', async () => {
    const k = keeper();
    expect(await k.offer(delegation)).toBe(true);
    const stop = k.connected(delegation.roomId, '@a:example.org:D');
    await vi.advanceTimersByTimeAsync(3000);
    expect(posts.length).toBe(4);
    expect(posts[0]).toBe('https://matrix.example.org/_matrix/client/unstable/org.matrix.msc4140/delayed_events/syd_1/restart');
    stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(posts.length).toBe(4);
    expect(k.size).toBe(0);
  });

  it('starts when the session opened before the delegation was validated, and stops when the event is gone', async () => {
    const k = keeper();
    k.connected(delegation.roomId, '@a:example.org:D');
    expect(await k.offer(delegation)).toBe(true);
    expect(posts.length).toBe(1);
    status = 404;
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(posts.length).toBe(2);
  });

  it('asks the homeserver to send the leave at once when the member left for good, never otherwise', async () => {
    const k = keeper();
    expect(await k.offer(delegation)).toBe(true);
    const stop = k.connected(delegation.roomId, '@a:example.org:D');
    await vi.advanceTimersByTimeAsync(10);
    const restarts = posts.length;
    stop({ sendNow: true });
    await vi.advanceTimersByTimeAsync(10);
    expect(posts.slice(restarts)).toEqual(['https://matrix.example.org/_matrix/client/unstable/org.matrix.msc4140/delayed_events/syd_1/send']);
    // A member that never connected (or whose delegation is gone) sends nothing.
    const other = keeper();
    const before = posts.length;
    other.connected(delegation.roomId, '@b:example.org:E')({ sendNow: true });
    await vi.advanceTimersByTimeAsync(10);
    expect(posts.length).toBe(before);
  });
});
