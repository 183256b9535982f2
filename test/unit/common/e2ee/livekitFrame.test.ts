// LiveKit's frame format (src/common/e2ee/livekitFrame.ts): layout, key derivation and ratchet
// checked against livekit-client's own exported key functions (deriveKeys, ratchet), and
// frames livekit-client encrypted in Chromium (captured at the SFU by
// test/e2e/livekitFrameInterop.test.ts) decrypted here in Node.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyMaterialFromBuffer, deriveKeys, importKey, ratchet } from 'livekit-client';
import { describe, expect, it } from 'vitest';
import { SFrameError } from '../../../../src/common/e2ee/errors.ts';
import {
  decryptLiveKitFrame,
  deriveLiveKitFrameKey,
  encryptLiveKitFrame,
  LIVEKIT_FRAME_OVERHEAD_BYTES,
  LIVEKIT_KEY_SALT,
  liveKitIv,
  parseLiveKitTrailer,
  ratchetLiveKitMaterial,
} from '../../../../src/common/e2ee/livekitFrame.ts';
import type { WebCryptoKey } from '../../../../src/common/e2ee/types.ts';
import { fromHex, toHex } from './vectors.ts';
import { rejectionOf } from '../../../tools/errors.ts';

const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, SFrameError, 'reason');

const VP8_KEY = fromHex('5043009d012a8002e00100aabbccddeeff00112233445566778899');
const VP8_DELTA = fromHex('d10201aabbccddeeff0011');
const OPUS = fromHex('78010203040506070809');
const VP9 = fromHex('8249834200017f00aabbccdd');
const RAW_KEY = fromHex('000102030405060708090a0b0c0d0e0f');

/** livekit-client's options as Element Call's MatrixKeyProvider sets them (the salt and key size are the defaults). */
const LK_OPTIONS = { sharedKey: false, ratchetSalt: LIVEKIT_KEY_SALT, ratchetWindowSize: 10, failureTolerance: 10, keyringSize: 256, keySize: 128 as const };

async function liveKitClientKey(raw: Uint8Array): Promise<WebCryptoKey> {
  const material = await createKeyMaterialFromBuffer(raw.slice().buffer);
  return (await deriveKeys(material, LK_OPTIONS)).encryptionKey;
}

describe('LiveKit frame layout', () => {
  it.each([
    ['audio/opus', OPUS, 1],
    ['video/VP8', VP8_KEY, 10],
    ['video/VP8', VP8_DELTA, 3],
    ['video/VP9', VP9, 0],
  ] as const)('encryptLiveKitFrame keeps the %s clear prefix, appends tag, IV, IV length 12 and the key index, and round-trips', async (mime, frame, clear) => {
    const key = await deriveLiveKitFrameKey(RAW_KEY);
    const iv = liveKitIv(0x01020304, 0x0105n, 7n);
    const sealed = await encryptLiveKitFrame(key, iv, 5, mime, frame);
    expect(sealed.length).toBe(frame.length + LIVEKIT_FRAME_OVERHEAD_BYTES);
    expect(toHex(sealed.subarray(0, clear))).toBe(toHex(frame.subarray(0, clear)));
    expect(toHex(sealed.subarray(sealed.length - 14))).toBe(`${toHex(iv)}0c05`);
    expect(parseLiveKitTrailer(mime, sealed)).toEqual({ prefixLength: clear, keyIndex: 5, ivOffset: sealed.length - 14 });
    expect(toHex(await decryptLiveKitFrame(key, mime, sealed))).toBe(toHex(frame));
  });

  it('liveKitIv writes salt, KID and counter big-endian', () => {
    expect(toHex(liveKitIv(0xa1b2c3d4, 0x0203n, 0x0102_0304n))).toBe('a1b2c3d400000203' + '01020304');
    expect(() => liveKitIv(0, 0n, 0x1_0000_0000n)).toThrow(RangeError);
  });

  it('decryptLiveKitFrame refuses a wrong key, a changed clear prefix and a flipped ciphertext bit as auth-failed', async () => {
    const key = await deriveLiveKitFrameKey(RAW_KEY);
    const sealed = await encryptLiveKitFrame(key, liveKitIv(1, 0n, 0n), 0, 'video/VP8', VP8_KEY);
    expect(await reasonOf(decryptLiveKitFrame(await deriveLiveKitFrameKey(new Uint8Array(16)), 'video/VP8', sealed))).toBe('auth-failed');
    const prefix = sealed.slice();
    prefix[5] = prefix[5]! ^ 1;
    expect(await reasonOf(decryptLiveKitFrame(key, 'video/VP8', prefix))).toBe('auth-failed');
    const body = sealed.slice();
    body[12] = body[12]! ^ 0x80;
    expect(await reasonOf(decryptLiveKitFrame(key, 'video/VP8', body))).toBe('auth-failed');
  });

  it('parseLiveKitTrailer returns undefined for frames too short or with an IV length other than 12', async () => {
    expect(parseLiveKitTrailer('audio/opus', new Uint8Array(30))).toBeUndefined();
    const frame = new Uint8Array(40);
    frame[38] = 16;
    expect(parseLiveKitTrailer('audio/opus', frame)).toBeUndefined();
    frame[38] = 12;
    expect(parseLiveKitTrailer('audio/opus', frame)?.keyIndex).toBe(0);
    expect(await reasonOf(decryptLiveKitFrame(await deriveLiveKitFrameKey(RAW_KEY), 'audio/opus', new Uint8Array(20)))).toBe('bad-frame');
  });
});

