// Constants of MatrixRTC key distribution: the to-device event Element Call and matrix-js-sdk
// exchange (README.md, "Wire format"), and the timing defaults of our key policy (README.md,
// "KID layout, ratchet, timings").
// Pure data: runs in browsers and Node alike.

import { MAX_KEY_INDEX } from '../constants.ts';

/**
 * To-device event type of media keys (js-sdk `EventType.CallEncryptionKeysPrefix`). Sent
 * Olm-encrypted, so on the wire it is `m.room.encrypted` (README.md, "Wire format").
 */
export const CALL_ENCRYPTION_KEYS_EVENT_TYPE = 'io.element.call.encryption_keys';

/** Number of key indexes: indexes run 0-255 and the next one is `(i + 1) % 256` (README.md, "Wire format"). */
export const KEY_INDEX_COUNT = MAX_KEY_INDEX + 1;

/**
 * The hard-coded `session` object of the key event: sent, never checked (README.md, "Wire format").
 * The room-wide call: application "m.call", empty call id, scope "m.room".
 */
export const CALL_KEY_SESSION = Object.freeze({ application: 'm.call', call_id: '', scope: 'm.room' } as const);

/**
 * Default delay between handing a new key out and encrypting our own frames with it: 1 000 ms,
 * js-sdk's `useKeyDelay` join default (README.md, "Wire format"). Longer gives slow to-device
 * delivery more time; shorter lets joiners and remaining members see us sooner.
 */
export const DEFAULT_USE_KEY_DELAY_MS = 1_000;

/**
 * Default longest lifetime of a fresh key: 15 min. Bounds how much media one key protects;
 * each rotation costs one to-device message per member device.
 */
export const DEFAULT_ROTATION_INTERVAL_MS = 900_000;

/**
 * Default first retry delay after a failed send: 3 000 ms (js-sdk's `networkErrorRetryMs`).
 * Doubles per consecutive failure up to {@link MAX_SEND_RETRY_DELAY_MS}.
 */
export const DEFAULT_SEND_RETRY_DELAY_MS = 3_000;

/** Cap of the send retry back-off. */
export const MAX_SEND_RETRY_DELAY_MS = 60_000;

/**
 * Default lifetime of a parked key (a key whose sender's membership has not arrived yet):
 * 60 s. Memberships normally follow within a sync or two.
 */
export const DEFAULT_PARKED_KEY_TTL_MS = 60_000;

/** Default largest number of parked keys; the oldest is dropped beyond it. */
export const DEFAULT_MAX_PARKED_KEYS = 64;
