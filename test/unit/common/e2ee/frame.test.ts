// Frame format: clear prefix ‖ SFrame with the prefix as metadata; the KID layout; and the
// key-less parser an RTP tap uses to recognise SFrame payloads.

import { describe, expect, it } from 'vitest';
import { SFrameError } from '../../../../src/common/e2ee/errors.ts';
import {
  decryptFrame,
  encryptFrame,
  isSFrameAfterPrefix,
  makeKid,
  parseSFrameAfterPrefix,
  splitKid,
} from '../../../../src/common/e2ee/frame.ts';
import { deriveSFrameKey, encodeSFrameHeader } from '../../../../src/common/e2ee/sframe.ts';
import type { SFrameKey } from '../../../../src/common/e2ee/types.ts';
import { fromHex, toHex } from './vectors.ts';
import { rejectionOf } from '../../../tools/errors.ts';
const reasonOf = (promise: Promise<unknown>) => rejectionOf(promise, SFrameError, 'reason');


const VP8_KEY = fromHex('5043009d012a8002e00100aabbccddeeff00112233445566778899');
const VP8_DELTA = fromHex('d10201aabbccddeeff0011');
const OPUS = fromHex('78010203040506070809');
const VP9 = fromHex('8249834200017f00aabbccdd');

async function keyFor(kid: bigint, suite = 4): Promise<{ key: SFrameKey; lookup: (k: bigint) => SFrameKey | undefined }> {
  const key = await deriveSFrameKey(suite, globalThis.crypto.getRandomValues(new Uint8Array(16)), kid);
  return { key, lookup: (k) => (k === kid ? key : undefined) };
}

describe('makeKid() and splitKid()', () => {
  it('puts keyIndex in the low 8 bits and senderIndex above', () => {
    expect(makeKid(0, 0)).toBe(0n);
    expect(makeKid(0, 5)).toBe(5n);
    expect(makeKid(1, 0)).toBe(0x100n);
    expect(makeKid(2, 0xab)).toBe(0x2abn);
    expect(makeKid(0xffff, 0xff)).toBe(0xffffffn);
  });

  it('keeps KIDs of sender 0 with key index 0-7 inside the config byte', () => {
    for (let keyIndex = 0; keyIndex < 8; keyIndex++) expect(encodeSFrameHeader(makeKid(0, keyIndex), 0n)).toHaveLength(1);
  });

  it('splitKid() inverts makeKid()', () => {
    for (const [senderIndex, keyIndex] of [[0, 0], [0, 255], [1, 7], [513, 128], [0xffff, 0xff]] as const) {
      expect(splitKid(makeKid(senderIndex, keyIndex))).toEqual({ senderIndex, keyIndex });
    }
  });

  it('splitKid() returns undefined for a KID outside the layout', () => {
    expect(splitKid(0x1000000n)).toBeUndefined();
    expect(splitKid(-1n)).toBeUndefined();
    expect(splitKid((1n << 64n) - 1n)).toBeUndefined();
  });

  it.each([
    [-1, 0],
    [0x10000, 0],
    [1.5, 0],
    [Number.NaN, 0],
    [0, -1],
    [0, 256],
    [0, 0.5],
  ])('makeKid(%s, %s) throws RangeError', (senderIndex, keyIndex) => {
    expect(() => makeKid(senderIndex, keyIndex)).toThrow(RangeError);
  });
});

