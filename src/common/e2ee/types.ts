// Types of the SFrame primitive (RFC 9605): cipher suites, derived per-KID keys, parsed headers.
// Only WebCrypto types are used, so the same declarations hold in a browser Worker and in Node.

/** A CryptoKey, typed through `crypto.subtle` so it needs neither DOM nor `node:` declarations. */
export type WebCryptoKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

/**
 * An SFrame cipher suite id: 1-5 from RFC 9605 §4.5, 6-8 the working group's AES-256 CTR+HMAC
 * extension (not RFC 9605, see constants.ts).
 */
export type SFrameCipherSuite = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** Parameters of one cipher suite, in bytes (RFC 9605 §4.5 table). */
export interface SFrameSuiteParams {
  /** The IANA code point. */
  readonly id: SFrameCipherSuite;
  /** The registry name, e.g. `AES_128_GCM_SHA256_128`. */
  readonly name: string;
  /** Which AEAD: WebCrypto AES-GCM, or the §4.5.1 AES-CTR + HMAC construction. */
  readonly aead: 'aes-gcm' | 'aes-ctr-hmac';
  /** Hash of HKDF (and of HMAC for CTR suites). */
  readonly hash: 'SHA-256' | 'SHA-512';
  /** Hash output size. */
  readonly nh: number;
  /** AES key size inside a CTR+HMAC key; 0 for GCM suites. */
  readonly nka: number;
  /** AEAD key size (`sframe_key`). */
  readonly nk: number;
  /** Nonce size (`sframe_salt`). */
  readonly nn: number;
  /** Authentication tag size. */
  readonly nt: number;
  /** Whether RFC 9605 defines the suite. */
  readonly rfc9605: boolean;
}

interface SFrameKeyBase {
  /** Cipher suite the key was derived for. */
  readonly suite: SFrameCipherSuite;
  /** The KID this key was derived for; it is bound into the derivation (RFC 9605 §4.4.2). */
  readonly kid: bigint;
  /** `sframe_salt` (Nn bytes). Not secret on its own, but treat it as read-only. */
  readonly salt: Uint8Array;
  /** Tag length Nt in bytes. */
  readonly tagLength: number;
}

/** A derived key of an AES-GCM suite (4, 5): `sframe_key` as one non-extractable CryptoKey. */
export interface SFrameGcmKey extends SFrameKeyBase {
  readonly aead: 'aes-gcm';
  /** AES-GCM key, usages encrypt and decrypt, not extractable. */
  readonly key: WebCryptoKey;
}

/** A derived key of an AES-CTR + HMAC suite (1-3, 6-8): `sframe_key` split per RFC 9605 §4.5.1. */
export interface SFrameCtrHmacKey extends SFrameKeyBase {
  readonly aead: 'aes-ctr-hmac';
  /** `enc_key`: the first Nka bytes, as an AES-CTR key, not extractable. */
  readonly encKey: WebCryptoKey;
  /** `auth_key`: the remaining Nh bytes, as an HMAC signing key, not extractable. */
  readonly authKey: WebCryptoKey;
}

/** Everything needed to encrypt or decrypt SFrame ciphertexts under one (base_key, KID). */
export type SFrameKey = SFrameGcmKey | SFrameCtrHmacKey;

/** Finds the key for a KID read from a received header; `undefined` when none is known. */
export type SFrameKeyLookup = (kid: bigint) => SFrameKey | undefined;

/** A decoded SFrame header (RFC 9605 §4.3). */
export interface SFrameHeader {
  readonly kid: bigint;
  readonly ctr: bigint;
  /** Bytes the header occupies at the start of the input (1 to 17). */
  readonly headerLength: number;
}

/** What `sframeDecrypt()` returns: the authenticated header fields and the plaintext. */
export interface SFrameDecryptResult {
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly plaintext: Uint8Array;
}

/** Raw output of the RFC 9605 §4.4.2 key schedule, before import into WebCrypto. Secret. */
export interface SFrameKeyMaterial {
  /** `sframe_key`, Nk bytes. */
  readonly key: Uint8Array;
  /** `sframe_salt`, Nn bytes. */
  readonly salt: Uint8Array;
}
