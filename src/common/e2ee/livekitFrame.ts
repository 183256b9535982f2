// LiveKit's E2EE frame format (the format livekit-client's E2EE worker writes, and so Element
// Call's), written from its observable wire behaviour, for calls that include Element Call users
// (README.md §11, and §12 for when a call uses it). WebCrypto only: runs in browser Workers and Node alike.
//
//   encrypted frame = clear codec prefix ‖ AES-GCM(ciphertext ‖ 16-byte tag) ‖ IV (12) ‖ IV length (1) ‖ key index (1)
//
// - Clear prefix: the same lengths as ours (codecPrefix.ts: Opus 1, VP8 key frame 10, VP8 delta
//   3, VP9 0); it is the AES-GCM additional data, so it is authenticated, not encrypted.
// - Key: AES-GCM 128 derived from the raw key bytes (the 16-byte MatrixRTC key as delivered) with
//   HKDF-SHA-256, salt = UTF-8 "LKFrameEncryptionKey", info = 128 zero bytes.
// - IV: any 12 bytes, carried in clear; receivers never interpret it. It must never repeat under
//   one key. livekit-client writes SSRC ‖ RTP timestamp ‖ (timestamp − sendCount mod 0xffff);
//   we write a per-worker random 32-bit value ‖ our KID (sender index, key index) ‖ a 32-bit frame
//   counter that never repeats per KID (liveKitIv()).
// - Ratchet (livekit-client's, used by its receivers on a failed decrypt): new material =
//   HKDF-SHA-256(material, salt = "LKFrameEncryptionKey", info = 128 zero bytes) → 32 bytes, from
//   which the AES key is derived as above. Element Call (matrix-js-sdk) never ratchets its own
//   sending key, it rotates; see README.md §12.
// - No SFrame header, no KID beyond the key index byte, no counter: replay is not detected, as
//   with SFrame. Server-injected frames (livekit "SIF" trailer) never occur on this SFU.

import { splitFrame } from './codecPrefix.ts';
import { SFrameError } from './errors.ts';
import type { WebCryptoKey } from './types.ts';

/** HKDF salt (and ratchet salt) of livekit-client's key provider defaults. */
export const LIVEKIT_KEY_SALT = 'LKFrameEncryptionKey';
/** HKDF info: livekit-client passes a fresh 128-byte ArrayBuffer, i.e. 128 zero bytes. */
export const LIVEKIT_HKDF_INFO_BYTES = 128;
/** AES-GCM IV length, written in the trailer. */
export const LIVEKIT_IV_BYTES = 12;
/** Trailer after the IV: IV length, key index. */
export const LIVEKIT_TRAILER_BYTES = 2;
/** AES-GCM tag length (WebCrypto default). */
export const LIVEKIT_TAG_BYTES = 16;
/** Bytes a LiveKit-format frame adds to the encoded frame: tag ‖ IV ‖ trailer = 30. */
export const LIVEKIT_FRAME_OVERHEAD_BYTES = LIVEKIT_TAG_BYTES + LIVEKIT_IV_BYTES + LIVEKIT_TRAILER_BYTES;
/** Bytes of ratcheted key material (livekit-client derives 256 bits per ratchet step). */
export const LIVEKIT_RATCHET_BYTES = 32;
/** Receivers' ratchet attempts per failed frame: Element Call's MatrixKeyProvider uses 10 (livekit-client default 8). */
export const LIVEKIT_ELEMENT_CALL_RATCHET_WINDOW = 10;

const encoder = new TextEncoder();

function hkdfParams(): { name: string; hash: string; salt: Uint8Array<ArrayBuffer>; info: Uint8Array<ArrayBuffer> } {
  return { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode(LIVEKIT_KEY_SALT), info: new Uint8Array(LIVEKIT_HKDF_INFO_BYTES) };
}

