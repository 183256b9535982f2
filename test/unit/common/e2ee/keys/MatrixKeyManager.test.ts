// MatrixKeyManager with a fake js-sdk client (three vi.fn()) and fake timers: what goes out on
// join, leave, rejoin and rotation, when our sender switches, coalescing, errors, key states.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MatrixKeyManager } from '../../../../../src/common/e2ee/keys/MatrixKeyManager.ts';
import { decodeBase64, encodeBase64 } from '../../../../../src/common/e2ee/keys/base64.ts';
import { createLogger } from '../../../../../src/common/lib/logger.ts';
import { CALL_ENCRYPTION_KEYS_EVENT_TYPE } from '../../../../../src/common/e2ee/keys/constants.ts';
import type { KeyDistributionError, KeyRejection } from '../../../../../src/common/e2ee/keys/errors.ts';
import type { KeyMember, PeerKeyState } from '../../../../../src/common/e2ee/keys/types.ts';
import { ratchetKey } from '../../../../../src/common/e2ee/ratchet.ts';
import { ALICE, ROOM_ID, fakeClient, keyBytes, keyMessage, member, recordingSink, settle, until, useFakeClock } from './mocks.ts';
import type { FakeClient, SentKey } from './mocks.ts';

const self: KeyMember = { ...ALICE, createdTs: 1_000 };
const bob = member('bob');
const carol = member('carol');
const dave = member('dave');
const erin = member('erin');

let fake: FakeClient;
let sink: ReturnType<typeof recordingSink>;
let manager: MatrixKeyManager;
let errors: KeyDistributionError[];
let rejections: KeyRejection[];
let states: Array<[string, PeerKeyState]>;
let ownChanges: number[];

function create(options: { useKeyDelayMs?: number } = {}): MatrixKeyManager {
  let fill = 1;
  const created = new MatrixKeyManager({ client: fake.client, roomId: ROOM_ID, own: ALICE, sink, randomKey: () => keyBytes(fill++), ...options });
  created.on('error', (error) => errors.push(error));
  created.on('keyRejected', (rejection) => rejections.push(rejection));
  created.on('keyStateChanged', (participantId, state) => states.push([participantId, state]));
  created.on('ownKeyChanged', (index) => ownChanges.push(index));
  return created;
}

function sentKey(sent: SentKey | undefined): { index: unknown; key: Uint8Array | undefined } {
  const keys = sent?.payload['keys'] as { index: unknown; key: string };
  return { index: keys.index, key: decodeBase64(keys.key) };
}

function devicesOf(sent: SentKey | undefined): string[] {
  return (sent?.devices ?? []).map((d) => `${d.userId}:${d.deviceId}`).sort();
}

const pid = (m: KeyMember): string => `${m.userId}:${m.deviceId}`;

/** Starts with [self, ...others], waits for the first key to go out, and lets the policy idle. */
async function startedWith(...others: KeyMember[]): Promise<void> {
  manager.setMemberships([self, ...others]);
  manager.start();
  if (others.length > 0) await until(() => fake.sends.length === 1, 'first key sent');
  await settle();
  expect(manager.distributing).toBe(false);
}

beforeEach(() => {
  useFakeClock();
  fake = fakeClient();
  sink = recordingSink();
  errors = [];
  rejections = [];
  states = [];
  ownChanges = [];
  manager = create();
});

afterEach(() => {
  manager.stop();
  vi.useRealTimers();
});

