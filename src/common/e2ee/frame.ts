// Our encrypted media frame: clear codec prefix ‖ SFrame(header ‖ ciphertext ‖ tag), with the
// prefix as SFrame metadata so it is authenticated (RFC 9605 §4.4.3 AAD = header ‖ metadata).
// Also the KID layout, and a parser an RTP tap can use to see that payloads are SFrame.
//
// KID layout: KID = senderIndex << 8 | keyIndex (RFC 9605 §5.1 builds KIDs from fields the same
// way). keyIndex (0-255, low 8 bits) is the MatrixRTC key index, which key distribution already
// takes modulo 256. senderIndex (0-65535) numbers the encrypting contexts that share one base
// key, e.g. 0 for a device's microphone, 1 for its camera, 2 for its screen share. Why it is
// there: RFC 9605 §9.1 demands that each (base_key, KID, CTR) encrypts at most once, and the KID
// is bound into the key derivation (§4.4.2), so contexts with distinct sender indexes get
// distinct keys and salts and may each count CTR from 0 without ever sharing a nonce. With one
// context per key, use senderIndex 0: KIDs 0-7 then fit in the config byte (1-byte header +
// CTR). Receivers keep one keyring per sending participant, look up by keyIndex (splitKid()) and
// derive the SFrameKey for the full KID; the header KID is authenticated.

import { splitFrame } from './codecPrefix.ts';
import { KID_KEY_INDEX_BITS, MAX_KEY_INDEX, MAX_SENDER_INDEX, SFRAME_MIN_TAG_BYTES } from './constants.ts';
import { SFrameError } from './errors.ts';
import { decodeSFrameHeader, sframeDecrypt, sframeEncrypt } from './sframe.ts';
import type { SFrameKey, SFrameKeyLookup } from './types.ts';

/** What {@link decryptFrame} returns: the authenticated KID and CTR, and the original frame. */
export interface DecryptedFrame {
  readonly kid: bigint;
  readonly ctr: bigint;
  /** The encoded frame as the sender's encoder produced it (clear prefix ‖ plaintext). */
  readonly frame: Uint8Array;
}

/** An SFrame header found after a codec's clear prefix ({@link parseSFrameAfterPrefix}). */
export interface SFrameAfterPrefix {
  /** Clear prefix length for this codec and frame. */
  readonly prefixLength: number;
  readonly kid: bigint;
  readonly ctr: bigint;
  /** Header length in bytes, counted from the end of the prefix. */
  readonly headerLength: number;
}

/** The two fields of a KID in our layout (see the file header). */
export interface KidFields {
  readonly senderIndex: number;
  readonly keyIndex: number;
}

const MAX_KID = (BigInt(MAX_SENDER_INDEX) << BigInt(KID_KEY_INDEX_BITS)) | BigInt(MAX_KEY_INDEX);

/**
 * Builds a KID: `senderIndex << 8 | keyIndex` (layout and rationale in the file header).
 * @param senderIndex integer 0-65535: which encrypting context under the same base key.
 * @param keyIndex integer 0-255: the MatrixRTC key index.
 * @throws RangeError when either index is not an integer in range.
 */
export function makeKid(senderIndex: number, keyIndex: number): bigint {
  if (!Number.isInteger(senderIndex) || senderIndex < 0 || senderIndex > MAX_SENDER_INDEX) {
    throw new RangeError(`senderIndex must be an integer from 0 to ${MAX_SENDER_INDEX}`);
  }
  if (!Number.isInteger(keyIndex) || keyIndex < 0 || keyIndex > MAX_KEY_INDEX) {
    throw new RangeError(`keyIndex must be an integer from 0 to ${MAX_KEY_INDEX}`);
  }
  return (BigInt(senderIndex) << BigInt(KID_KEY_INDEX_BITS)) | BigInt(keyIndex);
}

/**
 * Splits a KID read from a header into sender and key index; `undefined` when the KID lies
 * outside our layout (a peer's frame we cannot have a key for).
 */
