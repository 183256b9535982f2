// Deep-frozen SFrame test vectors: RFC 9605 Appendix C (sframe-wg/sframe at 025d568) and the
// working group's AES-256 CTR+HMAC extension (not RFC 9605). Kept in test/fixtures/sframe/
// (copied unchanged from the upstream JSON). JSON integers are parsed as bigint from their source text,
// because KID and CTR reach 2^64 − 1; byte strings stay hex (typed arrays cannot be frozen).

import { readFileSync } from 'node:fs';

const VECTOR_DIR = new URL('../../../fixtures/sframe/', import.meta.url);

/** Header vector: `encode(kid, ctr) == encoded`. */
export interface HeaderVector {
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly encoded: string;
}

/** AEAD vector (suites 1-3, 6-8): `AEAD.Encrypt(key, nonce, aad, pt) == ct`. */
export interface AeadVector {
  readonly cipher_suite: number;
  readonly key: string;
  readonly enc_key: string;
  readonly auth_key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly pt: string;
  readonly ct: string;
}

/** Full SFrame vector with intermediates. */
export interface SFrameVector {
  readonly cipher_suite: number;
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly base_key: string;
  readonly sframe_key_label: string;
  readonly sframe_salt_label: string;
  readonly sframe_secret: string;
  readonly sframe_key: string;
  readonly sframe_salt: string;
  readonly metadata: string;
  readonly nonce: string;
  readonly aad: string;
  readonly pt: string;
  readonly ct: string;
}

/** The RFC 9605 vector file. */
export interface Rfc9605Vectors {
  readonly header: readonly HeaderVector[];
  readonly aes_ctr_hmac: readonly AeadVector[];
  readonly sframe: readonly SFrameVector[];
}

/** The extension vector file (suites 6-8, not RFC 9605). */
export interface ExtensionVectors {
  readonly aes_256_ctr_hmac: readonly AeadVector[];
  readonly sframe_aes_256_ctr_hmac: readonly SFrameVector[];
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Parses JSON with every integer as a bigint taken from its source text (no float rounding). */
function parseExact(text: string): unknown {
  return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number') {
      if (context?.source === undefined || !/^-?\d+$/.test(context.source)) throw new Error('vector file: non-integer number');
      return BigInt(context.source);
    }
    return value;
  });
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: not an object`);
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where}: not an array`);
  return value;
}

function hexField(row: Record<string, unknown>, field: string, where: string): string {
  const value = row[field];
  if (typeof value !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(value)) throw new Error(`${where}.${field}: not lowercase hex`);
  return value;
}

function intField(row: Record<string, unknown>, field: string, where: string): bigint {
  const value = row[field];
  if (typeof value !== 'bigint') throw new Error(`${where}.${field}: not an integer`);
  return value;
}

function header(value: unknown, where: string): HeaderVector {
  const row = record(value, where);
  return { kid: intField(row, 'kid', where), ctr: intField(row, 'ctr', where), encoded: hexField(row, 'encoded', where) };
}

function aead(value: unknown, where: string): AeadVector {
  const row = record(value, where);
  const hex = (field: string) => hexField(row, field, where);
  return {
    cipher_suite: Number(intField(row, 'cipher_suite', where)),
    key: hex('key'),
    enc_key: hex('enc_key'),
    auth_key: hex('auth_key'),
    nonce: hex('nonce'),
    aad: hex('aad'),
    pt: hex('pt'),
    ct: hex('ct'),
  };
}

function sframe(value: unknown, where: string): SFrameVector {
  const row = record(value, where);
  const hex = (field: string) => hexField(row, field, where);
  return {
    cipher_suite: Number(intField(row, 'cipher_suite', where)),
    kid: intField(row, 'kid', where),
    ctr: intField(row, 'ctr', where),
    base_key: hex('base_key'),
    sframe_key_label: hex('sframe_key_label'),
    sframe_salt_label: hex('sframe_salt_label'),
    sframe_secret: hex('sframe_secret'),
    sframe_key: hex('sframe_key'),
    sframe_salt: hex('sframe_salt'),
    metadata: hex('metadata'),
    nonce: hex('nonce'),
    aad: hex('aad'),
    pt: hex('pt'),
    ct: hex('ct'),
  };
}

function load(file: string): Record<string, unknown> {
  return record(parseExact(readFileSync(new URL(file, VECTOR_DIR), 'utf8')), file);
}

/** Loads, checks and deep-freezes `rfc9605-test-vectors.json`. */
export function loadRfc9605Vectors(): Rfc9605Vectors {
  const file = 'rfc9605-test-vectors.json';
  const raw = load(file);
  return deepFreeze({
    header: list(raw['header'], `${file}.header`).map((row, i) => header(row, `${file}.header[${i}]`)),
    aes_ctr_hmac: list(raw['aes_ctr_hmac'], `${file}.aes_ctr_hmac`).map((row, i) => aead(row, `${file}.aes_ctr_hmac[${i}]`)),
    sframe: list(raw['sframe'], `${file}.sframe`).map((row, i) => sframe(row, `${file}.sframe[${i}]`)),
  });
}

/** Loads, checks and deep-freezes `aes256-extension-vectors.json` (suites 6-8, not RFC 9605). */
export function loadExtensionVectors(): ExtensionVectors {
  const file = 'aes256-extension-vectors.json';
  const raw = load(file);
  return deepFreeze({
    aes_256_ctr_hmac: list(raw['aes_256_ctr_hmac'], `${file}.aes_256_ctr_hmac`).map((row, i) => aead(row, `${file}.aes_256_ctr_hmac[${i}]`)),
    sframe_aes_256_ctr_hmac: list(raw['sframe_aes_256_ctr_hmac'], `${file}.sframe_aes_256_ctr_hmac`).map((row, i) =>
      sframe(row, `${file}.sframe_aes_256_ctr_hmac[${i}]`),
    ),
  });
}

/** Hex to bytes (test helper; the vectors are lowercase hex). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes to lowercase hex (test helper). */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}
