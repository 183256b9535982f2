// ToDeviceKeyTransport: every receive check (one test per rule), both receive modes, and the
// send side (own device filtered, no-targets, error mapping).

import { beforeEach, describe, expect, it } from 'vitest';
import { MatrixEvent } from 'matrix-js-sdk';
import { ToDeviceKeyTransport } from '../../../../../src/common/e2ee/keys/ToDeviceKeyTransport.ts';
import type { KeyReceiveMode } from '../../../../../src/common/e2ee/keys/ToDeviceKeyTransport.ts';
import { KeyDistributionError } from '../../../../../src/common/e2ee/keys/errors.ts';
import type { KeyRejection } from '../../../../../src/common/e2ee/keys/errors.ts';
import type { KeyMember, ReceivedCallKey } from '../../../../../src/common/e2ee/keys/types.ts';
import { ALICE, ROOM_ID, fakeClient, keyBytes, keyMessage, member } from './mocks.ts';
import type { FakeClient, KeyMessageOptions } from './mocks.ts';

const bob = member('bob');
let fake: FakeClient;
let keys: ReceivedCallKey[];
let rejections: KeyRejection[];
let transport: ToDeviceKeyTransport;

function create(receiveMode: KeyReceiveMode = 'olm'): ToDeviceKeyTransport {
  const created = new ToDeviceKeyTransport({
    client: fake.client,
    roomId: ROOM_ID,
    own: ALICE,
    receiveMode,
    onKey: (key) => keys.push(key),
    onRejected: (rejection) => rejections.push(rejection),
  });
  created.start();
  return created;
}

function deliver(from: KeyMember, options: KeyMessageOptions = {}): void {
  fake.emit('receivedToDeviceMessage', keyMessage(from, options));
}

function rejectedAs(): string[] {
  return rejections.map((r) => r.reason);
}

beforeEach(() => {
  fake = fakeClient();
  keys = [];
  rejections = [];
  transport = create();
});

