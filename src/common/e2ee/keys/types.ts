// Types of MatrixRTC key distribution: the KeySink contract with the browser frame cryptor,
// memberships as the app reports them, keys as the transport delivers them, and the narrow
// matrix-js-sdk client the transport needs, plus the two device-id helpers every part shares.
// No runtime dependencies: runs in browsers and Node alike.

import type { MatrixClient } from 'matrix-js-sdk';

/** Where the key manager installs keys for the frame cryptor. participantId = `${userId}:${deviceId}` (the SFU participant id / rtcBackendIdentity). */
export interface KeySink {
  /** Our sender encrypts with this key from now on (index 0–255). */
  setOwnKey(keyIndex: number, key: Uint8Array): void;
  /** Frames of participantId with this key index decrypt with `key`. */
  setPeerKey(participantId: string, keyIndex: number, key: Uint8Array): void;
  /** Forget every key of a participant (it left). */
  removePeer(participantId: string): void;
}

/**
 * One live call membership, as the app reports it (from js-sdk's `MatrixRTCSession`
 * `memberships_changed`: `sender`, `deviceId`, `memberId`, `createdTs()`).
 */
export interface KeyMember {
  readonly userId: string;
  readonly deviceId: string;
  /** The membership's member id (Element Call: a per-join UUID). Informational only. */
  readonly memberId: string;
  /** When the membership began; a change means the device left and joined again. */
  readonly createdTs: number;
}

/** Our own device in the call, as we announce it in `member` of every key event. */
export interface OwnKeyIdentity {
  readonly userId: string;
  readonly deviceId: string;
  /** Our member id (`member.id` of the key event). */
  readonly memberId: string;
}

/** A key receivers may use: 16 random or ratcheted bytes at an index 0–255. */
export interface IndexedKey {
  readonly index: number;
  readonly key: Uint8Array;
}

/** A key event that passed every transport check, before membership matching. */
export interface ReceivedCallKey extends IndexedKey {
  /** The sending user (homeserver envelope, equal to the Olm sender). */
  readonly userId: string;
  /** The sending device: the Olm sender device, or (widget mode) the claimed one. */
  readonly deviceId: string;
  /** Whether {@link deviceId} was established by Olm (false only in widget mode). */
  readonly deviceVerified: boolean;
  /** `member.id`, or `${userId}:${deviceId}` when absent (as js-sdk does). */
  readonly memberId: string;
  /** The sender's `sent_ts`: orders keys of one participant and index. */
  readonly sentTs: number;
  /** Local receive time (ms since the epoch). */
  readonly receivedAtMs: number;
}

/** Key state of one other participant, for the UI. */
export type PeerKeyState = 'waiting' | 'present';

/**
 * The part of matrix-js-sdk's client the key transport uses (js-sdk's own
 * ToDeviceKeyTransport takes the same three methods), so unit tests fake it with 3 `vi.fn()`.
 */
export type KeyTransportClient = Pick<MatrixClient, 'encryptAndSendToDevice' | 'on' | 'off'>;

/**
 * Injected time source and timers of the key policy and the key manager; tests pass fake ones
 * or use `vi.useFakeTimers()` with the default.
 */
export interface KeyClock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The participant id of a device: `${userId}:${deviceId}` (README.md, "Wire format"). */
export function participantIdOf(userId: string, deviceId: string): string {
  return `${userId}:${deviceId}`;
}

/** Map key of a device: user and device id, unambiguous (user ids cannot hold NUL). */
export function memberKey(member: { readonly userId: string; readonly deviceId: string }): string {
  return `${member.userId}\u0000${member.deviceId}`;
}
