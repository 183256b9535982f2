// Shared fakes of the worker tests: encoded frames shaped like RTCEncodedVideoFrame /
// RTCEncodedAudioFrame, fixed 16-byte keys, and a CryptorWorker wired to a sender and a receiver.

import { CryptorWorker } from '../../../../../src/browser/e2ee/worker/CryptorWorker.ts';
import type { EncodedFrame } from '../../../../../src/browser/e2ee/worker/FrameCryptor.ts';
import type { WorkerEvent } from '../../../../../src/browser/e2ee/worker/types.ts';

/** A plain object with the RTCEncoded*Frame members the cryptor uses. */
export interface FakeFrame extends EncodedFrame {
  data: ArrayBuffer;
}

/** 16 bytes, all `fill`. */
export function key(fill: number): Uint8Array {
  return new Uint8Array(16).fill(fill);
}

/** A VP8 frame of `length` bytes: key frames start with a clear P bit (0), delta frames set it. */
export function vp8Frame(length: number, type: 'key' | 'delta', seed = 1): FakeFrame {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  bytes[0] = type === 'key' ? 0x10 : 0x11;
  return { data: bytes.buffer, type, getMetadata: () => ({ mimeType: 'video/VP8' }) };
}

/** An Opus frame (no `type`, like RTCEncodedAudioFrame). */
export function opusFrame(length: number, mimeType = 'audio/opus'): FakeFrame {
  const bytes = new Uint8Array(length).map((_, i) => (i * 7 + 3) & 0xff);
  return { data: bytes.buffer, getMetadata: () => ({ mimeType }) };
}

/** A copy of a frame's bytes. */
export function bytesOf(frame: FakeFrame): Uint8Array {
  return new Uint8Array(frame.data).slice();
}

/** A frame carrying `data` with the given metadata (what a receiver gets from the network). */
export function received(data: Uint8Array, template: FakeFrame): FakeFrame {
  return { data: data.slice().buffer, ...(template.type ? { type: template.type } : {}), getMetadata: template.getMetadata };
}

/** A CryptorWorker and every event it posted. */
export function makeWorker(nowMs?: () => number): { worker: CryptorWorker; events: WorkerEvent[] } {
  const events: WorkerEvent[] = [];
  const worker = new CryptorWorker({ post: (event) => events.push(event), ...(nowMs ? { nowMs } : {}) });
  return { worker, events };
}
