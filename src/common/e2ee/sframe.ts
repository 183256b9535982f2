// RFC 9605 SFrame on WebCrypto only: header encoding (§4.3), key derivation (§4.4.2), nonce and
// AAD (§4.4.3), AES-GCM and the AES-CTR + HMAC AEAD (§4.5.1). Runs unchanged in a browser Worker
// and in Node 24: globalThis.crypto.subtle, Uint8Array, DataView and bigint, nothing else.

import {
  AES_CTR_COUNTER_BITS,
  SFRAME_HEADER_X_FLAG,
  SFRAME_HEADER_Y_FLAG,
  SFRAME_KEY_LABEL,
  SFRAME_MAX_INLINE_VALUE,
  SFRAME_MAX_U64,
  SFRAME_SALT_LABEL,
  SFRAME_SUITES,
} from './constants.ts';
import { SFrameError } from './errors.ts';
import type {
  SFrameCipherSuite,
  SFrameCtrHmacKey,
  SFrameDecryptResult,
  SFrameHeader,
  SFrameKey,
  SFrameKeyLookup,
  SFrameKeyMaterial,
  SFrameSuiteParams,
} from './types.ts';

const textEncoder = new TextEncoder();
const KEY_LABEL_BYTES = textEncoder.encode(SFRAME_KEY_LABEL);
const SALT_LABEL_BYTES = textEncoder.encode(SFRAME_SALT_LABEL);
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Small byte helpers

/**
 * WebCrypto's BufferSource (DOM typings) wants a view on a plain ArrayBuffer. Views on one are
 * passed as is; anything else (a SharedArrayBuffer view) is copied, which browsers require anyway.
 */
function plain(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer) return bytes as Uint8Array<ArrayBuffer>;
  return bytes.slice() as Uint8Array<ArrayBuffer>;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Minimum number of bytes holding `value` (≥ 1 for value ≥ 1). */
function byteLength(value: bigint): number {
  let length = 0;
  for (let rest = value; rest > 0n; rest >>= 8n) length++;
  return length;
}

