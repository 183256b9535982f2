// Media keys over Matrix on a real Synapse: matrix-js-sdk clients with Rust crypto exchange
// keys through our MatrixKeyManager (Olm to-device), derive identical SFrame keys (one side
// encrypts, the other decrypts), joiners get only ratcheted keys and cannot read earlier frames,
// existing members catch up by ratcheting without a resend, a leaver never receives the next
// key, and a js-sdk MatrixRTCSession with its own key transport (Element Call's stack) and our
// manager accept each other's keys.

import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MatrixRTCSessionEvent } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import '../synapse/context.ts';
import { registerUser } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { waitFor } from '../../../src/common/lib/waitFor.ts';
import { makeKid, splitKid } from '../../../src/common/e2ee/frame.ts';
import { MAX_RATCHET_STEPS, ratchetKey } from '../../../src/common/e2ee/ratchet.ts';
import { decodeSFrameHeader, deriveSFrameKey, sframeDecrypt, sframeEncrypt } from '../../../src/common/e2ee/sframe.ts';
import { SFrameError } from '../../../src/common/e2ee/errors.ts';
import { CallDevice } from './callDevices.ts';

const synapse = inject('synapse');
const SUITE = 4; // AES_128_GCM_SHA256_128
const METADATA = new Uint8Array([0x9d]);
const WAIT = { timeoutMs: 20_000 };

let roomId: string;
let alice: CallDevice;
let bob: CallDevice;
let carol: CallDevice;
let dave: CallDevice;
const devices: CallDevice[] = [];
let ctr = 0n;

/** Encrypts a frame with `sender`'s current own key (what its frame cryptor would send). */
async function frameFrom(sender: CallDevice, text: string): Promise<Uint8Array> {
  const own = sender.sink.own;
  if (own === undefined) throw new Error(`${sender.participantId} has no own key`);
  const key = await deriveSFrameKey(SUITE, own.key, makeKid(0, own.index));
  ctr += 1n;
  return sframeEncrypt(key, ctr, METADATA, new TextEncoder().encode(text));
}

/** Decrypts with the key `receiver` holds for `sender` at the frame's key index, without ratcheting. */
async function readAs(receiver: CallDevice, sender: CallDevice, frame: Uint8Array): Promise<string> {
  return readWithKey(receiver.sink.peerKey(sender.participantId, keyIndexOf(frame)), frame);
}

/** As a receiver's frame cryptor does: on auth failure, ratchet forward up to MAX_RATCHET_STEPS. */
async function readRatcheting(receiver: CallDevice, sender: CallDevice, frame: Uint8Array): Promise<{ text: string; steps: number }> {
  let key = receiver.sink.peerKey(sender.participantId, keyIndexOf(frame));
  for (let steps = 0; steps <= MAX_RATCHET_STEPS && key !== undefined; steps++) {
    try {
      return { text: await readWithKey(key, frame), steps };
    } catch (error) {
      if (!(error instanceof SFrameError && error.reason === 'auth-failed')) throw error;
      key = await ratchetKey(key);
    }
  }
  throw new Error('no ratchet step decrypts the frame');
}

async function readWithKey(baseKey: Uint8Array | undefined, frame: Uint8Array): Promise<string> {
  if (baseKey === undefined) throw new Error('no key for the frame');
  const kid = decodeSFrameHeader(frame).kid;
  const key = await deriveSFrameKey(SUITE, baseKey, kid);
  const { plaintext } = await sframeDecrypt((wanted) => (wanted === kid ? key : undefined), METADATA, frame);
  return new TextDecoder().decode(plaintext);
}

function keyIndexOf(frame: Uint8Array): number {
  const fields = splitKid(decodeSFrameHeader(frame).kid);
  if (fields === undefined) throw new Error('KID outside our layout');
  return fields.keyIndex;
}

/** Waits until `receiver` decrypts `sender`'s current frames with the key it was sent. */
async function reads(receiver: CallDevice, sender: CallDevice): Promise<void> {
  await waitFor(async () => (await readAs(receiver, sender, await frameFrom(sender, 'hello'))) === 'hello', {
    ...WAIT,
    description: `${receiver.participantId} reads ${sender.participantId}`,
  });
}