export function splitKid(kid: bigint): KidFields | undefined {
  if (kid < 0n || kid > MAX_KID) return undefined;
  return { senderIndex: Number(kid >> BigInt(KID_KEY_INDEX_BITS)), keyIndex: Number(kid & BigInt(MAX_KEY_INDEX)) };
}

/**
 * Encrypts one encoded frame: clear prefix ‖ SFrame(header ‖ ciphertext ‖ tag), metadata = the
 * clear prefix. Empty frames (`RTCEncodedVideoFrame.type === 'empty'`) are not encrypted: the
 * transform passes them through and this function refuses them.
 * @param ctr the sender's next counter for this key; never reuse one (RFC 9605 §9.1).
 * @throws SFrameError `unsupported-codec`, `bad-frame` (empty, or shorter than its prefix), `out-of-range`.
 */
export async function encryptFrame(key: SFrameKey, ctr: bigint, mimeType: string, frame: Uint8Array): Promise<Uint8Array> {
  if (frame.length === 0) throw new SFrameError('bad-frame', 'empty frames are passed through, not encrypted');
  const { prefix, body } = splitFrame(mimeType, frame);
  const sealed = await sframeEncrypt(key, ctr, prefix, body);
  const out = new Uint8Array(prefix.length + sealed.length);
  out.set(prefix, 0);
  out.set(sealed, prefix.length);
  return out;
}

/**
 * Inverse of {@link encryptFrame}: reads the clear prefix (its length comes from the clear bytes,
 * e.g. the VP8 P bit), decrypts the SFrame after it with the prefix as metadata, and returns
 * prefix ‖ plaintext.
 * @throws SFrameError `unsupported-codec`, `bad-frame` (empty or shorter than its prefix),
 *   `bad-header`, `unknown-kid`, `auth-failed`.
 */
export async function decryptFrame(lookup: SFrameKeyLookup, mimeType: string, data: Uint8Array): Promise<DecryptedFrame> {
  if (data.length === 0) throw new SFrameError('bad-frame', 'empty frames are passed through, not decrypted');
  const { prefix, body } = splitFrame(mimeType, data);
  const { kid, ctr, plaintext } = await sframeDecrypt(lookup, prefix, body);
  const frame = new Uint8Array(prefix.length + plaintext.length);
  frame.set(prefix, 0);
  frame.set(plaintext, prefix.length);
  return { kid, ctr, frame };
}

/**
 * Parses the SFrame header that follows the codec's clear prefix, without any key; `undefined`
 * when the data is too short, the header is malformed, or fewer than 4 bytes (the shortest tag)
 * follow it. For a server-side RTP tap: pass the payload of a packet that starts a frame (VP8:
 * after the payload descriptor, with S = 1 and PID = 0). Almost any bytes parse as some header,
 * so a tap test should also check the KID it expects and that CTR increases per frame.
 * @throws SFrameError `unsupported-codec` (a caller error, not a data error).
 */
export function parseSFrameAfterPrefix(mimeType: string, data: Uint8Array): SFrameAfterPrefix | undefined {
  if (data.length === 0) return undefined;
  let split;
  try {
    split = splitFrame(mimeType, data);
  } catch (error) {
    if (error instanceof SFrameError && error.reason === 'bad-frame') return undefined;
    throw error;
  }
  let header;
  try {
    header = decodeSFrameHeader(split.body);
  } catch (error) {
    if (error instanceof SFrameError && error.reason === 'bad-header') return undefined;
    throw error;
  }
  if (split.body.length < header.headerLength + SFRAME_MIN_TAG_BYTES) return undefined;
  return { prefixLength: split.prefix.length, ...header };
}

/** Whether `data` has a well-formed SFrame header after the clear prefix ({@link parseSFrameAfterPrefix}). */
export function isSFrameAfterPrefix(mimeType: string, data: Uint8Array): boolean {
  return parseSFrameAfterPrefix(mimeType, data) !== undefined;
}
