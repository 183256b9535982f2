// Factories for the key-manager unit tests: a fake of the narrow js-sdk client (three vi.fn()),
// a recording KeySink, to-device payloads shaped like js-sdk's ReceivedToDeviceMessage, fake
// timers that leave setImmediate real, and a settle() that lets WebCrypto (the ratchet) finish.

import { vi } from 'vitest';
import type { Mock } from 'vitest';
import type { ReceivedToDeviceMessage } from 'matrix-js-sdk';
import { encodeBase64 } from '../../../../../src/common/e2ee/keys/base64.ts';
import { CALL_ENCRYPTION_KEYS_EVENT_TYPE } from '../../../../../src/common/e2ee/keys/constants.ts';
import type { KeyMember, KeySink, KeyTransportClient } from '../../../../../src/common/e2ee/keys/types.ts';

export const ROOM_ID = '!room:example.org';
export const ALICE = { userId: '@alice:example.org', deviceId: 'ALICEDEV', memberId: 'alice-member' } as const;

/** One call of encryptAndSendToDevice. */
export interface SentKey {
  readonly type: string;
  readonly devices: readonly { userId: string; deviceId: string }[];
  readonly payload: Record<string, unknown>;
}

/** The fake client, its recorded sends and a way to deliver to-device messages. */
export interface FakeClient {
  readonly client: KeyTransportClient;
  readonly sends: SentKey[];
  readonly encryptAndSendToDevice: Mock<(type: string, devices: { userId: string; deviceId: string }[], payload: Record<string, unknown>) => Promise<void>>;
  /** Emits `event` with `args` to the listeners registered through client.on(). */
  emit(event: string, ...args: unknown[]): void;
  listenerCount(event: string): number;
}

/** A fake `Pick<MatrixClient, 'encryptAndSendToDevice' | 'on' | 'off'>`. */
export function fakeClient(): FakeClient {
  const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
  const sends: SentKey[] = [];
  const encryptAndSendToDevice = vi.fn(async (type: string, devices: { userId: string; deviceId: string }[], payload: Record<string, unknown>) => {
    sends.push({ type, devices: [...devices], payload: structuredClone(payload) });
  });
  const on = vi.fn((event: string, listener: (...args: unknown[]) => void) => {
    const set = listeners.get(event) ?? new Set();
    set.add(listener);
    listeners.set(event, set);
  });
  const off = vi.fn((event: string, listener: (...args: unknown[]) => void) => {
    listeners.get(event)?.delete(listener);
  });
  return {
    client: { encryptAndSendToDevice, on, off } as unknown as KeyTransportClient,
    sends,
    encryptAndSendToDevice,
    emit(event, ...args) {
      for (const listener of listeners.get(event) ?? []) listener(...args);
    },
    listenerCount: (event) => listeners.get(event)?.size ?? 0,
  };
}

/** A KeySink that records every call. */
export function recordingSink(): KeySink & { own: Array<[number, Uint8Array]>; peers: Array<[string, number, Uint8Array]>; removed: string[] } {
  const own: Array<[number, Uint8Array]> = [];
  const peers: Array<[string, number, Uint8Array]> = [];
  const removed: string[] = [];
  return {
    own,
    peers,
    removed,
    setOwnKey: (index, key) => own.push([index, key]),
    setPeerKey: (participantId, index, key) => peers.push([participantId, index, key]),
    removePeer: (participantId) => removed.push(participantId),
  };
}

/** A membership of `name`'s device (`@name:example.org`, `NAMEDEV`). */
export function member(name: string, createdTs = 1_000): KeyMember {
  return { userId: `@${name}:example.org`, deviceId: `${name.toUpperCase()}DEV`, memberId: `${name}-member`, createdTs };
}

/** 16 bytes, all `fill`. */
export function keyBytes(fill: number): Uint8Array {
  return new Uint8Array(16).fill(fill);
}

/** Options of {@link keyMessage}: what to change from a valid key event of `from`. */
export interface KeyMessageOptions {
  readonly index?: unknown;
  readonly key?: unknown;
  readonly roomId?: unknown;
  readonly sentTs?: unknown;
  readonly claimedDeviceId?: unknown;
  /** Replace the whole content. */
  readonly content?: unknown;
  /** `null`: arrived in clear. Default: Olm info naming `from`'s user and device. */
  readonly encryptionInfo?: ReceivedToDeviceMessage['encryptionInfo'];
  readonly type?: string;
}

/** A ReceivedToDeviceMessage carrying a key event from `from`, valid unless `options` say otherwise. */
export function keyMessage(from: KeyMember, options: KeyMessageOptions = {}): ReceivedToDeviceMessage {
  const pick = <K extends keyof KeyMessageOptions>(name: K, fallback: unknown): unknown => (name in options ? options[name] : fallback);
  const content = options.content ?? {
    keys: { index: pick('index', 0), key: pick('key', encodeBase64(keyBytes(7))) },
    room_id: pick('roomId', ROOM_ID),
    member: { id: from.memberId, claimed_device_id: pick('claimedDeviceId', from.deviceId) },
    session: { application: 'm.call', call_id: '', scope: 'm.room' },
    sent_ts: pick('sentTs', 5_000),
  };
  const encryptionInfo =
    options.encryptionInfo === undefined
      ? { sender: from.userId, senderDevice: from.deviceId, senderCurve25519KeyBase64: 'curve', senderVerified: false }
      : options.encryptionInfo;
  return {
    message: { type: options.type ?? CALL_ENCRYPTION_KEYS_EVENT_TYPE, sender: from.userId, content: content as Record<string, unknown> },
    encryptionInfo,
  };
}

/** Fakes only the timer functions and Date, so setImmediate stays real for {@link settle}. */
export function useFakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(1_700_000_000_000);
}

/** Lets pending promises and WebCrypto work finish, without moving fake time. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Waits until `check` holds, turning the real event loop without moving fake time (WebCrypto
 * runs on the thread pool, so a loaded machine needs real time). Gives up after 5 s of
 * performance.now(), which the fake clock leaves alone.
 */
export async function until(check: () => boolean, description: string): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`never held within 5 s: ${description}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