function writeBigEndian(out: Uint8Array, offset: number, value: bigint, length: number): void {
  let rest = value;
  for (let i = offset + length - 1; i >= offset; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

function readBigEndian(data: Uint8Array, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = offset; i < offset + length; i++) value = (value << 8n) | BigInt(data[i] ?? 0);
  return value;
}

/** Compares two equal-length byte strings without an early exit (RFC 9605 §4.5.1). */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

function checkU64(name: 'KID' | 'CTR', value: bigint): void {
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint`);
  if (value < 0n || value > SFRAME_MAX_U64) {
    throw new SFrameError('out-of-range', `${name} must be between 0 and 2^64 - 1`);
  }
}

/**
 * Returns the parameters of a cipher suite.
 * @throws SFrameError `unsupported-suite` for an id we do not implement.
 */
export function sframeSuiteParams(suite: number): SFrameSuiteParams {
  const params = SFRAME_SUITES.get(suite as SFrameCipherSuite);
  if (params === undefined) throw new SFrameError('unsupported-suite', `unsupported SFrame cipher suite ${suite}`);
  return params;
}

// ---------------------------------------------------------------------------------------------
// Header (RFC 9605 §4.3)

/**
 * Encodes an SFrame header: the config byte, then the KID and CTR as minimal big-endian
 * integers. Values 0-7 go inside the config byte (RFC 9605 §4.3).
 * @throws SFrameError `out-of-range` when kid or ctr is negative or above 2^64 − 1.
 */
export function encodeSFrameHeader(kid: bigint, ctr: bigint): Uint8Array {
  checkU64('KID', kid);
  checkU64('CTR', ctr);
  const kidLength = kid <= BigInt(SFRAME_MAX_INLINE_VALUE) ? 0 : byteLength(kid);
  const ctrLength = ctr <= BigInt(SFRAME_MAX_INLINE_VALUE) ? 0 : byteLength(ctr);
  const header = new Uint8Array(1 + kidLength + ctrLength);
  const kidField = kidLength === 0 ? Number(kid) << 4 : SFRAME_HEADER_X_FLAG | ((kidLength - 1) << 4);
  const ctrField = ctrLength === 0 ? Number(ctr) : SFRAME_HEADER_Y_FLAG | (ctrLength - 1);
  header[0] = kidField | ctrField;
  writeBigEndian(header, 1, kid, kidLength);
  writeBigEndian(header, 1 + kidLength, ctr, ctrLength);
  return header;
}

function decodeField(data: Uint8Array, offset: number, extended: boolean, field: number, name: 'KID' | 'CTR'): { value: bigint; next: number } {
  if (!extended) return { value: BigInt(field), next: offset };
  const length = field + 1;
  if (offset + length > data.length) throw new SFrameError('bad-header', `SFrame header truncated in the ${name}`);
  // RFC 9605 §4.3: values 0-7 MUST sit in the config byte, larger ones in the minimum number of
  // bytes. Accepting other encodings would give one frame several valid headers (and AADs).
  if (length > 1 && data[offset] === 0) throw new SFrameError('bad-header', `${name} has a leading zero byte`);
  const value = readBigEndian(data, offset, length);
  if (value <= BigInt(SFRAME_MAX_INLINE_VALUE)) throw new SFrameError('bad-header', `${name} below 8 must be inline`);
  return { value, next: offset + length };
}

/**
 * Decodes the SFrame header at the start of `data`.
 * @throws SFrameError `bad-header` when data is empty, truncated or not minimally encoded.
 */
export function decodeSFrameHeader(data: Uint8Array): SFrameHeader {
  const config = data[0];
  if (config === undefined) throw new SFrameError('bad-header', 'empty SFrame ciphertext');
  const kid = decodeField(data, 1, (config & SFRAME_HEADER_X_FLAG) !== 0, (config >> 4) & 0x07, 'KID');
  const ctr = decodeField(data, kid.next, (config & SFRAME_HEADER_Y_FLAG) !== 0, config & 0x07, 'CTR');
  return { kid: kid.value, ctr: ctr.value, headerLength: ctr.next };
}

// ---------------------------------------------------------------------------------------------
// Key schedule (RFC 9605 §4.4.2)

function kdfLabel(prefix: Uint8Array, suite: SFrameCipherSuite, kid: bigint): Uint8Array<ArrayBuffer> {
  const label = new Uint8Array(prefix.length + 8 + 2);
  label.set(prefix, 0);
  const view = new DataView(label.buffer);
  view.setBigUint64(prefix.length, kid);
  view.setUint16(prefix.length + 8, suite);
  return label;
}

/**
 * The HKDF-Expand info of `sframe_key`: "SFrame 1.0 Secret key " ‖ KID (8 bytes) ‖ suite (2 bytes),
 * big-endian (RFC 9605 §4.4.2).
 */
export function sframeKeyLabel(suite: number, kid: bigint): Uint8Array {
  checkU64('KID', kid);
  return kdfLabel(KEY_LABEL_BYTES, sframeSuiteParams(suite).id, kid);
}

/** The HKDF-Expand info of `sframe_salt`: "SFrame 1.0 Secret salt " ‖ KID (8) ‖ suite (2) (RFC 9605 §4.4.2). */
export function sframeSaltLabel(suite: number, kid: bigint): Uint8Array {
  checkU64('KID', kid);
  return kdfLabel(SALT_LABEL_BYTES, sframeSuiteParams(suite).id, kid);
}

/**
 * Runs the RFC 9605 §4.4.2 key schedule and returns the raw `sframe_key` and `sframe_salt`:
 * `sframe_secret = HKDF-Extract("", base_key)`, then HKDF-Expand with the key and salt labels.
 * The result is secret; prefer {@link deriveSFrameKey}, which keeps the key inside WebCrypto.
 * @throws SFrameError `unsupported-suite`, `out-of-range` (KID).
 */
export async function deriveSFrameKeyMaterial(suite: number, baseKey: Uint8Array, kid: bigint): Promise<SFrameKeyMaterial> {
  const params = sframeSuiteParams(suite);
  checkU64('KID', kid);
  const subtle = globalThis.crypto.subtle;
  const ikm = await subtle.importKey('raw', plain(baseKey), 'HKDF', false, ['deriveBits']);
  // WebCrypto HKDF runs Extract then Expand; an empty salt is the RFC's empty salt (HMAC pads it
  // to Nh zero bytes), so one call per output matches the two-step description.
  const expand = async (info: Uint8Array<ArrayBuffer>, bytes: number) =>
    new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: params.hash, salt: EMPTY, info }, ikm, bytes * 8));
  const [key, salt] = await Promise.all([
    expand(kdfLabel(KEY_LABEL_BYTES, params.id, kid), params.nk),
    expand(kdfLabel(SALT_LABEL_BYTES, params.id, kid), params.nn),
  ]);
  return { key, salt };
}

/**
 * Wraps raw `sframe_key` / `sframe_salt` bytes as an {@link SFrameKey} with non-extractable
 * CryptoKeys. For CTR+HMAC suites the key is split into `enc_key` (first Nka bytes) and
 * `auth_key` (the remaining Nh bytes), RFC 9605 §4.5.1. The caller keeps ownership of `key`.
 * @throws SFrameError `unsupported-suite`, `out-of-range` (KID); TypeError when a length is wrong.
 */
export async function importSFrameKey(suite: number, kid: bigint, key: Uint8Array, salt: Uint8Array): Promise<SFrameKey> {
  const params = sframeSuiteParams(suite);
  checkU64('KID', kid);
  if (key.length !== params.nk) throw new TypeError(`${params.name} needs a ${params.nk}-byte key`);
  if (salt.length !== params.nn) throw new TypeError(`${params.name} needs a ${params.nn}-byte salt`);
  const subtle = globalThis.crypto.subtle;
  const common = { suite: params.id, kid, salt: salt.slice(), tagLength: params.nt };
  if (params.aead === 'aes-gcm') {
    const aesKey = await subtle.importKey('raw', plain(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    return Object.freeze({ ...common, aead: 'aes-gcm', key: aesKey });
  }
  const raw = plain(key);
  const [encKey, authKey] = await Promise.all([
    subtle.importKey('raw', raw.subarray(0, params.nka), { name: 'AES-CTR' }, false, ['encrypt', 'decrypt']),
    subtle.importKey('raw', raw.subarray(params.nka), { name: 'HMAC', hash: params.hash }, false, ['sign']),
  ]);
  return Object.freeze({ ...common, aead: 'aes-ctr-hmac', encKey, authKey });
}

/**
 * Derives the key and salt of one KID from a `base_key` (RFC 9605 §4.4.2) and imports them as
 * non-extractable WebCrypto keys. Derive once per KID and cache the result: this costs several
 * WebCrypto round trips. RFC 9605 §4.4.1: a base key MUST NOT be used to encrypt by more than
 * one sender, and each (base_key, KID, CTR) MUST encrypt at most once (§9.1).
 * @throws SFrameError `unsupported-suite` for an unknown suite, `out-of-range` for a KID above 2^64 − 1.
 */
export async function deriveSFrameKey(suite: number, baseKey: Uint8Array, kid: bigint): Promise<SFrameKey> {
  const material = await deriveSFrameKeyMaterial(suite, baseKey, kid);
  try {
    return await importSFrameKey(suite, kid, material.key, material.salt);
  } finally {
    material.key.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Nonce and AEAD (RFC 9605 §4.4.3, §4.5.1)

/**
 * `nonce = sframe_salt XOR encode_big_endian(CTR, Nn)` (RFC 9605 §4.4.3).
 * @throws SFrameError `out-of-range` for a CTR above 2^64 − 1.
 */
export function sframeNonce(key: SFrameKey, ctr: bigint): Uint8Array {
  checkU64('CTR', ctr);
  const nonce = key.salt.slice();
  const view = new DataView(nonce.buffer);
  const offset = nonce.length - 8;
  view.setBigUint64(offset, view.getBigUint64(offset) ^ ctr);
  return nonce;
}

async function ctrHmacTag(key: SFrameCtrHmacKey, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array> {
  // RFC 9605 §4.5.1: HMAC(auth_key, len(aad) ‖ len(ct) ‖ tag_len ‖ nonce ‖ aad ‖ ct), each
  // length an 8-byte big-endian integer, truncated to Nt bytes.
  const input = new Uint8Array(24 + nonce.length + aad.length + ct.length);
  const view = new DataView(input.buffer);
  view.setBigUint64(0, BigInt(aad.length));
  view.setBigUint64(8, BigInt(ct.length));
  view.setBigUint64(16, BigInt(key.tagLength));
  input.set(nonce, 24);
  input.set(aad, 24 + nonce.length);
  input.set(ct, 24 + nonce.length + aad.length);
  const mac = await globalThis.crypto.subtle.sign('HMAC', key.authKey, input);
  return new Uint8Array(mac, 0, key.tagLength);
}

function counterBlock(nonce: Uint8Array): Uint8Array<ArrayBuffer> {
  // RFC 9605 §4.5.1: the initial counter block is nonce ‖ 0^32 (block counter starts at 0).
  const block = new Uint8Array(16);
  block.set(nonce, 0);
  return block;
}

/**
 * The suite's AEAD.Encrypt(key, nonce, aad, pt) → ciphertext ‖ tag (RFC 9605 §4.4.3, §4.5.1).
 * Exposed for the RFC's AEAD test vectors; frames go through {@link sframeEncrypt}.
 */
export async function sframeAeadEncrypt(key: SFrameKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto.subtle;
  if (key.aead === 'aes-gcm') {
    const sealed = await subtle.encrypt(
      { name: 'AES-GCM', iv: plain(nonce), additionalData: plain(aad), tagLength: key.tagLength * 8 },
      key.key,
      plain(plaintext),
    );
    return new Uint8Array(sealed);
  }
  const ct = new Uint8Array(
    await subtle.encrypt({ name: 'AES-CTR', counter: counterBlock(nonce), length: AES_CTR_COUNTER_BITS }, key.encKey, plain(plaintext)),
  );
  const tag = await ctrHmacTag(key, nonce, aad, ct);
  const out = new Uint8Array(ct.length + tag.length);
  out.set(ct, 0);
  out.set(tag, ct.length);
  return out;
}

/**
 * The suite's AEAD.Decrypt(key, nonce, aad, ciphertext ‖ tag) → plaintext. CTR+HMAC suites
 * check the tag in constant time before decrypting (encrypt-then-MAC, RFC 9605 §4.5.1).
 * @throws SFrameError `auth-failed` when the tag does not verify or the input is shorter than it.
 */
export async function sframeAeadDecrypt(key: SFrameKey, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  if (ciphertext.length < key.tagLength) throw new SFrameError('auth-failed', 'ciphertext shorter than the tag');
  const subtle = globalThis.crypto.subtle;
  if (key.aead === 'aes-gcm') {
    let opened: ArrayBuffer;
    try {
      opened = await subtle.decrypt(
        { name: 'AES-GCM', iv: plain(nonce), additionalData: plain(aad), tagLength: key.tagLength * 8 },
        key.key,
        plain(ciphertext),
      );
    } catch (error) {
      throw new SFrameError('auth-failed', 'SFrame authentication failed', { cause: error });
    }
    return new Uint8Array(opened);
  }
  const split = ciphertext.length - key.tagLength;
  const ct = ciphertext.subarray(0, split);
  const expected = await ctrHmacTag(key, nonce, aad, ct);
  if (!constantTimeEqual(expected, ciphertext.subarray(split))) {
    throw new SFrameError('auth-failed', 'SFrame authentication failed');
  }
  return new Uint8Array(
    await subtle.decrypt({ name: 'AES-CTR', counter: counterBlock(nonce), length: AES_CTR_COUNTER_BITS }, key.encKey, plain(ct)),
  );
}

// ---------------------------------------------------------------------------------------------
// SFrame encrypt / decrypt (RFC 9605 §4.4.3)

/**
 * Encrypts one frame: `header ‖ AEAD.Encrypt(sframe_key, salt XOR CTR, header ‖ metadata, plaintext)`
 * (RFC 9605 §4.4.3). The header carries `key.kid` and `ctr`. The caller owns the counter and MUST
 * never reuse a CTR with the same key (§9.1).
 * @returns header ‖ ciphertext ‖ tag.
 * @throws SFrameError `out-of-range` for a CTR above 2^64 − 1.
 */
export async function sframeEncrypt(key: SFrameKey, ctr: bigint, metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const header = encodeSFrameHeader(key.kid, ctr);
  const sealed = await sframeAeadEncrypt(key, sframeNonce(key, ctr), concat(header, metadata), plaintext);
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header, 0);
  out.set(sealed, header.length);
  return out;
}

/**
 * Decrypts one SFrame ciphertext: parses the header, finds the key by KID, rebuilds nonce and
 * AAD (`header ‖ metadata`) and opens the AEAD (RFC 9605 §4.4.3). The returned kid and ctr are
 * authenticated; anti-replay on ctr is the caller's policy.
 * @throws SFrameError `bad-header` (malformed header, or too short for the tag), `unknown-kid`
 *   (lookup returned undefined; the caller MAY buffer and retry), `auth-failed`.
 */
export async function sframeDecrypt(lookup: SFrameKeyLookup, metadata: Uint8Array, data: Uint8Array): Promise<SFrameDecryptResult> {
  const { kid, ctr, headerLength } = decodeSFrameHeader(data);
  const key = lookup(kid);
  if (key === undefined) throw new SFrameError('unknown-kid', `no SFrame key for KID ${kid}`);
  if (data.length - headerLength < key.tagLength) throw new SFrameError('bad-header', 'SFrame ciphertext shorter than its tag');
  const header = data.subarray(0, headerLength);
  const plaintext = await sframeAeadDecrypt(key, sframeNonce(key, ctr), concat(header, metadata), data.subarray(headerLength));
  return { kid, ctr, plaintext };
}