describe('MatrixKeyManager: our key', () => {
  it('start() uses a random key at index 0 at once and sends Element Call’s exact content to every other device', async () => {
    await startedWith(bob, carol);
    expect(sink.own).toEqual([[0, keyBytes(1)]]);
    expect(ownChanges).toEqual([0]);
    expect(fake.sends).toHaveLength(1);
    const [sent] = fake.sends;
    expect(sent?.type).toBe(CALL_ENCRYPTION_KEYS_EVENT_TYPE);
    expect(devicesOf(sent)).toEqual([pid(bob), pid(carol)].sort());
    expect(sent?.payload).toEqual({
      keys: { index: 0, key: 'AQEBAQEBAQEBAQEBAQEBAQ==' },
      room_id: ROOM_ID,
      member: { id: ALICE.memberId, claimed_device_id: ALICE.deviceId },
      session: { application: 'm.call', call_id: '', scope: 'm.room' },
      sent_ts: Date.now(),
    });
  });

  it('on join, ratchets the key under the same index and sends the ratcheted key to the joiner only', async () => {
    await startedWith(bob);
    manager.setMemberships([self, bob, carol]);
    await until(() => fake.sends.length === 2, 'ratcheted key sent');
    const sent = fake.sends[1];
    expect(devicesOf(sent)).toEqual([pid(carol)]);
    const { index, key } = sentKey(sent);
    expect(index).toBe(0);
    expect(key).toEqual(await ratchetKey(keyBytes(1)));
    expect(key).not.toEqual(keyBytes(1));
  });

  it('encrypts with a new key only useKeyDelayMs (1 000 ms) after sending it', async () => {
    await startedWith(bob);
    manager.setMemberships([self, bob, carol]);
    await until(() => fake.sends.length === 2, 'ratcheted key sent');
    await vi.advanceTimersByTimeAsync(999);
    expect(sink.own).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sink.own).toEqual([[0, keyBytes(1)], [0, await ratchetKey(keyBytes(1))]]);
    expect(ownChanges).toEqual([0, 0]);
  });

  it('honours a custom useKeyDelayMs', async () => {
    manager.stop();
    manager = create({ useKeyDelayMs: 5_000 });
    await startedWith(bob, carol);
    manager.setMemberships([self, carol]);
    await until(() => fake.sends.length === 2, 'new key sent');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(ownChanges).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ownChanges).toEqual([0, 1]);
  });

  it('on leave, sends a fresh key at the next index to the remaining members only and drops the leaver’s keys', async () => {
    await startedWith(bob, carol);
    manager.setMemberships([self, carol]);
    expect(sink.removed).toEqual([pid(bob)]);
    await until(() => fake.sends.length === 2, 'fresh key sent');
    const sent = fake.sends[1];
    expect(devicesOf(sent)).toEqual([pid(carol)]);
    expect(sentKey(sent)).toEqual({ index: 1, key: keyBytes(2) });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.own.at(-1)).toEqual([1, keyBytes(2)]);
  });

  it('treats a member whose createdTs changed as rejoined: fresh key for everyone', async () => {
    await startedWith(bob, carol);
    const bobAgain = member('bob', 9_000);
    manager.setMemberships([self, bobAgain, carol]);
    await until(() => fake.sends.length === 2, 'fresh key sent');
    expect(devicesOf(fake.sends[1])).toEqual([pid(bob), pid(carol)].sort());
    expect(sentKey(fake.sends[1])).toEqual({ index: 1, key: keyBytes(2) });
  });

  it('rotates to a fresh key after 15 minutes and sends it to every member', async () => {
    await startedWith(bob, carol);
    await vi.advanceTimersByTimeAsync(899_999);
    expect(fake.sends).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => fake.sends.length === 2, 'rotated key sent');
    expect(devicesOf(fake.sends[1])).toEqual([pid(bob), pid(carol)].sort());
    expect(sentKey(fake.sends[1])).toEqual({ index: 1, key: keyBytes(2) });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ownChanges).toEqual([0, 1]);
  });

  it('wraps key indexes modulo 256', async () => {
    await startedWith(bob);
    for (let i = 1; i <= 256; i++) {
      manager.setMemberships([self, member('bob', 1_000 + i)]);
      await until(() => fake.sends.length === i + 1, `key ${i} sent`);
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(sentKey(fake.sends[255]).index).toBe(255);
    expect(sentKey(fake.sends[256]).index).toBe(0);
  });

  it('coalesces three quick membership changes into at most two distributions', async () => {
    await startedWith(bob);
    manager.setMemberships([self, bob, carol]);
    manager.setMemberships([self, bob, carol, dave]);
    manager.setMemberships([self, bob, carol, dave, erin]);
    await until(() => fake.sends.length === 2, 'first rollout');
    expect(devicesOf(fake.sends[1])).toEqual([pid(carol)]);
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => fake.sends.length === 3, 'one follow-up for the two later changes');
    await vi.advanceTimersByTimeAsync(10_000);
    await settle();
    const distributions = fake.sends.slice(1);
    expect(distributions).toHaveLength(2);
    expect(devicesOf(distributions[1])).toEqual([pid(dave), pid(erin)].sort());
    expect(manager.distributing).toBe(false);
  });

  it('emits no-targets when the last other member leaves, and uses the new key at once', async () => {
    await startedWith(bob);
    manager.setMemberships([self]);
    await settle();
    expect(errors.map((e) => e.reason)).toEqual(['no-targets']);
    expect(fake.sends).toHaveLength(1);
    expect(sink.own.at(-1)).toEqual([1, keyBytes(2)]);
  });

  it('emits send-failed when encryptAndSendToDevice rejects, and not-supported for a widget driver without to-device', async () => {
    fake.encryptAndSendToDevice.mockRejectedValueOnce(new Error('M_LIMIT_EXCEEDED'));
    await startedWith();
    manager.setMemberships([self, bob]);
    await until(() => errors.length === 1, 'send-failed');
    expect(errors[0]?.reason).toBe('send-failed');
    expect(errors[0]?.cause).toBeInstanceOf(Error);
    fake.encryptAndSendToDevice.mockRejectedValueOnce(new Error('unknown variant `send_to_device`'));
    await vi.advanceTimersByTimeAsync(1_000);
    manager.setMemberships([self, bob, carol]);
    await until(() => errors.length === 2, 'not-supported');
    expect(errors[1]?.reason).toBe('not-supported');
  });
});

