// InboundKeyStore: membership matching, parking (expiry, overflow), sent_ts ordering, removal.

import { beforeEach, describe, expect, it } from 'vitest';
import { InboundKeyStore } from '../../../../../src/common/e2ee/keys/InboundKeyStore.ts';
import type { KeyRejection } from '../../../../../src/common/e2ee/keys/errors.ts';
import type { KeyClock, KeyMember, ReceivedCallKey } from '../../../../../src/common/e2ee/keys/types.ts';
import { keyBytes, member, recordingSink } from './mocks.ts';

const bob = member('bob');
const carol = member('carol');
const pid = (m: KeyMember): string => `${m.userId}:${m.deviceId}`;

let nowMs: number;
let sink: ReturnType<typeof recordingSink>;
let rejections: KeyRejection[];
let store: InboundKeyStore;

const clock: KeyClock = { now: () => nowMs, setTimeout: () => undefined, clearTimeout: () => undefined };

function key(from: KeyMember, overrides: Partial<ReceivedCallKey> = {}): ReceivedCallKey {
  return { userId: from.userId, deviceId: from.deviceId, deviceVerified: true, memberId: from.memberId, index: 0, key: keyBytes(7), sentTs: 100, receivedAtMs: nowMs, ...overrides };
}

beforeEach(() => {
  nowMs = 1_000_000;
  sink = recordingSink();
  rejections = [];
  store = new InboundKeyStore({ sink, clock, onRejected: (r) => rejections.push(r), onKeyState: () => undefined, maxParkedKeys: 3 });
});

describe('InboundKeyStore', () => {
  it('matches keys by user AND device: another device of the same user is parked', () => {
    store.setMembers([bob]);
    store.receive(key({ ...bob, deviceId: 'BOBPHONE' }));
    expect(sink.peers).toEqual([]);
    expect(store.parkedCount).toBe(1);
  });

  it('applies a parked key when its membership arrives', () => {
    store.receive(key(bob, { index: 9 }));
    store.setMembers([bob]);
    expect(sink.peers).toEqual([[pid(bob), 9, keyBytes(7)]]);
    expect(store.parkedCount).toBe(0);
  });

  it('drops a parked key after 60 s: park-expired', () => {
    store.receive(key(bob));
    nowMs += 60_001;
    store.setMembers([bob]);
    expect(sink.peers).toEqual([]);
    expect(rejections.map((r) => r.reason)).toEqual(['park-expired']);
  });

  it('expires old parked keys when parking new ones', () => {
    store.receive(key(bob));
    nowMs += 60_001;
    store.receive(key(carol));
    expect(rejections.map((r) => r.reason)).toEqual(['park-expired']);
    expect(store.parkedCount).toBe(1);
  });

  it('keeps at most maxParkedKeys, dropping the oldest: park-overflow', () => {
    for (let i = 0; i < 4; i++) store.receive(key(bob, { index: i }));
    expect(store.parkedCount).toBe(3);
    expect(rejections).toMatchObject([{ reason: 'park-overflow', userId: bob.userId }]);
    store.setMembers([bob]);
    expect(sink.peers.map(([, index]) => index)).toEqual([1, 2, 3]);
  });

  it('drops a key older (by sent_ts) than the installed one of the same index: outdated', () => {
    store.setMembers([bob]);
    store.receive(key(bob, { sentTs: 200, key: keyBytes(2) }));
    store.receive(key(bob, { sentTs: 150, key: keyBytes(1) }));
    expect(sink.peers).toEqual([[pid(bob), 0, keyBytes(2)]]);
    expect(rejections.map((r) => r.reason)).toEqual(['outdated']);
  });

  it('accepts an equal sent_ts (later arrival wins) and older sent_ts at other indexes', () => {
    store.setMembers([bob]);
    store.receive(key(bob, { sentTs: 200, key: keyBytes(2) }));
    store.receive(key(bob, { sentTs: 200, key: keyBytes(3) }));
    store.receive(key(bob, { sentTs: 10, index: 1 }));
    expect(sink.peers.map(([, index, k]) => [index, k[0]])).toEqual([[0, 2], [0, 3], [1, 7]]);
    expect(rejections).toEqual([]);
  });

  it('removes the keys of a device that left, and forgets its ordering state', () => {
    store.setMembers([bob, carol]);
    store.receive(key(bob, { sentTs: 500 }));
    store.setMembers([carol]);
    expect(sink.removed).toEqual([pid(bob)]);
    expect(store.stateOf(pid(bob))).toBeUndefined();
    store.receive(key(bob, { sentTs: 400 }));
    expect(store.parkedCount).toBe(1);
    store.setMembers([bob, carol]);
    expect(sink.peers).toHaveLength(2);
  });

  it('clear() removes every peer and parked key', () => {
    store.setMembers([bob]);
    store.receive(key(carol));
    store.clear();
    expect(sink.removed).toEqual([pid(bob)]);
    expect(store.parkedCount).toBe(0);
  });
});