describe('ToDeviceKeyTransport receiving (olm mode)', () => {
  it('accepts a valid Olm-encrypted key with the Olm sender device', () => {
    deliver(bob, { index: 200 });
    expect(rejections).toEqual([]);
    expect(keys).toEqual([
      { userId: bob.userId, deviceId: bob.deviceId, deviceVerified: true, memberId: bob.memberId, index: 200, key: keyBytes(7), sentTs: 5_000, receivedAtMs: expect.any(Number) },
    ]);
  });

  it('ignores other to-device event types', () => {
    deliver(bob, { type: 'm.room_key' });
    expect(keys).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('rejects a key sent in clear: not-encrypted', () => {
    deliver(bob, { encryptionInfo: null });
    expect(rejectedAs()).toEqual(['not-encrypted']);
  });

  it('rejects when the envelope sender is not the Olm sender: sender-mismatch', () => {
    deliver(bob, { encryptionInfo: { sender: '@mallory:example.org', senderDevice: bob.deviceId, senderCurve25519KeyBase64: 'c', senderVerified: false } });
    expect(rejectedAs()).toEqual(['sender-mismatch']);
  });

  it('rejects when Olm does not know the sender device: unverified-device', () => {
    deliver(bob, { encryptionInfo: { sender: bob.userId, senderCurve25519KeyBase64: 'c', senderVerified: false } });
    expect(rejectedAs()).toEqual(['unverified-device']);
  });

  it('rejects when claimed_device_id differs from the Olm sender device: device-mismatch', () => {
    deliver(bob, { claimedDeviceId: 'OTHERDEV' });
    expect(rejectedAs()).toEqual(['device-mismatch']);
    expect(rejections[0]).toMatchObject({ userId: bob.userId, deviceId: bob.deviceId });
  });

  it('rejects a key from our own device: own-device', () => {
    deliver({ ...ALICE, createdTs: 1 });
    expect(rejectedAs()).toEqual(['own-device']);
  });

  it('rejects another room: wrong-room', () => {
    deliver(bob, { roomId: '!elsewhere:example.org' });
    expect(rejectedAs()).toEqual(['wrong-room']);
  });

  it.each([
    ['empty', ''],
    ['not base64', 'not*base64!'],
    ['15 bytes', 'AAAAAAAAAAAAAAAAAAAA'],
    ['32 bytes', 'A'.repeat(43) + '='],
    ['a number', 12],
  ])('rejects a key that is %s: bad-key', (_label, key) => {
    deliver(bob, { key });
    expect(rejectedAs()).toEqual(['bad-key']);
  });

  it.each([
    ['standard, padded', 'BwcHBwcHBwcHBwcHBwcHBw=='],
    ['standard, unpadded', 'BwcHBwcHBwcHBwcHBwcHBw'],
    ['URL-safe, unpadded', '-_-_-_-_-_-_-_-_-_-_-w'],
  ])('accepts a key in %s base64', (_label, key) => {
    deliver(bob, { key });
    expect(rejections).toEqual([]);
    expect(keys[0]?.key.byteLength).toBe(16);
  });

  it.each([256, -1, 1.5, '3', null])('rejects keys.index %j: bad-index', (index) => {
    deliver(bob, { index });
    expect(rejectedAs()).toEqual(['bad-index']);
  });

  it.each([
    ['keys as a legacy array', { keys: [{ index: 0, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }], room_id: ROOM_ID, member: { claimed_device_id: 'BOBDEV' }, sent_ts: 1 }],
    ['no member', { keys: { index: 0, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, room_id: ROOM_ID, sent_ts: 1 }],
    ['no claimed_device_id', { keys: { index: 0, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, room_id: ROOM_ID, member: { id: 'x' }, sent_ts: 1 }],
    ['no sent_ts', { keys: { index: 0, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, room_id: ROOM_ID, member: { claimed_device_id: 'BOBDEV' } }],
    ['no room_id', { keys: { index: 0, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, member: { claimed_device_id: 'BOBDEV' }, sent_ts: 1 }],
    ['a string', 'keys'],
  ])('rejects content with %s: malformed', (_label, content) => {
    deliver(bob, { content });
    expect(rejectedAs()).toEqual(['malformed']);
  });

  it('reports every fault of a content in one rejection', () => {
    deliver(bob, { roomId: '!x:y', index: 999, key: '' });
    expect(rejections).toHaveLength(1);
    expect(rejections[0]?.reason).toBe('wrong-room');
    expect(rejections[0]?.detail).toMatch(/room_id.*keys\.index.*keys\.key/);
  });

  it('uses `${userId}:${deviceId}` as member id when member.id is absent', () => {
    deliver(bob, { content: { keys: { index: 1, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, room_id: ROOM_ID, member: { claimed_device_id: bob.deviceId }, sent_ts: 3 } });
    expect(keys[0]?.memberId).toBe(`${bob.userId}:${bob.deviceId}`);
  });

  it('stop() unsubscribes', () => {
    transport.stop();
    deliver(bob);
    expect(keys).toEqual([]);
  });
});

describe('ToDeviceKeyTransport receiving (widget mode)', () => {
  function widgetEvent(encrypted: boolean, claimedDeviceId = bob.deviceId): MatrixEvent {
    const event = new MatrixEvent({
      type: 'io.element.call.encryption_keys',
      sender: bob.userId,
      content: { keys: { index: 2, key: 'BwcHBwcHBwcHBwcHBwcHBw==' }, room_id: ROOM_ID, member: { id: 'b', claimed_device_id: claimedDeviceId }, sent_ts: 9 },
    });
    if (encrypted) event.makeEncrypted('m.room.encrypted', {}, '', '');
    return event;
  }

  beforeEach(() => {
    transport.stop();
    transport = create('widget');
  });

  it('accepts an event the host marked encrypted, taking the claimed device (unverified)', () => {
    fake.emit('toDeviceEvent', widgetEvent(true));
    expect(keys).toMatchObject([{ userId: bob.userId, deviceId: bob.deviceId, deviceVerified: false, index: 2 }]);
  });

  it('rejects an event that arrived in clear: not-encrypted', () => {
    fake.emit('toDeviceEvent', widgetEvent(false));
    expect(rejectedAs()).toEqual(['not-encrypted']);
  });

  it('does not listen to receivedToDeviceMessage', () => {
    deliver(bob);
    expect(keys).toEqual([]);
  });
});

describe('ToDeviceKeyTransport sending', () => {
  it('sends to every target except our own device', async () => {
    const outcome = await transport.sendKey(3, keyBytes(1), [{ ...ALICE }, { userId: ALICE.userId, deviceId: 'OTHERDEV' }, bob]);
    expect(outcome).toBe('sent');
    expect(fake.sends[0]?.devices).toEqual([{ userId: ALICE.userId, deviceId: 'OTHERDEV' }, { userId: bob.userId, deviceId: bob.deviceId }]);
  });

  it('resolves no-targets without calling the client when only our device is listed', async () => {
    expect(await transport.sendKey(3, keyBytes(1), [{ ...ALICE }])).toBe('no-targets');
    expect(fake.encryptAndSendToDevice).not.toHaveBeenCalled();
  });

  it('maps client failures to KeyDistributionError send-failed or not-supported', async () => {
    fake.encryptAndSendToDevice.mockRejectedValueOnce(new Error('boom'));
    await expect(transport.sendKey(0, keyBytes(1), [bob])).rejects.toMatchObject({ reason: 'send-failed' });
    fake.encryptAndSendToDevice.mockRejectedValueOnce(new Error('to-device not supported'));
    const failure = transport.sendKey(0, keyBytes(1), [bob]);
    await expect(failure).rejects.toBeInstanceOf(KeyDistributionError);
    await expect(failure).rejects.toMatchObject({ reason: 'not-supported' });
  });
});