describe('LiveKit key derivation and ratchet against livekit-client', () => {
  it('a frame we encrypt decrypts under the key livekit-client derives from the same 16 raw bytes, and the reverse', async () => {
    const ours = await deriveLiveKitFrameKey(RAW_KEY);
    const theirs = await liveKitClientKey(RAW_KEY);
    const iv = liveKitIv(9, 0x0100n, 1n);
    const sealed = await encryptLiveKitFrame(ours, iv, 3, 'video/VP8', VP8_DELTA);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: sealed.subarray(0, 3) }, theirs, sealed.subarray(3, sealed.length - 14));
    expect(toHex(new Uint8Array(plain))).toBe(toHex(VP8_DELTA.subarray(3)));
    // Their key encrypts in our layout; we decrypt.
    const theirsSealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: OPUS.subarray(0, 1) }, theirs, OPUS.subarray(1)));
    const frame = new Uint8Array([...OPUS.subarray(0, 1), ...theirsSealed, ...iv, 12, 3]);
    expect(toHex(await decryptLiveKitFrame(ours, 'audio/opus', frame))).toBe(toHex(OPUS));
  });

  it('ratchetLiveKitMaterial equals livekit-client ratchet() for three steps, and keys derived from the ratcheted material match', async () => {
    let ours = RAW_KEY;
    let theirs: WebCryptoKey = await createKeyMaterialFromBuffer(RAW_KEY.slice().buffer);
    for (let step = 1; step <= 3; step++) {
      const chain = new Uint8Array(await ratchet(theirs, LIVEKIT_KEY_SALT));
      ours = await ratchetLiveKitMaterial(ours);
      expect(toHex(ours)).toBe(toHex(chain));
      theirs = await importKey(chain.slice().buffer, 'HKDF', 'derive');
    }
    const theirKey = (await deriveKeys(theirs, LK_OPTIONS)).encryptionKey;
    const sealed = await encryptLiveKitFrame(await deriveLiveKitFrameKey(ours), liveKitIv(0, 0n, 0n), 0, 'audio/opus', OPUS);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(sealed.length - 14, sealed.length - 2), additionalData: sealed.subarray(0, 1) }, theirKey, sealed.subarray(1, sealed.length - 14));
    expect(toHex(new Uint8Array(plain))).toBe(toHex(OPUS.subarray(1)));
  });
});

interface CapturedFrame {
  readonly mimeType: string;
  readonly keyFrame: boolean;
  readonly hex: string;
}

interface CapturedVectors {
  readonly _note: string;
  readonly keyHex: string;
  readonly keyIndex: number;
  readonly frames: readonly CapturedFrame[];
}

const FIXTURE = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'livekit-frames', 'livekit-client-2.22.3.json');

describe('frames livekit-client 2.22.3 encrypted in Chromium', () => {
  const vectors = (): CapturedVectors => JSON.parse(readFileSync(FIXTURE, 'utf8')) as CapturedVectors;

  it('holds VP8 key frames, VP8 delta frames and Opus frames', () => {
    const kinds = (predicate: (f: CapturedFrame) => boolean) => vectors().frames.filter(predicate).length;
    expect(kinds((f) => f.mimeType === 'video/VP8' && f.keyFrame)).toBeGreaterThan(0);
    expect(kinds((f) => f.mimeType === 'video/VP8' && !f.keyFrame)).toBeGreaterThan(0);
    expect(kinds((f) => f.mimeType === 'audio/opus')).toBeGreaterThan(0);
  });

  it('every captured frame names the key index it was set under and decrypts with our codec in Node', async () => {
    const { keyHex, keyIndex, frames } = vectors();
    const key = await deriveLiveKitFrameKey(fromHex(keyHex));
    for (const frame of frames) {
      const data = fromHex(frame.hex);
      expect(parseLiveKitTrailer(frame.mimeType, data)?.keyIndex).toBe(keyIndex);
      const plain = await decryptLiveKitFrame(key, frame.mimeType, data);
      expect(plain.length).toBe(data.length - LIVEKIT_FRAME_OVERHEAD_BYTES);
      if (frame.mimeType === 'video/VP8' && frame.keyFrame) expect(toHex(plain.subarray(3, 6))).toBe('9d012a');
    }
  });
});
