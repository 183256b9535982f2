// SFrame (RFC 9605) and codec constants shared by the primitive, the frame format and the worker;
// every number names the section it comes from. Pure data: runs in browsers and Node alike.

import type { SFrameCipherSuite, SFrameSuiteParams } from './types.ts';

/** RFC 9605 §4.5, §8.1 (IANA "SFrame Cipher Suites" 0x0001): AES-128-CTR + HMAC-SHA256, 80-bit tag. */
export const AES_128_CTR_HMAC_SHA256_80 = 0x0001;
/** RFC 9605 §4.5, §8.1 (0x0002): AES-128-CTR + HMAC-SHA256, 64-bit tag. */
export const AES_128_CTR_HMAC_SHA256_64 = 0x0002;
/** RFC 9605 §4.5, §8.1 (0x0003): AES-128-CTR + HMAC-SHA256, 32-bit tag (see §7.5 on short tags). */
export const AES_128_CTR_HMAC_SHA256_32 = 0x0003;
/** RFC 9605 §4.5, §8.1 (0x0004): AES-128-GCM, HKDF-SHA256, 128-bit tag. */
export const AES_128_GCM_SHA256_128 = 0x0004;
/** RFC 9605 §4.5, §8.1 (0x0005): AES-256-GCM, HKDF-SHA512, 128-bit tag. */
export const AES_256_GCM_SHA512_128 = 0x0005;
/**
 * 0x0006 to 0x0008: AES-256-CTR + HMAC-SHA512 with 80/64/32-bit tags. NOT in RFC 9605 and not
 * IANA-registered: added to the sframe-wg/sframe repository in Sept 2025 (README.md §3).
 * Supported so the working group's vectors can check the generic CTR+HMAC path; never offer
 * them to peers unless both ends opt in.
 */
export const AES_256_CTR_HMAC_SHA512_80 = 0x0006;
/** Not RFC 9605: see {@link AES_256_CTR_HMAC_SHA512_80}. */
export const AES_256_CTR_HMAC_SHA512_64 = 0x0007;
/** Not RFC 9605: see {@link AES_256_CTR_HMAC_SHA512_80}. */
export const AES_256_CTR_HMAC_SHA512_32 = 0x0008;

/** The five cipher suites RFC 9605 defines (§4.5), all "Recommended: Y" in the IANA registry (§8.1). */
export const RFC9605_CIPHER_SUITES: readonly SFrameCipherSuite[] = Object.freeze([
  AES_128_CTR_HMAC_SHA256_80,
  AES_128_CTR_HMAC_SHA256_64,
  AES_128_CTR_HMAC_SHA256_32,
  AES_128_GCM_SHA256_128,
  AES_256_GCM_SHA512_128,
] as const);

/** The working-group extension suites (not RFC 9605); see {@link AES_256_CTR_HMAC_SHA512_80}. */
export const SFRAME_EXTENSION_CIPHER_SUITES: readonly SFrameCipherSuite[] = Object.freeze([
  AES_256_CTR_HMAC_SHA512_80,
  AES_256_CTR_HMAC_SHA512_64,
  AES_256_CTR_HMAC_SHA512_32,
] as const);

function suite(params: SFrameSuiteParams): SFrameSuiteParams {
  return Object.freeze(params);
}

/**
 * Parameters of every supported suite, by id: RFC 9605 §4.5 table (Nh, Nka, Nk, Nn, Nt). For the
 * CTR+HMAC suites Nk = Nka + Nh (§4.5.1); for GCM suites `nka` is 0 (the whole key is the AES key).
 */