describe('encryptFrame() and decryptFrame()', () => {
  it.each([
    ['video/VP8', VP8_KEY, 10],
    ['video/VP8', VP8_DELTA, 3],
    ['audio/opus', OPUS, 1],
    ['video/VP9', VP9, 0],
  ] as const)('%s: output is clear prefix ‖ SFrame and decrypts to the original frame (prefix %i)', async (mime, frame, prefixLength) => {
    const kid = makeKid(1, 3);
    const { key, lookup } = await keyFor(kid);
    const data = await encryptFrame(key, 42n, mime, frame);
    const header = encodeSFrameHeader(kid, 42n);
    expect(data.length).toBe(frame.length + header.length + key.tagLength);
    expect(toHex(data.subarray(0, prefixLength))).toBe(toHex(frame.subarray(0, prefixLength)));
    expect(toHex(data.subarray(prefixLength, prefixLength + header.length))).toBe(toHex(header));
    const opened = await decryptFrame(lookup, mime, data);
    expect(opened.kid).toBe(kid);
    expect(opened.ctr).toBe(42n);
    expect(toHex(opened.frame)).toBe(toHex(frame));
  });

  it.each([1, 2, 3, 4, 5])('round-trips a VP8 key frame under suite %i', async (suite) => {
    const { key, lookup } = await keyFor(0n, suite);
    const opened = await decryptFrame(lookup, 'video/VP8', await encryptFrame(key, 1n, 'video/VP8', VP8_KEY));
    expect(toHex(opened.frame)).toBe(toHex(VP8_KEY));
  });

  it('encrypts a 1-byte Opus frame as TOC ‖ header ‖ tag', async () => {
    const { key, lookup } = await keyFor(0n);
    const data = await encryptFrame(key, 0n, 'audio/opus', fromHex('f8'));
    expect(data).toHaveLength(1 + 1 + 16);
    expect(toHex((await decryptFrame(lookup, 'audio/opus', data)).frame)).toBe('f8');
  });

  it('does not leave the VP8 payload in clear', async () => {
    const { key } = await keyFor(0n);
    const data = await encryptFrame(key, 7n, 'video/VP8', VP8_KEY);
    expect(toHex(data)).not.toContain(toHex(VP8_KEY.subarray(10)));
  });

  it('authenticates the clear prefix: changing a prefix byte fails with auth-failed', async () => {
    const { key, lookup } = await keyFor(0n);
    const data = await encryptFrame(key, 1n, 'video/VP8', VP8_KEY);
    const tampered = data.slice();
    tampered[7]! ^= 0x01;
    expect(await reasonOf(decryptFrame(lookup, 'video/VP8', tampered))).toBe('auth-failed');
  });

  it('flipping the VP8 P bit changes the prefix length and the frame no longer authenticates', async () => {
    const { key, lookup } = await keyFor(0n);
    const data = await encryptFrame(key, 1n, 'video/VP8', VP8_KEY);
    const tampered = data.slice();
    tampered[0]! ^= 0x01;
    expect(['auth-failed', 'bad-header', 'unknown-kid']).toContain(await reasonOf(decryptFrame(lookup, 'video/VP8', tampered)));
  });

  it('decryptFrame() throws unknown-kid for a KID the lookup does not know', async () => {
    const { key } = await keyFor(5n);
    const data = await encryptFrame(key, 1n, 'audio/opus', OPUS);
    expect(await reasonOf(decryptFrame(() => undefined, 'audio/opus', data))).toBe('unknown-kid');
  });

  it('refuses empty frames with bad-frame in both directions (the transform passes them through)', async () => {
    const { key, lookup } = await keyFor(0n);
    expect(await reasonOf(encryptFrame(key, 0n, 'video/VP8', new Uint8Array(0)))).toBe('bad-frame');
    expect(await reasonOf(decryptFrame(lookup, 'video/VP8', new Uint8Array(0)))).toBe('bad-frame');
  });

  it('encryptFrame() throws bad-frame for a VP8 key frame shorter than its 10-byte prefix', async () => {
    const { key } = await keyFor(0n);
    expect(await reasonOf(encryptFrame(key, 0n, 'video/VP8', VP8_KEY.subarray(0, 9)))).toBe('bad-frame');
  });

  it('decryptFrame() throws bad-frame when the data is shorter than its prefix', async () => {
    const { lookup } = await keyFor(0n);
    expect(await reasonOf(decryptFrame(lookup, 'video/VP8', VP8_KEY.subarray(0, 9)))).toBe('bad-frame');
  });

  it('encryptFrame() throws unsupported-codec for H.264', async () => {
    const { key } = await keyFor(0n);
    expect(await reasonOf(encryptFrame(key, 0n, 'video/H264', fromHex('0000000167')))).toBe('unsupported-codec');
  });

  it('decryptFrame() throws bad-header for a non-minimal header after the prefix', async () => {
    const { lookup } = await keyFor(0n);
    expect(await reasonOf(decryptFrame(lookup, 'audio/opus', fromHex(`788005${'00'.repeat(20)}`)))).toBe('bad-header');
  });
});

describe('parseSFrameAfterPrefix() and isSFrameAfterPrefix()', () => {
  it.each([
    ['video/VP8', VP8_KEY, 10],
    ['video/VP8', VP8_DELTA, 3],
    ['audio/opus', OPUS, 1],
    ['video/VP9', VP9, 0],
  ] as const)('%s: finds the header of an encrypted frame after the %i-byte prefix', async (mime, frame, prefixLength) => {
    const kid = makeKid(0, 9);
    const { key } = await keyFor(kid);
    const data = await encryptFrame(key, 0x4567n, mime, frame);
    expect(parseSFrameAfterPrefix(mime, data)).toEqual({
      prefixLength,
      kid,
      ctr: 0x4567n,
      headerLength: encodeSFrameHeader(kid, 0x4567n).length,
    });
    expect(isSFrameAfterPrefix(mime, data)).toBe(true);
  });

  it('is false for empty data, data shorter than the prefix, and a header without room for a tag', () => {
    expect(isSFrameAfterPrefix('video/VP8', new Uint8Array(0))).toBe(false);
    expect(isSFrameAfterPrefix('video/VP8', VP8_KEY.subarray(0, 9))).toBe(false);
    // Opus TOC, header 0x00 (kid 0, ctr 0), then 3 bytes: one short of the 4-byte minimum tag.
    expect(isSFrameAfterPrefix('audio/opus', fromHex('7800010203'))).toBe(false);
    expect(isSFrameAfterPrefix('audio/opus', fromHex('780001020304'))).toBe(true);
  });

  it('is false when the bytes after the prefix are not a minimal header', () => {
    expect(isSFrameAfterPrefix('audio/opus', fromHex(`788005${'00'.repeat(20)}`))).toBe(false);
    expect(isSFrameAfterPrefix('video/VP9', fromHex('8f'))).toBe(false);
  });

  it('throws unsupported-codec for H.264 (a caller error)', () => {
    expect(() => isSFrameAfterPrefix('video/H264', fromHex('0000000167'))).toThrow(SFrameError);
  });
});
