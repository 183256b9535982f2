// The /state backstop: periodic (jittered) and on-demand passes over watched rooms only,
// one fetch at a time, failures never end sessions.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Reconciler } from '../../../../src/server/matrix/Reconciler.ts';
import { MembershipWatcher } from '../../../../src/server/matrix/MembershipWatcher.ts';
import { OUR_FOCUS_TYPE } from '../../../../src/server/matrix/callMembership.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const ROOM = '!room:example.org';
const ALICE = '@alice:example.org';
const SFU = 'https://sfu.example.org';
const member = { type: 'm.room.member', state_key: ALICE, sender: ALICE, content: { membership: 'join' }, event_id: '$m', origin_server_ts: 1 };
const membership = {
  type: 'org.matrix.msc3401.call.member',
  state_key: `_${ALICE}_DEV_m.call`,
  sender: ALICE,
  event_id: '$c',
  origin_server_ts: Date.now(),
  content: { application: 'm.call', call_id: '', device_id: 'DEV', focus_active: { type: 'livekit', focus_selection: 'multi_sfu' }, foci_preferred: [{ type: OUR_FOCUS_TYPE, sfu_service_url: SFU }] },
};

let watcher: MembershipWatcher;
let reconciler: Reconciler | undefined;

beforeEach(() => {
  watcher = new MembershipWatcher({ focus: { type: OUR_FOCUS_TYPE, serviceUrl: SFU }, logger: silentLogger() });
  watcher.ingest(ROOM, [member, membership]);
  watcher.ingest('!quiet:example.org', [member]);
});
afterEach(() => {
  reconciler?.stop();
  watcher.close();
  vi.useRealTimers();
});

function watchAlice(): string[] {
  const ended: string[] = [];
  watcher.watch(ROOM, ALICE, 'DEV', `${ALICE}:DEV`, (reason) => ended.push(reason));
  return ended;
}

describe('Reconciler', () => {
  it('runOnce() fetches only rooms with sessions and applies a redaction the sync missed', async () => {
    const fetched: string[] = [];
    reconciler = new Reconciler({
      watcher,
      intervalMs: 0,
      logger: silentLogger(),
      fetchState: async (roomId) => {
        fetched.push(roomId);
        return [member, { ...membership, content: {}, unsigned: { redacted_because: { sender: ALICE } } }];
      },
    });
    const ended = watchAlice();
    await reconciler.runOnce();
    expect(fetched).toEqual([ROOM]);
    expect(ended).toEqual(['membership-redacted']);
  });

  it('a failing fetch (homeserver down) changes nothing', async () => {
    reconciler = new Reconciler({ watcher, intervalMs: 0, logger: silentLogger(), fetchState: async () => Promise.reject(new Error('ECONNREFUSED')) });
    const ended = watchAlice();
    await reconciler.runOnce();
    expect(ended).toEqual([]);
    expect(reconciler.runs).toBe(0);
  });

  it('runs every intervalMs jittered within ±20 %', async () => {
    vi.useFakeTimers();
    let calls = 0;
    reconciler = new Reconciler({ watcher, intervalMs: 10_000, random: () => 0, logger: silentLogger(), fetchState: async () => (calls++, [member, membership]) });
    watchAlice();
    await vi.advanceTimersByTimeAsync(7_999);
    expect(calls).toBe(0);
    await vi.advanceTimersByTimeAsync(2);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(8_001);
    expect(calls).toBe(2);
  });

  it('reconcileSoon() queues a watched room at once and ignores unwatched ones', async () => {
    const fetched: string[] = [];
    reconciler = new Reconciler({ watcher, intervalMs: 0, logger: silentLogger(), fetchState: async (roomId) => (fetched.push(roomId), [member, membership]) });
    reconciler.reconcileSoon(ROOM);
    watchAlice();
    reconciler.reconcileSoon(ROOM);
    reconciler.reconcileSoon('!quiet:example.org');
    await reconciler.runOnce();
    expect(fetched[0]).toBe(ROOM);
    expect(fetched.every((room) => room === ROOM)).toBe(true);
  });
});
