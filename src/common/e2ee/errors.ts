// SFrame errors: one class with a reason from a closed set, so the frame cryptor can branch
// (wait for a key, count an authentication failure, drop a malformed frame) without reading
// messages. Messages carry KIDs and lengths at most, never key material or plaintext.

/** Every reason an SFrameError can carry. */
export const SFRAME_ERROR_REASONS = [
  /** The SFrame header is truncated or not minimally encoded, or too short for the tag (RFC 9605 §4.3). */
  'bad-header',
  /** A KID or CTR is negative or above 2^64 − 1 (RFC 9605 §4.3). */
  'out-of-range',
  /** No key is known for the header's KID (RFC 9605 §4.4.3: the receiver MAY buffer and retry). */
  'unknown-kid',
  /** The AEAD tag did not verify: wrong key, tampering, or a wrong clear prefix. */
  'auth-failed',
  /** The cipher suite id is not one we implement. */
  'unsupported-suite',
  /** The codec may not be used with E2EE (see codecPrefix.ts: H.264, AV1, ...). */
  'unsupported-codec',
  /** The encoded frame is empty or shorter than its codec's clear prefix. */
  'bad-frame',
] as const;

/** Why an SFrame operation failed. */
export type SFrameErrorReason = (typeof SFRAME_ERROR_REASONS)[number];

/**
 * Thrown by the SFrame primitive and frame helpers for data-driven failures. Programmer misuse
 * (wrong argument types, key material of the wrong length) throws native TypeError/RangeError.
 */
export class SFrameError extends Error {
  /** Stable reason callers branch on. */
  readonly reason: SFrameErrorReason;

  constructor(reason: SFrameErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SFrameError';
    this.reason = reason;
  }
}
