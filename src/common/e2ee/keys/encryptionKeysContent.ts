// The decrypted content of `io.element.call.encryption_keys`, exactly as Element Call and
// matrix-js-sdk ≥ 41.1 send it (README.md, "Wire format"), with its builder and a parser that reports
// every fault. The parser checks the content only; who sent it is the transport's business.
//
//   { keys: { index, key }, room_id, member: { id, claimed_device_id },
//     session: { application: "m.call", call_id: "", scope: "m.room" }, sent_ts }

import { MAX_KEY_INDEX } from '../constants.ts';
import { BASE_KEY_BYTES } from '../ratchet.ts';
import { decodeBase64, encodeBase64 } from './base64.ts';
import { CALL_KEY_SESSION } from './constants.ts';
import type { KeyRejectionReason } from './errors.ts';

/** The decrypted content of one key event. */
export interface EncryptionKeysContent {
  readonly keys: { readonly index: number; readonly key: string };
  readonly room_id: string;
  readonly member: { readonly id: string; readonly claimed_device_id: string };
  readonly session: { readonly application: string; readonly call_id: string; readonly scope: string };
  readonly sent_ts: number;
}

/** What {@link buildEncryptionKeysContent} needs. */
export interface EncryptionKeysContentInput {
  readonly roomId: string;
  readonly memberId: string;
  readonly deviceId: string;
  readonly index: number;
  /** 16 key bytes; sent as padded standard base64. */
  readonly key: Uint8Array;
  readonly sentTs: number;
}

/** Builds the content Element Call sends, field for field. */
export function buildEncryptionKeysContent(input: EncryptionKeysContentInput): EncryptionKeysContent {
  return {
    keys: { index: input.index, key: encodeBase64(input.key) },
    room_id: input.roomId,
    member: { id: input.memberId, claimed_device_id: input.deviceId },
    session: { ...CALL_KEY_SESSION },
    sent_ts: input.sentTs,
  };
}

/** A key event content that passed {@link parseEncryptionKeysContent}. */
export interface ParsedEncryptionKeys {
  readonly index: number;
  /** The decoded 16 bytes. */
  readonly key: Uint8Array;
  /** `member.id`, undefined when absent. */
  readonly memberId: string | undefined;
  readonly claimedDeviceId: string;
  readonly sentTs: number;
}

/** One problem of a content, with the rejection reason it maps to. */
export interface ContentFault {
  readonly reason: KeyRejectionReason;
  readonly message: string;
}

/** Either the parsed keys, or every fault found. */
export type ParseEncryptionKeysResult =
  | { readonly ok: true; readonly value: ParsedEncryptionKeys }
  | { readonly ok: false; readonly faults: readonly ContentFault[] };

/**
 * Parses a decrypted key event content for the call in `roomId`. Checks: `room_id` equals
 * `roomId`; `keys` is one object whose `index` is an integer 0–255 and whose `key` is non-empty
 * base64 (standard or URL-safe, padded or not) of exactly 16 bytes; `member.claimed_device_id`
 * is a non-empty string; `member.id`, when present, a string; `sent_ts` a finite number ≥ 0.
 * `session` is not checked: senders hard-code it and no receiver checks it.
 */
export function parseEncryptionKeysContent(content: unknown, roomId: string): ParseEncryptionKeysResult {
  if (!isRecord(content)) return { ok: false, faults: [{ reason: 'malformed', message: 'content must be an object' }] };
  const faults: ContentFault[] = [];

  const room = content['room_id'];
  if (typeof room !== 'string' || room.length === 0) faults.push({ reason: 'malformed', message: 'room_id must be a non-empty string' });
  else if (room !== roomId) faults.push({ reason: 'wrong-room', message: 'room_id is not the call room' });

  let index: number | undefined;
  let key: Uint8Array | undefined;
  const keys = content['keys'];
  if (!isRecord(keys)) {
    faults.push({ reason: 'malformed', message: 'keys must be an object' });
  } else {
    const rawIndex = keys['index'];
    if (typeof rawIndex !== 'number' || !Number.isInteger(rawIndex) || rawIndex < 0 || rawIndex > MAX_KEY_INDEX) {
      faults.push({ reason: 'bad-index', message: `keys.index must be an integer from 0 to ${MAX_KEY_INDEX}` });
    } else {
      index = rawIndex;
    }
    const rawKey = keys['key'];
    if (typeof rawKey !== 'string' || rawKey.length === 0) {
      faults.push({ reason: 'bad-key', message: 'keys.key must be a non-empty string' });
    } else {
      const decoded = decodeBase64(rawKey);
      if (decoded === undefined) faults.push({ reason: 'bad-key', message: 'keys.key is not base64' });
      else if (decoded.byteLength !== BASE_KEY_BYTES) faults.push({ reason: 'bad-key', message: `keys.key must decode to ${BASE_KEY_BYTES} bytes, not ${decoded.byteLength}` });
      else key = decoded;
    }
  }

  let memberId: string | undefined;
  let claimedDeviceId: string | undefined;
  const member = content['member'];
  if (!isRecord(member)) {
    faults.push({ reason: 'malformed', message: 'member must be an object' });
  } else {
    const claimed = member['claimed_device_id'];
    if (typeof claimed !== 'string' || claimed.length === 0) faults.push({ reason: 'malformed', message: 'member.claimed_device_id must be a non-empty string' });
    else claimedDeviceId = claimed;
    const id = member['id'];
    if (id !== undefined && typeof id !== 'string') faults.push({ reason: 'malformed', message: 'member.id must be a string' });
    else memberId = id;
  }

  const sentTs = content['sent_ts'];
  if (typeof sentTs !== 'number' || !Number.isFinite(sentTs) || sentTs < 0) faults.push({ reason: 'malformed', message: 'sent_ts must be a finite number ≥ 0' });

  if (faults.length > 0 || index === undefined || key === undefined || claimedDeviceId === undefined || typeof sentTs !== 'number') {
    return { ok: false, faults };
  }
  return { ok: true, value: { index, key, memberId, claimedDeviceId, sentTs } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
