// Parsers for what crosses into the worker: main-thread requests (postMessage) and transform
// options (RTCRtpScriptTransform options or attachStreams). Parse, don't cast: each returns a
// typed value or a list of every fault. Faults name fields, never key bytes.

import { BASE_KEY_BYTES } from '../../../common/e2ee/ratchet.ts';
import { KEYRING_SIZE } from './constants.ts';
import { FRAME_FORMATS, type FrameFormat, type TransformOptions, type WorkerRequest } from './types.ts';

/** A parsed value, or every fault found. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly faults: string[] };

const SOURCES = new Set(['camera', 'microphone', 'screen', 'screen-audio']);
const MAX_PARTICIPANT_ID_LENGTH = 255;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Whether `value` is a key index: an integer 0 … KEYRING_SIZE − 1 (MatrixRTC indexes mod 256). */
export function isKeyIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < KEYRING_SIZE;
}

/** Whether `value` is a base key: a Uint8Array of BASE_KEY_BYTES (16, MatrixRTC). */
export function isBaseKey(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === BASE_KEY_BYTES;
}

function checkKeyIndex(value: unknown, faults: string[]): number {
  if (!isKeyIndex(value)) faults.push(`keyIndex must be an integer from 0 to ${KEYRING_SIZE - 1}`);
  return value as number;
}

function checkKey(value: unknown, faults: string[]): Uint8Array {
  if (!isBaseKey(value)) faults.push(`key must be ${BASE_KEY_BYTES} bytes`);
  return value as Uint8Array;
}

function checkParticipantId(value: unknown, faults: string[]): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PARTICIPANT_ID_LENGTH) {
    faults.push(`participantId must be a string of 1 to ${MAX_PARTICIPANT_ID_LENGTH} characters`);
  }
  return value as string;
}

function done<T>(value: T, faults: string[]): Parsed<T> {
  return faults.length === 0 ? { ok: true, value } : { ok: false, faults };
}

/** Parses the options a transform was created with. */
export function parseTransformOptions(value: unknown): Parsed<TransformOptions> {
  if (!isRecord(value)) return { ok: false, faults: ['transform options must be an object'] };
  const faults: string[] = [];
  const { side, kind, source, participantId } = value;
  if (side !== 'send' && side !== 'receive') faults.push('side must be send or receive');
  if (kind !== 'audio' && kind !== 'video') faults.push('kind must be audio or video');
  if (typeof source !== 'string' || !SOURCES.has(source)) faults.push('source must be a media source');
  const common = { kind: kind as 'audio' | 'video', source: source as TransformOptions['source'] };
  if (side === 'receive') return done({ side, ...common, participantId: checkParticipantId(participantId, faults) }, faults);
  return done({ side: 'send' as const, ...common }, faults);
}

/** Parses one main-thread message. */
export function parseWorkerRequest(value: unknown): Parsed<WorkerRequest> {
  if (!isRecord(value)) return { ok: false, faults: ['message must be an object'] };
  const faults: string[] = [];
  switch (value['kind']) {
    case 'setOwnKey':
      return done({ kind: 'setOwnKey', keyIndex: checkKeyIndex(value['keyIndex'], faults), key: checkKey(value['key'], faults) }, faults);
    case 'setPeerKey':
      return done(
        {
          kind: 'setPeerKey',
          participantId: checkParticipantId(value['participantId'], faults),
          keyIndex: checkKeyIndex(value['keyIndex'], faults),
          key: checkKey(value['key'], faults),
        },
        faults,
      );
    case 'setFrameFormat': {
      const format = value['format'];
      if (typeof format !== 'string' || !FRAME_FORMATS.includes(format as FrameFormat)) faults.push(`format must be one of ${FRAME_FORMATS.join(', ')}`);
      return done({ kind: 'setFrameFormat', format: format as FrameFormat }, faults);
    }
    case 'removePeer':
      return done({ kind: 'removePeer', participantId: checkParticipantId(value['participantId'], faults) }, faults);
    case 'attachStreams': {
      const options = parseTransformOptions(value['options']);
      if (!options.ok) faults.push(...options.faults);
      if (value['readable'] === undefined || value['writable'] === undefined) faults.push('attachStreams needs readable and writable');
      const parsed = options.ok ? options.value : (undefined as unknown as TransformOptions);
      return done({ kind: 'attachStreams', options: parsed, readable: value['readable'], writable: value['writable'] }, faults);
    }
    case 'getStats': {
      const requestId = value['requestId'];
      if (typeof requestId !== 'number' || !Number.isSafeInteger(requestId)) faults.push('requestId must be an integer');
      return done({ kind: 'getStats', requestId: requestId as number }, faults);
    }
    default:
      return { ok: false, faults: ['unknown message kind'] };
  }
}