describe('MatrixKeyManager: their keys', () => {
  it('reports waiting on membership and present on the first key, installing it for `${userId}:${deviceId}`', async () => {
    await startedWith(bob);
    expect(states).toEqual([[pid(bob), 'waiting']]);
    expect(manager.peerKeyState(pid(bob))).toBe('waiting');
    fake.emit('receivedToDeviceMessage', keyMessage(bob, { index: 4 }));
    expect(sink.peers).toEqual([[pid(bob), 4, keyBytes(7)]]);
    expect(states).toEqual([[pid(bob), 'waiting'], [pid(bob), 'present']]);
    expect(manager.peerKeyState(pid(bob))).toBe('present');
  });

  it('parks a key from a device without membership and installs it when the membership arrives', async () => {
    await startedWith(bob);
    fake.emit('receivedToDeviceMessage', keyMessage(carol));
    expect(sink.peers).toEqual([]);
    manager.setMemberships([self, bob, carol]);
    expect(sink.peers).toEqual([[pid(carol), 0, keyBytes(7)]]);
    expect(manager.peerKeyState(pid(carol))).toBe('present');
  });

  it('surfaces transport rejections as keyRejected events', async () => {
    await startedWith(bob);
    fake.emit('receivedToDeviceMessage', keyMessage(bob, { roomId: '!other:example.org' }));
    expect(rejections.map((r) => r.reason)).toEqual(['wrong-room']);
    expect(rejections[0]).toMatchObject({ userId: bob.userId, deviceId: bob.deviceId });
    expect(JSON.stringify(rejections)).not.toContain('BwcHBwcH');
  });

  it('never installs our own device as a peer, and keeps the newest of duplicate memberships', async () => {
    await startedWith(bob);
    manager.setMemberships([self, member('bob', 500), bob]);
    expect(manager.peerKeyState(pid(self))).toBeUndefined();
    await settle();
    expect(manager.distributing).toBe(false);
    expect(fake.sends).toHaveLength(1);
  });

  it('setMemberships() throws TypeError for malformed entries', () => {
    expect(() => manager.setMemberships([{ ...bob, deviceId: '' }])).toThrow(TypeError);
    expect(() => manager.setMemberships([{ ...bob, createdTs: Number.NaN }])).toThrow(TypeError);
  });
});

describe('MatrixKeyManager: logging', () => {
  it('never writes key material, even at debug level', async () => {
    const lines: string[] = [];
    manager.stop();
    let fill = 1;
    manager = new MatrixKeyManager({
      client: fake.client,
      roomId: ROOM_ID,
      own: ALICE,
      sink,
      randomKey: () => keyBytes(fill++),
      logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }),
    });
    await startedWith(bob);
    manager.setMemberships([self, bob, carol]);
    await until(() => fake.sends.length === 2, 'ratchet sent');
    await vi.advanceTimersByTimeAsync(1_000);
    manager.setMemberships([self, carol]);
    await until(() => fake.sends.length === 3, 'fresh key sent');
    fake.emit('receivedToDeviceMessage', keyMessage(carol));
    fake.emit('receivedToDeviceMessage', keyMessage(carol, { key: 'BwcHBwcHBwcHBwcHBwcH' }));
    expect(lines.length).toBeGreaterThan(3);
    const secrets = [keyBytes(1), keyBytes(2), keyBytes(7), await ratchetKey(keyBytes(1))].map(encodeBase64);
    const hexes = [keyBytes(7)].map((k) => Buffer.from(k).toString('hex'));
    for (const secret of [...secrets, ...secrets.map((b) => b.slice(0, 12)), ...hexes]) {
      expect(lines.join('\n')).not.toContain(secret);
    }
    expect(lines.join('\n')).not.toContain('7,7,7,7');
  });
});

describe('MatrixKeyManager: lifecycle', () => {
  it('stop() unsubscribes, clears every timer, forgets peers and ignores later input', async () => {
    await startedWith(bob, carol);
    manager.setMemberships([self, carol]);
    await until(() => fake.sends.length === 2, 'fresh key sent');
    expect(fake.listenerCount('receivedToDeviceMessage')).toBe(1);
    manager.stop();
    manager.stop();
    expect(fake.listenerCount('receivedToDeviceMessage')).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    expect(sink.removed).toEqual([pid(bob), pid(carol)]);
    await vi.advanceTimersByTimeAsync(1_000_000);
    manager.setMemberships([self]);
    expect(ownChanges).toEqual([0]);
    expect(fake.sends).toHaveLength(2);
  });

  it('listens to ToDeviceEvent instead in widget mode', () => {
    manager.stop();
    manager = new MatrixKeyManager({ client: fake.client, roomId: ROOM_ID, own: ALICE, sink, receiveMode: 'widget' });
    manager.start();
    expect(fake.listenerCount('toDeviceEvent')).toBe(1);
    expect(fake.listenerCount('receivedToDeviceMessage')).toBe(0);
  });
});
