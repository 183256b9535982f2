// The key ratchet of our key policy (RFC 9605 §5.1): when someone joins,
// every sender replaces its current base key K with
// HKDF-Expand(HKDF-Extract(salt = "", K), "SFrame 1.0 Ratchet", 16) (HKDF-SHA256)
// under the SAME key index, and hands joiners only the ratcheted key, so they cannot decrypt
// frames sent before they joined. Receivers that fail to decrypt with a known
// key ratchet it forward (at most MAX_RATCHET_STEPS) and retry. WebCrypto
// only: runs in browser Workers and Node alike.

/**
 * HKDF `info` of one ratchet step: RFC 9605 §5.1's label. The output is 16
 * bytes, not the RFC example's Nh = 32, so ratcheted keys keep MatrixRTC's
 * key size (README.md §8). Changing either is a wire break.
 */
export const RATCHET_INFO = 'SFrame 1.0 Ratchet';

/** Largest number of forward steps a receiver tries on a decryption failure. */
export const MAX_RATCHET_STEPS = 8;

/** Length of MatrixRTC base keys: 16 random bytes (README.md §8). */
export const BASE_KEY_BYTES = 16;

const encoder = new TextEncoder();

/** One ratchet step: a new 16-byte base key derived from `key`. */
export async function ratchetKey(key: Uint8Array): Promise<Uint8Array> {
  if (key.byteLength !== BASE_KEY_BYTES) throw new TypeError(`base keys are ${BASE_KEY_BYTES} bytes`);
  const material = await globalThis.crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits']);
  const bits = await globalThis.crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: encoder.encode(RATCHET_INFO) },
    material,
    BASE_KEY_BYTES * 8,
  );
  return new Uint8Array(bits);
}
