// Which leading bytes of an encoded frame stay in clear (and become SFrame metadata, so they are
// authenticated) so the SFU and the receiving browser can still read what they need: the Opus
// TOC byte, the VP8 frame tag and key-frame header, nothing for VP9 (README.md §6).
//
// H.264 is refused while E2EE is on, by decision. Its RTP packetizer splits frames on Annex B
// start codes and runs after our transform, so an encrypted H.264 frame must still look like
// valid Annex B: the ciphertext would need emulation-prevention escaping (0x03 inserted after
// every 00 00) and unescaping before decryption, and SPS/PPS/SEI plus each slice NAL header would
// stay clear because mediasoup detects H.264 key frames from the SPS NAL type in the payload.
// That is a second bitstream parser and an escaping layer, each a place for frames to be
// silently corrupted or for the clear prefix to grow, and it leaks parameter sets. VP8 and VP9
// need none of it and every browser we target has both, so we negotiate only the codecs in
// E2EE_CODEC_MIME_TYPES. H.265 (same problem) and AV1 (its layer data is in the payload unless
// the Dependency Descriptor is negotiated; LiveKit's cryptor refuses it too) are refused as well.

import { OPUS_CLEAR_BYTES, VP8_DELTA_FRAME_CLEAR_BYTES, VP8_KEY_FRAME_CLEAR_BYTES, VP9_CLEAR_BYTES } from './constants.ts';
import { SFrameError } from './errors.ts';

/**
 * Media codecs that may be negotiated while E2EE is on (mediasoup spelling). Retransmission and
 * redundancy wrappers (`video/rtx`) carry these codecs' payloads and are not listed here.
 */
export const E2EE_CODEC_MIME_TYPES = Object.freeze(['audio/opus', 'video/VP8', 'video/VP9'] as const);

/** One of {@link E2EE_CODEC_MIME_TYPES}. */
export type E2eeCodecMimeType = (typeof E2EE_CODEC_MIME_TYPES)[number];

/** A clear prefix and the bytes after it, both views into the caller's frame (no copy). */
export interface SplitFrame {
  /** Leading bytes left in clear; also the SFrame metadata (AAD). */
  readonly prefix: Uint8Array;
  /** The rest of the frame: the plaintext to encrypt, or the SFrame ciphertext to decrypt. */
  readonly body: Uint8Array;
}

type CodecKind = 'opus' | 'vp8' | 'vp9';

/** MIME types compare case-insensitively (RFC 6838 §4.2; SDP writes `VP8`, others `vp8`). */
function codecKind(mimeType: string): CodecKind | undefined {
  switch (mimeType.toLowerCase()) {
    case 'audio/opus':
      return 'opus';
    case 'video/vp8':
      return 'vp8';
    case 'video/vp9':
      return 'vp9';
    default:
      return undefined;
  }
}

/** Whether a codec may be negotiated while E2EE is on (case-insensitive; see the file header). */
export function isE2eeCodecAllowed(mimeType: string): boolean {
  return codecKind(mimeType) !== undefined;
}

/**
 * Number of leading bytes of an encoded frame that stay in clear: Opus 1 (TOC byte), VP8 10 on
 * key frames and 3 on delta frames, VP9 0, and 0 for an empty frame. The result is the nominal
 * length; a frame may be shorter (see {@link splitFrame}).
 *
 * @param isKeyFrame VP8 only. When omitted, the key-frame flag is read from the frame itself:
 *   bit 0 of the first byte is the frame tag's inverse key-frame flag P, 0 on key frames
 *   (RFC 6386 §9.1). That byte is in clear, so sender and receiver derive the same length; a
 *   caller that passes its own flag (e.g. `RTCEncodedVideoFrame.type === 'key'`) must make sure
 *   the receiving side computes the same value.
 * @throws SFrameError `unsupported-codec` for a codec outside {@link E2EE_CODEC_MIME_TYPES}.
 */
export function clearPrefixLength(mimeType: string, frame: Uint8Array, isKeyFrame?: boolean): number {
  const kind = codecKind(mimeType);
  if (kind === undefined) throw new SFrameError('unsupported-codec', `${mimeType} may not be used with E2EE`);
  const first = frame[0];
  if (first === undefined) return 0;
  switch (kind) {
    case 'opus':
      return OPUS_CLEAR_BYTES;
    case 'vp9':
      return VP9_CLEAR_BYTES;
    case 'vp8': {
      const key = isKeyFrame ?? (first & 0x01) === 0;
      return key ? VP8_KEY_FRAME_CLEAR_BYTES : VP8_DELTA_FRAME_CLEAR_BYTES;
    }
  }
}

/**
 * Splits a frame into its clear prefix ({@link clearPrefixLength}) and the rest, as views.
 * Works on plaintext frames before encryption and on received frames before decryption.
 * @throws SFrameError `unsupported-codec`; `bad-frame` when the frame is shorter than its prefix
 *   (a malformed encoder output, e.g. a VP8 key frame under 10 bytes).
 */
export function splitFrame(mimeType: string, frame: Uint8Array, isKeyFrame?: boolean): SplitFrame {
  const length = clearPrefixLength(mimeType, frame, isKeyFrame);
  if (frame.length < length) {
    throw new SFrameError('bad-frame', `${mimeType} frame of ${frame.length} bytes is shorter than its ${length}-byte clear prefix`);
  }
  return { prefix: frame.subarray(0, length), body: frame.subarray(length) };
}
