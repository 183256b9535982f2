// RFC 9605 SFrame primitive: every Appendix C vector, the WG's AES-256 extension vectors,
// round trips for every suite, bit-flip tampering, and each header and range rule.

import { describe, expect, it, vi } from 'vitest';
import { RFC9605_CIPHER_SUITES, SFRAME_EXTENSION_CIPHER_SUITES, SFRAME_MAX_U64, SFRAME_SUITES } from '../../../../src/common/e2ee/constants.ts';
import { SFRAME_ERROR_REASONS, SFrameError, type SFrameErrorReason } from '../../../../src/common/e2ee/errors.ts';
import {
  decodeSFrameHeader,
  deriveSFrameKey,
  deriveSFrameKeyMaterial,
  encodeSFrameHeader,
  importSFrameKey,
  sframeAeadDecrypt,
  sframeAeadEncrypt,
  sframeDecrypt,
  sframeEncrypt,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  sframeSuiteParams,
} from '../../../../src/common/e2ee/sframe.ts';
import type { SFrameKey } from '../../../../src/common/e2ee/types.ts';
import { fromHex, loadExtensionVectors, loadRfc9605Vectors, toHex, type AeadVector, type SFrameVector } from './vectors.ts';
import { rejectionOf, throwOf } from '../../../tools/errors.ts';

const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, SFrameError, 'reason');
const syncReason = (run: () => unknown) => throwOf(run, SFrameError, 'reason');


const rfc = loadRfc9605Vectors();
const extension = loadExtensionVectors();
const ALL_SUITES = [...RFC9605_CIPHER_SUITES, ...SFRAME_EXTENSION_CIPHER_SUITES];
const TWO_POW_64 = 1n << 64n;

function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65 536 bytes per call.
  for (let offset = 0; offset < length; offset += 65_536) globalThis.crypto.getRandomValues(out.subarray(offset, offset + 65_536));
  return out;
}