export const SFRAME_SUITES: ReadonlyMap<SFrameCipherSuite, SFrameSuiteParams> = new Map<SFrameCipherSuite, SFrameSuiteParams>([
  [1, suite({ id: 1, name: 'AES_128_CTR_HMAC_SHA256_80', aead: 'aes-ctr-hmac', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nn: 12, nt: 10, rfc9605: true })],
  [2, suite({ id: 2, name: 'AES_128_CTR_HMAC_SHA256_64', aead: 'aes-ctr-hmac', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nn: 12, nt: 8, rfc9605: true })],
  [3, suite({ id: 3, name: 'AES_128_CTR_HMAC_SHA256_32', aead: 'aes-ctr-hmac', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nn: 12, nt: 4, rfc9605: true })],
  [4, suite({ id: 4, name: 'AES_128_GCM_SHA256_128', aead: 'aes-gcm', hash: 'SHA-256', nh: 32, nka: 0, nk: 16, nn: 12, nt: 16, rfc9605: true })],
  [5, suite({ id: 5, name: 'AES_256_GCM_SHA512_128', aead: 'aes-gcm', hash: 'SHA-512', nh: 64, nka: 0, nk: 32, nn: 12, nt: 16, rfc9605: true })],
  [6, suite({ id: 6, name: 'AES_256_CTR_HMAC_SHA512_80', aead: 'aes-ctr-hmac', hash: 'SHA-512', nh: 64, nka: 32, nk: 96, nn: 12, nt: 10, rfc9605: false })],
  [7, suite({ id: 7, name: 'AES_256_CTR_HMAC_SHA512_64', aead: 'aes-ctr-hmac', hash: 'SHA-512', nh: 64, nka: 32, nk: 96, nn: 12, nt: 8, rfc9605: false })],
  [8, suite({ id: 8, name: 'AES_256_CTR_HMAC_SHA512_32', aead: 'aes-ctr-hmac', hash: 'SHA-512', nh: 64, nka: 32, nk: 96, nn: 12, nt: 4, rfc9605: false })],
]);

/** Shortest tag of any supported suite, in bytes (RFC 9605 §4.5: suite 0x0003's 32-bit tag). */
export const SFRAME_MIN_TAG_BYTES = 4;

/** Largest KID or CTR an SFrame header can carry: 8 bytes, unsigned (RFC 9605 §4.3). */
export const SFRAME_MAX_U64 = 0xffff_ffff_ffff_ffffn;

/** Largest value carried inside the config byte itself (3-bit K or C field, RFC 9605 §4.3). */
export const SFRAME_MAX_INLINE_VALUE = 7;

/** Longest header: config byte + 8 KID bytes + 8 CTR bytes (RFC 9605 §4.3). */
export const SFRAME_MAX_HEADER_BYTES = 17;

/** Config byte: X flag, set when K holds the KID length minus one (RFC 9605 §4.3). */
export const SFRAME_HEADER_X_FLAG = 0x80;
/** Config byte: Y flag, set when C holds the CTR length minus one (RFC 9605 §4.3). */
export const SFRAME_HEADER_Y_FLAG = 0x08;

/** HKDF-Expand label prefix of `sframe_key`, trailing space included (RFC 9605 §4.4.2). */
export const SFRAME_KEY_LABEL = 'SFrame 1.0 Secret key ';
/** HKDF-Expand label prefix of `sframe_salt`, trailing space included (RFC 9605 §4.4.2). */
export const SFRAME_SALT_LABEL = 'SFrame 1.0 Secret salt ';

/**
 * Bits of the AES-CTR counter block that WebCrypto increments (suites 1-3, 6-8). RFC 9605
 * §4.5.1 starts the block counter at nonce ‖ 0^32; a 32-bit counter only wraps after 2^32
 * blocks (64 GiB), far beyond any media frame, so every choice of width gives the same bytes.
 */
export const AES_CTR_COUNTER_BITS = 32;

/** Opus: the TOC byte stays clear (RFC 6716 §3.1); README.md §6. */
export const OPUS_CLEAR_BYTES = 1;
/**
 * VP8 key frame: 3-byte frame tag, start code 9d 01 2a, 14-bit width and height with scale
 * (RFC 6386 §9.1). libwebrtc's depacketizer rejects shorter key frames and reads bytes 6-9.
 */
export const VP8_KEY_FRAME_CLEAR_BYTES = 10;
/** VP8 delta frame: the 3-byte frame tag (RFC 6386 §9.1). */
export const VP8_DELTA_FRAME_CLEAR_BYTES = 3;
/** VP9: layer and key-frame data all live in the RTP payload descriptor (README.md §6). */
export const VP9_CLEAR_BYTES = 0;

/** KID layout: low bits holding the key index (matrixrtc key indexes are taken modulo 256). */
export const KID_KEY_INDEX_BITS = 8;
/** KID layout: largest key index (one byte). */
export const MAX_KEY_INDEX = 0xff;
/** KID layout: largest sender index (16 bits, so a KID fits in 3 header bytes). */
export const MAX_SENDER_INDEX = 0xffff;
