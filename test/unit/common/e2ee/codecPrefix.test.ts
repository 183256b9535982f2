// Clear codec prefixes: Opus TOC, VP8 frame tag / key-frame header, VP9 none, H.264 refused.

import { describe, expect, it } from 'vitest';
import { clearPrefixLength, E2EE_CODEC_MIME_TYPES, isE2eeCodecAllowed, splitFrame } from '../../../../src/common/e2ee/codecPrefix.ts';
import { SFrameError } from '../../../../src/common/e2ee/errors.ts';
import { fromHex } from './vectors.ts';
import { throwOf } from '../../../tools/errors.ts';

const reasonOf = (run: () => unknown) => throwOf(run, SFrameError, 'reason');


// A VP8 key frame starts with a 3-byte tag whose bit 0 (P) is 0, then 9d 01 2a and the size
// (RFC 6386 §9.1); a delta frame has P = 1.
const VP8_KEY = fromHex('5043009d012a8002e00100aabbcc');
const VP8_DELTA = fromHex('d10201aabbccddeeff');

describe('E2EE_CODEC_MIME_TYPES', () => {
  it('allows exactly Opus, VP8 and VP9, and is frozen', () => {
    expect([...E2EE_CODEC_MIME_TYPES]).toEqual(['audio/opus', 'video/VP8', 'video/VP9']);
    expect(Object.isFrozen(E2EE_CODEC_MIME_TYPES)).toBe(true);
  });
});

describe('isE2eeCodecAllowed()', () => {
  it.each(['audio/opus', 'video/VP8', 'video/vp8', 'VIDEO/VP9', 'Audio/Opus'])('allows %s', (mime) => {
    expect(isE2eeCodecAllowed(mime)).toBe(true);
  });

  it.each(['video/H264', 'video/h264', 'video/H265', 'video/AV1', 'audio/PCMU', 'video/rtx', ''])('refuses %s', (mime) => {
    expect(isE2eeCodecAllowed(mime)).toBe(false);
  });
});

describe('clearPrefixLength()', () => {
  it('keeps the Opus TOC byte', () => {
    expect(clearPrefixLength('audio/opus', fromHex('78aabbcc'))).toBe(1);
    expect(clearPrefixLength('audio/opus', fromHex('f8'))).toBe(1);
  });

  it('keeps 10 bytes of a VP8 key frame, read from the P bit of the first byte', () => {
    expect(clearPrefixLength('video/VP8', VP8_KEY)).toBe(10);
  });

  it('keeps 3 bytes of a VP8 delta frame, read from the P bit of the first byte', () => {
    expect(clearPrefixLength('video/VP8', VP8_DELTA)).toBe(3);
  });

  it('takes an explicit isKeyFrame over the P bit for VP8', () => {
    expect(clearPrefixLength('video/VP8', VP8_DELTA, true)).toBe(10);
    expect(clearPrefixLength('video/VP8', VP8_KEY, false)).toBe(3);
  });

  it('keeps nothing of VP9, key frame or not', () => {
    expect(clearPrefixLength('video/VP9', fromHex('8249834200'))).toBe(0);
    expect(clearPrefixLength('video/VP9', fromHex('8249834200'), true)).toBe(0);
  });

  it.each(E2EE_CODEC_MIME_TYPES)('returns 0 for an empty %s frame', (mime) => {
    expect(clearPrefixLength(mime, new Uint8Array(0))).toBe(0);
  });

  it.each(['video/H264', 'video/AV1', 'video/H265'])('throws unsupported-codec for %s', (mime) => {
    expect(reasonOf(() => clearPrefixLength(mime, fromHex('00000001')))).toBe('unsupported-codec');
  });
});

describe('splitFrame()', () => {
  it('returns the prefix and the rest as views into the same buffer', () => {
    const { prefix, body } = splitFrame('video/VP8', VP8_KEY);
    expect([...prefix]).toEqual([...VP8_KEY.subarray(0, 10)]);
    expect([...body]).toEqual([...VP8_KEY.subarray(10)]);
    expect(prefix.buffer).toBe(VP8_KEY.buffer);
    expect(body.buffer).toBe(VP8_KEY.buffer);
  });

  it('gives an empty body when the frame is exactly its prefix (a 1-byte Opus DTX frame)', () => {
    const { prefix, body } = splitFrame('audio/opus', fromHex('f8'));
    expect(prefix).toHaveLength(1);
    expect(body).toHaveLength(0);
  });

  it('gives the whole VP9 frame as body', () => {
    const frame = fromHex('8249834200');
    expect(splitFrame('video/VP9', frame).body).toHaveLength(frame.length);
  });

  it('throws bad-frame for a VP8 key frame shorter than 10 bytes', () => {
    expect(reasonOf(() => splitFrame('video/VP8', VP8_KEY.subarray(0, 9)))).toBe('bad-frame');
  });

  it('throws bad-frame for a VP8 delta frame shorter than 3 bytes', () => {
    expect(reasonOf(() => splitFrame('video/VP8', VP8_DELTA.subarray(0, 2)))).toBe('bad-frame');
  });

  it('throws unsupported-codec for H.264', () => {
    expect(reasonOf(() => splitFrame('video/H264', fromHex('0000000167')))).toBe('unsupported-codec');
  });
});