/** Resolves once `to` received a canary sent after everything `from` sent it before (to-device is ordered per sender). */
async function flushToDevice(from: CallDevice, to: CallDevice): Promise<void> {
  const marker = `canary-${Math.random()}`;
  let seen = false;
  const listener = (event: { getType(): string; getContent(): Record<string, unknown> }): void => {
    if (event.getType() === 'org.matrix_sfu.test.canary' && event.getContent()['marker'] === marker) seen = true;
  };
  to.client.on('toDeviceEvent' as never, listener as never);
  try {
    await from.client.encryptAndSendToDevice('org.matrix_sfu.test.canary', [{ userId: to.user.userId, deviceId: to.user.deviceId }], { marker });
    await waitFor(() => seen, { ...WAIT, description: `canary from ${from.participantId} reached ${to.participantId}` });
  } finally {
    to.client.off('toDeviceEvent' as never, listener as never);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

beforeAll(async () => {
  const stamp = `${Date.now()}`;
  const users = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((name) => registerUser(synapse.baseUrl, synapse.sharedSecret, `${name}${stamp}`, `pw-${name}`)));
  devices.push(...(await Promise.all(users.map((user) => CallDevice.start(synapse.baseUrl, user)))));
  [alice, bob, carol, dave] = devices as [CallDevice, CallDevice, CallDevice, CallDevice];
  roomId = (
    await alice.client.createRoom({
      preset: 'private_chat' as never,
      invite: users.slice(1).map((user) => user.userId),
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      power_level_content_override: { events: { 'org.matrix.msc3401.call.member': 0 } },
    })
  ).room_id;
  for (const device of [bob, carol, dave]) await device.client.joinRoom(roomId);
  await Promise.all(devices.map((device) => device.joinedRoom(roomId)));
  // Rust crypto tracks users of encrypted rooms; download now so no first send races a /keys/query.
  await Promise.all(devices.map((device) => device.knowDevicesOf(users.map((user) => user.userId))));
}, 120_000);

afterEach(() => {
  // Nothing our managers received over real Olm was refused, and every send went out.
  for (const device of devices) {
    expect(device.rejections, `${device.participantId} rejected keys`).toEqual([]);
    expect(device.errors, `${device.participantId} distribution errors`).toEqual([]);
  }
});

afterAll(async () => {
  for (const device of devices) device.stop();
});

describe('keys over Matrix (real Synapse, Rust crypto)', () => {
  it('two devices exchange keys over Olm and derive identical SFrame keys', async () => {
    alice.joinCall(roomId);
    bob.joinCall(roomId);
    await reads(bob, alice);
    await reads(alice, bob);
    expect(alice.manager?.peerKeyState(bob.participantId)).toBe('present');
    const received = [...alice.rawKeys, ...bob.rawKeys];
    expect(received.length).toBeGreaterThan(0);
    expect(received.every((event) => event.encrypted)).toBe(true);
  });

  it('a third device gets only ratcheted keys: it cannot decrypt earlier frames, and existing members catch up without a resend', async () => {
    const before = alice.sink.own!;
    const earlier = await frameFrom(alice, 'before carol');
    const bobGotFromAlice = bob.sink.peerHistory.filter((entry) => entry.participantId === alice.participantId).length;
    const ratcheted = await ratchetKey(before.key);

    carol.joinCall(roomId);
    await waitFor(() => sameBytes(alice.sink.own?.key, ratcheted), { ...WAIT, description: 'alice switched to her ratcheted key' });
    expect(alice.sink.own?.index).toBe(before.index);
    await reads(carol, alice);
    await reads(alice, carol);
    await reads(bob, carol);
    await reads(carol, bob);

    expect(carol.sink.peerKey(alice.participantId, before.index)).toEqual(ratcheted);
    expect(carol.rawKeys.some((event) => sameBytes(event.key, before.key))).toBe(false);
    await expect(readAs(carol, alice, earlier)).rejects.toMatchObject({ reason: 'auth-failed' });

    // bob got no new key from alice; his receiver ratchets the one he has, one step.
    await flushToDevice(alice, bob);
    expect(bob.sink.peerHistory.filter((entry) => entry.participantId === alice.participantId)).toHaveLength(bobGotFromAlice);
    await expect(readAs(bob, alice, await frameFrom(alice, 'after carol'))).rejects.toBeInstanceOf(SFrameError);
    expect(await readRatcheting(bob, alice, await frameFrom(alice, 'after carol'))).toEqual({ text: 'after carol', steps: 1 });
  });

  it('after a leave, the remaining devices use fresh keys at the next index that the leaver never receives', async () => {
    const aliceBefore = alice.sink.own!;
    const carolBefore = carol.sink.own!;
    const bobReceivedBefore = bob.rawKeys.length;
    expect(bobReceivedBefore).toBeGreaterThan(0);
    await bob.leaveCall();
    await waitFor(() => alice.sink.own?.index === (aliceBefore.index + 1) % 256 && carol.sink.own?.index === (carolBefore.index + 1) % 256, {
      ...WAIT,
      description: 'alice and carol switched to fresh keys',
    });
    await reads(carol, alice);
    await reads(alice, carol);
    expect(alice.sink.peers.has(bob.participantId)).toBe(false);

    await flushToDevice(alice, bob);
    await flushToDevice(carol, bob);
    const fresh = [alice.sink.own!.key, carol.sink.own!.key];
    expect(bob.rawKeys.some((event) => fresh.some((key) => sameBytes(event.key, key)))).toBe(false);
    expect(bob.rawKeys).toHaveLength(bobReceivedBefore);
  });

  it('interop: a js-sdk MatrixRTCSession with its own key transport and our manager accept each other’s keys', async () => {
    const daveKeys: Array<{ key: Uint8Array; index: number; identity: string }> = [];
    const session = dave.joinCall(roomId, { elementCall: true });
    session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, (key, index, _membership, identity) => {
      daveKeys.push({ key: new Uint8Array(key), index, identity });
    });
    // Dave's own key, as js-sdk emits it for its own membership.
    const daveOwn = await waitFor(() => daveKeys.find((entry) => entry.identity === dave.participantId), { ...WAIT, description: 'dave’s own key' });
    // Our managers accept the key js-sdk sent.
    await waitFor(() => sameBytes(alice.sink.peerKey(dave.participantId, daveOwn.index), daveOwn.key), { ...WAIT, description: 'alice has dave’s key' });
    await waitFor(() => sameBytes(carol.sink.peerKey(dave.participantId, daveOwn.index), daveOwn.key), { ...WAIT, description: 'carol has dave’s key' });
    // js-sdk accepts ours, reports it for our rtcBackendIdentity, and it is the key we encrypt with.
    await waitFor(
      () => daveKeys.some((entry) => entry.identity === alice.participantId && entry.index === alice.sink.own?.index && sameBytes(entry.key, alice.sink.own?.key)),
      { ...WAIT, description: 'dave has the key alice encrypts with' },
    );
    await waitFor(
      () => daveKeys.some((entry) => entry.identity === carol.participantId && entry.index === carol.sink.own?.index && sameBytes(entry.key, carol.sink.own?.key)),
      { ...WAIT, description: 'dave has the key carol encrypts with' },
    );
    await session.leaveRoomSession(5_000);
  });
});