async function importMaterial(material: Uint8Array): Promise<WebCryptoKey> {
  if (!(material instanceof Uint8Array) || material.length === 0) throw new TypeError('key material must be non-empty bytes');
  return globalThis.crypto.subtle.importKey('raw', material as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits', 'deriveKey']);
}

/**
 * The AES-GCM 128 frame key of raw key material (a 16-byte MatrixRTC key, or 32 bytes of
 * ratcheted material), as livekit-client's key handler derives it. Not extractable.
 * @throws TypeError for empty material.
 */
export async function deriveLiveKitFrameKey(material: Uint8Array): Promise<WebCryptoKey> {
  const base = await importMaterial(material);
  return globalThis.crypto.subtle.deriveKey(hkdfParams(), base, { name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
}

/** One livekit-client ratchet step: 32 bytes of new key material derived from `material`. */
export async function ratchetLiveKitMaterial(material: Uint8Array): Promise<Uint8Array> {
  const base = await importMaterial(material);
  return new Uint8Array(await globalThis.crypto.subtle.deriveBits(hkdfParams(), base, LIVEKIT_RATCHET_BYTES * 8));
}

/**
 * Our IV for one frame: `nonceSalt` (32 bits, random per worker) ‖ `kid` (32 bits: sender index
 * << 8 | key index) ‖ `counter` (32 bits). Unique per key as long as a (kid, counter) pair is
 * used once per worker, which the own keyring's counters guarantee.
 * @throws RangeError when a field does not fit 32 bits.
 */
export function liveKitIv(nonceSalt: number, kid: bigint, counter: bigint): Uint8Array {
  if (!Number.isInteger(nonceSalt) || nonceSalt < 0 || nonceSalt > 0xffff_ffff) throw new RangeError('nonceSalt must be a 32-bit unsigned integer');
  if (kid < 0n || kid > 0xffff_ffffn) throw new RangeError('kid must fit 32 bits');
  if (counter < 0n || counter > 0xffff_ffffn) throw new RangeError('counter must fit 32 bits');
  const iv = new Uint8Array(LIVEKIT_IV_BYTES);
  const view = new DataView(iv.buffer);
  view.setUint32(0, nonceSalt);
  view.setUint32(4, Number(kid));
  view.setUint32(8, Number(counter));
  return iv;
}

/** What the trailer of a LiveKit-format frame says, read without a key. */
export interface LiveKitTrailer {
  /** Clear prefix length for this codec and frame. */
  readonly prefixLength: number;
  /** The key index byte (livekit-client: the MatrixRTC key index modulo its keyring size; Element Call's keyring holds 256). */
  readonly keyIndex: number;
  /** Offset of the IV in the frame. */
  readonly ivOffset: number;
}

/**
 * Reads the trailer of a received frame: `undefined` when the frame cannot be LiveKit format
 * (too short for prefix, tag, IV and trailer, or an IV length other than 12). Almost any bytes
 * ending in `0c xx` pass, so callers still need the AEAD to decide.
 * @throws SFrameError `unsupported-codec` (a caller error, not a data error).
 */
export function parseLiveKitTrailer(mimeType: string, data: Uint8Array): LiveKitTrailer | undefined {
  if (data.length === 0) return undefined;
  let prefixLength: number;
  try {
    prefixLength = splitFrame(mimeType, data).prefix.length;
  } catch (error) {
    if (error instanceof SFrameError && error.reason === 'bad-frame') return undefined;
    throw error;
  }
  if (data.length < prefixLength + LIVEKIT_FRAME_OVERHEAD_BYTES) return undefined;
  const ivLength = data[data.length - 2];
  if (ivLength !== LIVEKIT_IV_BYTES) return undefined;
  const keyIndex = data[data.length - 1] as number;
  return { prefixLength, keyIndex, ivOffset: data.length - LIVEKIT_TRAILER_BYTES - LIVEKIT_IV_BYTES };
}

/**
 * Encrypts one encoded frame into LiveKit's format under `key` (deriveLiveKitFrameKey) with
 * `iv` (12 bytes, never reused under this key) and the key index byte `keyIndex`.
 * @throws SFrameError `unsupported-codec`, `bad-frame` (empty, or shorter than its prefix);
 *   RangeError for a bad key index or IV length.
 */
export async function encryptLiveKitFrame(key: WebCryptoKey, iv: Uint8Array, keyIndex: number, mimeType: string, frame: Uint8Array): Promise<Uint8Array> {
  if (!Number.isInteger(keyIndex) || keyIndex < 0 || keyIndex > 255) throw new RangeError('keyIndex must be an integer from 0 to 255');
  if (iv.length !== LIVEKIT_IV_BYTES) throw new RangeError(`the IV is ${LIVEKIT_IV_BYTES} bytes`);
  if (frame.length === 0) throw new SFrameError('bad-frame', 'empty frames are passed through, not encrypted');
  const { prefix, body } = splitFrame(mimeType, frame);
  const sealed = new Uint8Array(
    await globalThis.crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: prefix as Uint8Array<ArrayBuffer> },
      key,
      body as Uint8Array<ArrayBuffer>,
    ),
  );
  const out = new Uint8Array(prefix.length + sealed.length + LIVEKIT_IV_BYTES + LIVEKIT_TRAILER_BYTES);
  out.set(prefix, 0);
  out.set(sealed, prefix.length);
  out.set(iv, prefix.length + sealed.length);
  out[out.length - 2] = LIVEKIT_IV_BYTES;
  out[out.length - 1] = keyIndex;
  return out;
}

/**
 * Decrypts a LiveKit-format frame with `key`; returns prefix ‖ plaintext.
 * @throws SFrameError `bad-frame` (not LiveKit format: see parseLiveKitTrailer), `auth-failed`
 *   (wrong key, or tampered), `unsupported-codec`.
 */
export async function decryptLiveKitFrame(key: WebCryptoKey, mimeType: string, data: Uint8Array): Promise<Uint8Array> {
  const trailer = parseLiveKitTrailer(mimeType, data);
  if (!trailer) throw new SFrameError('bad-frame', `a ${data.length}-byte ${mimeType} frame is not in LiveKit's format`);
  const prefix = data.subarray(0, trailer.prefixLength);
  const iv = data.subarray(trailer.ivOffset, trailer.ivOffset + LIVEKIT_IV_BYTES);
  const sealed = data.subarray(trailer.prefixLength, trailer.ivOffset);
  let plain: ArrayBuffer;
  try {
    plain = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: prefix as Uint8Array<ArrayBuffer> },
      key,
      sealed as Uint8Array<ArrayBuffer>,
    );
  } catch (error) {
    throw new SFrameError('auth-failed', 'the LiveKit-format frame did not authenticate', { cause: error });
  }
  const out = new Uint8Array(prefix.length + plain.byteLength);
  out.set(prefix, 0);
  out.set(new Uint8Array(plain), prefix.length);
  return out;
}