/** HKDF-Extract(salt = "", IKM): HMAC with Nh zero bytes as key (RFC 5869 §2.2), test-only. */
async function hkdfExtract(hash: 'SHA-256' | 'SHA-512', nh: number, ikm: Uint8Array): Promise<Uint8Array> {
  const key = await globalThis.crypto.subtle.importKey('raw', new Uint8Array(nh), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', key, ikm as Uint8Array<ArrayBuffer>));
}

describe('SFrame test-vector files', () => {
  it('loadRfc9605Vectors() returns 289 header, 3 AES-CTR+HMAC and 5 full vectors, deep-frozen', () => {
    expect(rfc.header).toHaveLength(289);
    expect(rfc.aes_ctr_hmac).toHaveLength(3);
    expect(rfc.sframe).toHaveLength(5);
    expect(Object.isFrozen(rfc)).toBe(true);
    expect(Object.isFrozen(rfc.header)).toBe(true);
    expect(Object.isFrozen(rfc.header[0])).toBe(true);
    expect(Object.isFrozen(rfc.sframe[0])).toBe(true);
  });

  it('loadRfc9605Vectors() keeps 2^64 - 1 exact (integers parsed as bigint)', () => {
    expect(rfc.header.some((v) => v.kid === SFRAME_MAX_U64 && v.ctr === SFRAME_MAX_U64)).toBe(true);
  });

  it('the full vectors cover suites 1 to 5 and the extension vectors suites 6 to 8', () => {
    expect(rfc.sframe.map((v) => v.cipher_suite)).toEqual([1, 2, 3, 4, 5]);
    expect(rfc.aes_ctr_hmac.map((v) => v.cipher_suite)).toEqual([1, 2, 3]);
    expect(extension.aes_256_ctr_hmac.map((v) => v.cipher_suite)).toEqual([6, 7, 8]);
    expect(extension.sframe_aes_256_ctr_hmac.map((v) => v.cipher_suite)).toEqual([6, 7, 8]);
  });
});

describe('encodeSFrameHeader() and decodeSFrameHeader() with the RFC 9605 header vectors', () => {
  it.each(rfc.header)('kid $kid, ctr $ctr encodes to $encoded and decodes back', ({ kid, ctr, encoded }) => {
    expect(toHex(encodeSFrameHeader(kid, ctr))).toBe(encoded);
    const bytes = fromHex(encoded);
    expect(decodeSFrameHeader(bytes)).toEqual({ kid, ctr, headerLength: bytes.length });
  });
});

describe('decodeSFrameHeader()', () => {
  it('reports the header length and ignores the bytes after the header', () => {
    expect(decodeSFrameHeader(fromHex('9901234567aabbcc'))).toEqual({ kid: 0x123n, ctr: 0x4567n, headerLength: 5 });
  });

  it.each([
    ['8007', 'KID 7 in an extension byte'],
    ['8000', 'KID 0 in an extension byte'],
    ['8100ff', 'KID 255 with a leading zero byte'],
    ['870000000000000008', 'KID 8 in 8 bytes'],
    ['0805', 'CTR 5 in an extension byte'],
    ['0900ff', 'CTR 255 with a leading zero byte'],
    ['89ff00ff', 'a minimal KID followed by a non-minimal CTR'],
  ])('throws bad-header for a non-minimal encoding: %s (%s)', (hex) => {
    expect(syncReason(() => decodeSFrameHeader(fromHex(hex)))).toBe('bad-header');
  });

  it.each([
    ['', 'empty input'],
    ['80', 'one KID byte announced, none present'],
    ['8f08', 'KID present, 8 CTR bytes announced, none present'],
    ['0fffffffffffffff', 'CTR one byte short'],
    ['f0ffffffffffffff', 'KID one byte short'],
  ])('throws bad-header for a truncated header: "%s" (%s)', (hex) => {
    expect(syncReason(() => decodeSFrameHeader(fromHex(hex)))).toBe('bad-header');
  });
});

describe('encodeSFrameHeader()', () => {
  it('writes the 17-byte header of kid = ctr = 2^64 - 1', () => {
    expect(toHex(encodeSFrameHeader(SFRAME_MAX_U64, SFRAME_MAX_U64))).toBe(`ff${'ff'.repeat(16)}`);
  });

  it.each([
    [TWO_POW_64, 0n],
    [0n, TWO_POW_64],
    [-1n, 0n],
    [0n, -1n],
    [1n << 70n, 1n << 70n],
  ])('throws out-of-range for kid %s, ctr %s', (kid, ctr) => {
    expect(syncReason(() => encodeSFrameHeader(kid, ctr))).toBe('out-of-range');
  });

  it('throws TypeError when kid or ctr is not a bigint', () => {
    expect(() => encodeSFrameHeader(1 as unknown as bigint, 0n)).toThrow(TypeError);
    expect(() => encodeSFrameHeader(0n, 1 as unknown as bigint)).toThrow(TypeError);
  });
});

async function checkAeadVector(v: AeadVector): Promise<void> {
  const params = sframeSuiteParams(v.cipher_suite);
  // The file's enc_key / auth_key are the §4.5.1 split of `key`.
  expect(v.key).toBe(v.enc_key + v.auth_key);
  expect(fromHex(v.enc_key)).toHaveLength(params.nka);
  expect(fromHex(v.auth_key)).toHaveLength(params.nh);
  const key = await importSFrameKey(v.cipher_suite, 0n, fromHex(v.key), new Uint8Array(params.nn));
  const nonce = fromHex(v.nonce);
  const aad = fromHex(v.aad);
  expect(toHex(await sframeAeadEncrypt(key, nonce, aad, fromHex(v.pt)))).toBe(v.ct);
  expect(toHex(await sframeAeadDecrypt(key, nonce, aad, fromHex(v.ct)))).toBe(v.pt);
}

async function checkSFrameVector(v: SFrameVector): Promise<void> {
  const params = sframeSuiteParams(v.cipher_suite);
  const baseKey = fromHex(v.base_key);
  const metadata = fromHex(v.metadata);
  expect(toHex(sframeKeyLabel(v.cipher_suite, v.kid))).toBe(v.sframe_key_label);
  expect(toHex(sframeSaltLabel(v.cipher_suite, v.kid))).toBe(v.sframe_salt_label);
  expect(toHex(await hkdfExtract(params.hash, params.nh, baseKey))).toBe(v.sframe_secret);
  const material = await deriveSFrameKeyMaterial(v.cipher_suite, baseKey, v.kid);
  expect(toHex(material.key)).toBe(v.sframe_key);
  expect(toHex(material.salt)).toBe(v.sframe_salt);

  const key = await deriveSFrameKey(v.cipher_suite, baseKey, v.kid);
  expect(toHex(sframeNonce(key, v.ctr))).toBe(v.nonce);
  const header = encodeSFrameHeader(v.kid, v.ctr);
  expect(toHex(header) + v.metadata).toBe(v.aad);

  expect(toHex(await sframeEncrypt(key, v.ctr, metadata, fromHex(v.pt)))).toBe(v.ct);
  const lookup = vi.fn((kid: bigint) => (kid === v.kid ? key : undefined));
  const opened = await sframeDecrypt(lookup, metadata, fromHex(v.ct));
  expect(lookup).toHaveBeenCalledWith(v.kid);
  expect(opened.kid).toBe(v.kid);
  expect(opened.ctr).toBe(v.ctr);
  expect(toHex(opened.plaintext)).toBe(v.pt);
}

describe('AES-CTR + HMAC AEAD (RFC 9605 §4.5.1) with the aes_ctr_hmac vectors', () => {
  it.each(rfc.aes_ctr_hmac)('suite $cipher_suite: sframeAeadEncrypt() gives ct and sframeAeadDecrypt() gives pt', checkAeadVector);
});

describe('sframeEncrypt() and sframeDecrypt() with the RFC 9605 full vectors', () => {
  it.each(rfc.sframe)('suite $cipher_suite: labels, secret, key, salt, nonce, aad and ciphertext match', checkSFrameVector);
});

describe('extension suites 6-8 (not RFC 9605) with the working group AES-256 vectors', () => {
  it.each(extension.aes_256_ctr_hmac)('suite $cipher_suite: AEAD vector', checkAeadVector);
  it.each(extension.sframe_aes_256_ctr_hmac)('suite $cipher_suite: full SFrame vector', checkSFrameVector);
});

describe('deriveSFrameKey()', () => {
  it.each(ALL_SUITES)('suite %i returns a frozen key with non-extractable CryptoKeys and the suite parameters', async (suite) => {
    const params = sframeSuiteParams(suite);
    const key = await deriveSFrameKey(suite, randomBytes(16), 9n);
    expect(Object.isFrozen(key)).toBe(true);
    expect(key.suite).toBe(suite);
    expect(key.kid).toBe(9n);
    expect(key.salt).toHaveLength(params.nn);
    expect(key.tagLength).toBe(params.nt);
    expect(key.aead).toBe(params.aead);
    if (key.aead === 'aes-gcm') {
      expect(key.key.extractable).toBe(false);
    } else {
      expect(key.encKey.extractable).toBe(false);
      expect(key.authKey.extractable).toBe(false);
    }
  });

  it.each([0, 9, 0xf000, -1, 1.5])('throws unsupported-suite for suite %s', async (suite) => {
    expect(await reasonOf(deriveSFrameKey(suite, randomBytes(16), 0n))).toBe('unsupported-suite');
  });

  it('throws out-of-range for a KID above 2^64 - 1', async () => {
    expect(await reasonOf(deriveSFrameKey(4, randomBytes(16), TWO_POW_64))).toBe('out-of-range');
  });

  it('binds the KID: a key derived for another KID from the same base key does not decrypt', async () => {
    const baseKey = randomBytes(16);
    const sender = await deriveSFrameKey(4, baseKey, 1n);
    const other = await deriveSFrameKey(4, baseKey, 2n);
    const sealed = await sframeEncrypt(sender, 0n, new Uint8Array(0), randomBytes(32));
    expect(await reasonOf(sframeDecrypt(() => other, new Uint8Array(0), sealed))).toBe('auth-failed');
  });

  it('binds the suite: the same base key and KID under suites 1 and 4 give unrelated salts', async () => {
    const baseKey = randomBytes(16);
    const a = await deriveSFrameKeyMaterial(1, baseKey, 0n);
    const b = await deriveSFrameKeyMaterial(4, baseKey, 0n);
    expect(toHex(a.salt)).not.toBe(toHex(b.salt));
  });
});

describe('importSFrameKey()', () => {
  it('throws TypeError for a key or salt of the wrong length', async () => {
    await expect(importSFrameKey(4, 0n, new Uint8Array(15), new Uint8Array(12))).rejects.toThrow(TypeError);
    await expect(importSFrameKey(1, 0n, new Uint8Array(16), new Uint8Array(12))).rejects.toThrow(TypeError);
    await expect(importSFrameKey(4, 0n, new Uint8Array(16), new Uint8Array(8))).rejects.toThrow(TypeError);
  });

  it('throws unsupported-suite for suite 0', async () => {
    expect(await reasonOf(importSFrameKey(0, 0n, new Uint8Array(16), new Uint8Array(12)))).toBe('unsupported-suite');
  });

  it('copies the salt, so later changes to the caller\'s bytes do not reach the key', async () => {
    const salt = new Uint8Array(12);
    const key = await importSFrameKey(4, 0n, new Uint8Array(16), salt);
    salt.fill(0xff);
    expect(toHex(key.salt)).toBe('00'.repeat(12));
  });
});

describe('sframeNonce()', () => {
  it('XORs CTR into the low-order bytes of the salt, up to 2^64 - 1', async () => {
    const key = await importSFrameKey(4, 0n, new Uint8Array(16), fromHex('00112233445566778899aabb'));
    expect(toHex(sframeNonce(key, 0n))).toBe('00112233445566778899aabb');
    expect(toHex(sframeNonce(key, SFRAME_MAX_U64))).toBe('00112233bbaa998877665544');
    expect(syncReason(() => sframeNonce(key, TWO_POW_64))).toBe('out-of-range');
  });
});

describe('sframeEncrypt() and sframeDecrypt() round trips', () => {
  const sizes = [0, 1, 15, 16, 17, 1200, 30_000];
  it.each(ALL_SUITES)('suite %i round-trips every size, with and without metadata, including kid = ctr = 2^64 - 1', async (suite) => {
    const params = sframeSuiteParams(suite);
    for (const kid of [0n, 7n, 8n, 0x1234n, SFRAME_MAX_U64]) {
      const key = await deriveSFrameKey(suite, randomBytes(32), kid);
      const lookup = (k: bigint) => (k === kid ? key : undefined);
      for (const [i, size] of sizes.entries()) {
        const ctr = kid === SFRAME_MAX_U64 ? SFRAME_MAX_U64 - BigInt(i) : BigInt(i * 1000);
        const metadata = i % 2 === 0 ? new Uint8Array(0) : randomBytes(10);
        const plaintext = randomBytes(size);
        const sealed = await sframeEncrypt(key, ctr, metadata, plaintext);
        const header = encodeSFrameHeader(kid, ctr);
        expect(sealed.length).toBe(header.length + size + params.nt);
        expect(toHex(sealed.subarray(0, header.length))).toBe(toHex(header));
        const opened = await sframeDecrypt(lookup, metadata, sealed);
        expect(opened.kid).toBe(kid);
        expect(opened.ctr).toBe(ctr);
        expect(toHex(opened.plaintext)).toBe(toHex(plaintext));
      }
    }
  });

  it('sframeEncrypt() gives different ciphertexts for different counters of the same plaintext', async () => {
    const key = await deriveSFrameKey(4, randomBytes(16), 0n);
    const plaintext = randomBytes(64);
    const a = await sframeEncrypt(key, 1n, new Uint8Array(0), plaintext);
    const b = await sframeEncrypt(key, 2n, new Uint8Array(0), plaintext);
    expect(toHex(a.subarray(1))).not.toBe(toHex(b.subarray(1)));
  });

  it('sframeEncrypt() accepts views into a larger buffer (offset subarrays)', async () => {
    const key = await deriveSFrameKey(1, randomBytes(16), 3n);
    const backing = randomBytes(100);
    const metadata = backing.subarray(3, 13);
    const plaintext = backing.subarray(20, 90);
    const sealed = await sframeEncrypt(key, 5n, metadata, plaintext);
    const opened = await sframeDecrypt(() => key, backing.slice(3, 13), new Uint8Array([0, ...sealed]).subarray(1));
    expect(toHex(opened.plaintext)).toBe(toHex(plaintext));
  });

  it('sframeEncrypt() throws out-of-range for a CTR of 2^64', async () => {
    const key = await deriveSFrameKey(4, randomBytes(16), 0n);
    expect(await reasonOf(sframeEncrypt(key, TWO_POW_64, new Uint8Array(0), new Uint8Array(1)))).toBe('out-of-range');
  });
});

describe('sframeDecrypt() failures', () => {
  it('throws unknown-kid when the lookup has no key for the header KID', async () => {
    const key = await deriveSFrameKey(4, randomBytes(16), 0x123n);
    const sealed = await sframeEncrypt(key, 1n, new Uint8Array(0), randomBytes(10));
    const lookup = vi.fn(() => undefined);
    const error = await sframeDecrypt(lookup, new Uint8Array(0), sealed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SFrameError);
    expect((error as SFrameError).reason).toBe('unknown-kid');
    expect((error as SFrameError).message).toContain('291');
    expect(lookup).toHaveBeenCalledWith(0x123n);
  });

  it('throws bad-header before looking up a key when the header is not minimal', async () => {
    const lookup = vi.fn(() => undefined);
    expect(await reasonOf(sframeDecrypt(lookup, new Uint8Array(0), fromHex(`8005${'00'.repeat(20)}`)))).toBe('bad-header');
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(RFC9605_CIPHER_SUITES)('suite %i: throws bad-header when the data after the header is shorter than the tag', async (suite) => {
    const key = await deriveSFrameKey(suite, randomBytes(16), 1n);
    const sealed = await sframeEncrypt(key, 1n, new Uint8Array(0), new Uint8Array(0));
    expect(await reasonOf(sframeDecrypt(() => key, new Uint8Array(0), sealed.subarray(0, sealed.length - 1)))).toBe('bad-header');
  });

  it('throws auth-failed when the metadata differs from the one used to encrypt', async () => {
    const key = await deriveSFrameKey(4, randomBytes(16), 1n);
    const sealed = await sframeEncrypt(key, 1n, fromHex('0102'), randomBytes(10));
    expect(await reasonOf(sframeDecrypt(() => key, fromHex('0103'), sealed))).toBe('auth-failed');
    expect(await reasonOf(sframeDecrypt(() => key, new Uint8Array(0), sealed))).toBe('auth-failed');
  });

  it('sframeAeadDecrypt() throws auth-failed for input shorter than the tag', async () => {
    const key = await deriveSFrameKey(4, randomBytes(16), 1n);
    expect(await reasonOf(sframeAeadDecrypt(key, new Uint8Array(12), new Uint8Array(0), new Uint8Array(15)))).toBe('auth-failed');
  });
});

describe('sframeDecrypt() against tampering', () => {
  async function sealSmallFrame(suite: number): Promise<{ key: SFrameKey; metadata: Uint8Array; sealed: Uint8Array }> {
    const key = await deriveSFrameKey(suite, randomBytes(16), 0x123n);
    const metadata = fromHex('9d012a');
    const sealed = await sframeEncrypt(key, 0x4567n, metadata, randomBytes(8));
    return { key, metadata, sealed };
  }

  it.each(ALL_SUITES)('suite %i: every single-bit flip of header, ciphertext or tag fails with auth-failed or bad-header', async (suite) => {
    const { key, metadata, sealed } = await sealSmallFrame(suite);
    // A lookup that answers every KID, so a flipped KID reaches the AEAD and must fail there.
    const anyKid = () => key;
    const seen = new Set<SFrameErrorReason>();
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const tampered = sealed.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      const reason = await reasonOf(sframeDecrypt(anyKid, metadata, tampered));
      expect(['auth-failed', 'bad-header'], `bit ${bit}`).toContain(reason);
      seen.add(reason);
    }
    expect(seen.has('auth-failed')).toBe(true);
    expect(seen.has('bad-header')).toBe(true);
  });

  it.each(RFC9605_CIPHER_SUITES)('suite %i: every single-bit flip of the metadata fails with auth-failed', async (suite) => {
    const { key, metadata, sealed } = await sealSmallFrame(suite);
    for (let bit = 0; bit < metadata.length * 8; bit++) {
      const tampered = metadata.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(await reasonOf(sframeDecrypt(() => key, tampered, sealed))).toBe('auth-failed');
    }
  });

  it('with a lookup that knows one KID, header flips fail with unknown-kid, bad-header or auth-failed', async () => {
    const { key, metadata, sealed } = await sealSmallFrame(4);
    const only = (kid: bigint) => (kid === key.kid ? key : undefined);
    for (let bit = 0; bit < 5 * 8; bit++) {
      const tampered = sealed.slice();
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      expect(['auth-failed', 'bad-header', 'unknown-kid']).toContain(await reasonOf(sframeDecrypt(only, metadata, tampered)));
    }
  });
});

describe('SFrameError', () => {
  it('is an Error named SFrameError whose reason is one of SFRAME_ERROR_REASONS', () => {
    const error = new SFrameError('auth-failed', 'x', { cause: 'y' });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SFrameError');
    expect(SFRAME_ERROR_REASONS).toContain(error.reason);
    expect(error.cause).toBe('y');
  });

  it('SFRAME_SUITES marks exactly suites 1-5 as RFC 9605', () => {
    expect([...SFRAME_SUITES.values()].filter((p) => p.rfc9605).map((p) => p.id)).toEqual([1, 2, 3, 4, 5]);
  });
});
