// Constants of the frame-transform worker: the cipher suite, keyring size, sender indexes of the
// KID layout, the frame-counter limit and the receive-side thresholds. Each names its source.

import { AES_128_GCM_SHA256_128, MAX_KEY_INDEX } from '../../../common/e2ee/constants.ts';
import type { MediaSource } from '../../../common/protocol/messages.ts';

/** Cipher suite of every media frame: RFC 9605 §4.5 0x0004 AES_128_GCM_SHA256_128 (16-byte tag). */
export const E2EE_CIPHER_SUITE = AES_128_GCM_SHA256_128;

/** Key slots per participant: MatrixRTC key indexes are taken modulo 256 (the key policy's next index is `(i + 1) % 256`). */
export const KEYRING_SIZE = MAX_KEY_INDEX + 1;

/**
 * Sender index (the high part of the KID, frame.ts `makeKid`) of each of our senders. All our
 * senders encrypt under the same base key, and RFC 9605 §9.1 forbids encrypting two frames with
 * one (base_key, KID, CTR): distinct sender indexes give each sender its own KID, hence its own
 * derived key and salt (§4.4.2), so every sender may count CTR from 0 without sharing a nonce.
 * The microphone gets 0 so its KIDs 0-7 fit in the SFrame config byte (the smallest header).
 */
export const SENDER_INDEX_BY_SOURCE: Readonly<Record<MediaSource, number>> = Object.freeze({
  microphone: 0,
  camera: 1,
  screen: 2,
  'screen-audio': 3,
});

/** Sender indexes whose keys are derived as soon as a base key arrives (no delay on the first frame). */
export const PREDERIVED_SENDER_INDEXES: readonly number[] = Object.freeze(Object.values(SENDER_INDEX_BY_SOURCE));

/**
 * Frames one KID (one sender under one key index) may encrypt: CTR runs 0 … MAX_FRAME_COUNTER,
 * then that sender drops frames (`counter-exhausted`) until a key at another index is set (a new
 * KID, whose counter starts at 0). RFC 9605 allows 2^64 − 1 (§4.3); 2^32 − 1 keeps the header's
 * CTR at 4 bytes at most and is still about 1.5 years of a 90 frames/s simulcast sender, so a call
 * rotates keys long before (MatrixRTC rotates on every leave, indexes cycling mod 256). A KID's
 * counter never wraps and is never reset while the worker lives, whatever keys come and go at its
 * index (ParticipantKeyring.nextCounter), so each (base_key, KID, CTR) encrypts at most once (§9.1).
 */
export const MAX_FRAME_COUNTER = 0xffff_ffffn;

/**
 * Consecutive authentication failures (after the forward ratchet, ratchet.ts MAX_RATCHET_STEPS)
 * after which a participant's decrypt state reads `failing`: about a third of a second of video.
 * LiveKit marks a key invalid after 10 failures (client-sdk-js `FrameCryptor`).
 */
export const FAILING_AFTER_FAILURES = 10;

/** Period of the worker's unsolicited stats message to the main thread. */
export const STATS_INTERVAL_MS = 1000;

/** Least time between two key-frame requests of one transform (after a key arrives or decryption recovers). */
export const KEY_FRAME_REQUEST_INTERVAL_MS = 1000;

/** Codec assumed when a frame's metadata has no mimeType (older browsers): the only E2EE audio codec, and VP8, the router's first video codec. */
export const DEFAULT_MIME_TYPE_BY_KIND: Readonly<Record<'audio' | 'video', string>> = Object.freeze({
  audio: 'audio/opus',
  video: 'video/VP8',
});
