// Errors and rejections of MatrixRTC key distribution, each with a reason from a closed set so
// the UI and metrics can branch without reading messages. Messages carry ids and indexes at
// most, never key material.

/** Why handing our key out failed (or could not happen). */
export const KEY_DISTRIBUTION_ERROR_REASONS = [
  /** A key had to go out (someone left or rejoined) but no other member device remains. */
  'no-targets',
  /** `encryptAndSendToDevice` rejected; the policy retries with back-off. */
  'send-failed',
  /** The widget driver cannot send encrypted to-device messages (js-sdk's NotSupportedError). */
  'not-supported',
] as const;

/** Reason of a {@link KeyDistributionError}. */
export type KeyDistributionErrorReason = (typeof KEY_DISTRIBUTION_ERROR_REASONS)[number];

/** Our key could not be handed out; `reason` is stable, `cause` wraps the client's error. */
export class KeyDistributionError extends Error {
  readonly reason: KeyDistributionErrorReason;

  constructor(reason: KeyDistributionErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyDistributionError';
    this.reason = reason;
  }
}

/** Why a received key event was not installed. */
export const KEY_REJECTION_REASONS = [
  /** It arrived in clear, not Olm-encrypted. */
  'not-encrypted',
  /** The homeserver envelope's sender differs from the Olm-authenticated sender. */
  'sender-mismatch',
  /** Olm could not name the sending device (its device keys are unknown to us). */
  'unverified-device',
  /** `member.claimed_device_id` differs from the Olm sender device. */
  'device-mismatch',
  /** It claims to come from our own device. */
  'own-device',
  /** `room_id` is not the call's room. */
  'wrong-room',
  /** `keys.key` is empty, not base64, or does not decode to 16 bytes. */
  'bad-key',
  /** `keys.index` is not an integer 0–255. */
  'bad-index',
  /** The content is not the event's shape (`keys`, `member`, `sent_ts` missing or mistyped). */
  'malformed',
  /** A newer key (by `sent_ts`) of the same participant and index is installed already. */
  'outdated',
  /** Parked for a membership that did not arrive within the parking time. */
  'park-expired',
  /** Dropped from a full parking area (the oldest parked key goes first). */
  'park-overflow',
] as const;

/** Reason of a {@link KeyRejection}. */
export type KeyRejectionReason = (typeof KEY_REJECTION_REASONS)[number];

/** A received key event that was dropped, and why. Never holds key bytes. */
export interface KeyRejection {
  readonly reason: KeyRejectionReason;
  /** The sending user, when known. */
  readonly userId: string | undefined;
  /** The sending device (verified or claimed), when known. */
  readonly deviceId: string | undefined;
  /** Every fault found, for the debug log. */
  readonly detail: string;
}
