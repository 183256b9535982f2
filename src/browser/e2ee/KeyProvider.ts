// The main-thread KeySink: key distribution (src/common/e2ee/keys) hands it our own key and every
// peer's, and it forwards them to the frame-transform worker, where they stay. It keeps which
// key indexes it has seen (never the bytes), so the UI can tell a participant's keys apart from
// their decryption state. Every key is copied and the copy's buffer transferred: the caller may
// wipe its own bytes afterwards, and the main thread keeps no copy.

import type { KeySink } from '../../common/e2ee/keys/types.ts';
import { BASE_KEY_BYTES } from '../../common/e2ee/ratchet.ts';
import { KEYRING_SIZE } from './worker/constants.ts';
import { isBaseKey, isKeyIndex } from './worker/messages.ts';
import type { WorkerRequest } from './worker/types.ts';
import type { E2eeLogger, E2eeWorkerPort } from './types.ts';

function checkKeyIndex(keyIndex: number): void {
  if (!isKeyIndex(keyIndex)) throw new RangeError(`key index must be an integer from 0 to ${KEYRING_SIZE - 1}`);
}

function checkKey(key: Uint8Array): void {
  if (!isBaseKey(key)) throw new TypeError(`keys are ${BASE_KEY_BYTES} bytes`);
}

function checkParticipantId(participantId: string): void {
  if (typeof participantId !== 'string' || participantId.length === 0) throw new TypeError('participantId must be a non-empty string');
}

/** Forwards keys to the e2ee worker. */
export class KeyProvider implements KeySink {
  readonly #port: Pick<E2eeWorkerPort, 'postMessage'>;
  readonly #logger: E2eeLogger;
  readonly #peerKeyIndexes = new Map<string, Set<number>>();
  #ownKeyIndex: number | undefined;
  #closed = false;

  constructor(port: Pick<E2eeWorkerPort, 'postMessage'>, logger: E2eeLogger) {
    this.#port = port;
    this.#logger = logger;
  }

  /** Index of the key our senders encrypt with (undefined before the first setOwnKey()). */
  get ownKeyIndex(): number | undefined {
    return this.#ownKeyIndex;
  }

  /** Key indexes received for a participant, ascending. */
  peerKeyIndexes(participantId: string): number[] {
    return [...(this.#peerKeyIndexes.get(participantId) ?? [])].sort((a, b) => a - b);
  }

  /**
   * Our senders encrypt with `key` from now on (once the worker derived it, a few ms).
   * @throws RangeError for a key index outside 0-255; TypeError unless `key` is 16 bytes.
   */
  setOwnKey(keyIndex: number, key: Uint8Array): void {
    checkKeyIndex(keyIndex);
    checkKey(key);
    if (!this.#open('setOwnKey')) return;
    const copy = key.slice();
    this.#post({ kind: 'setOwnKey', keyIndex, key: copy }, copy);
    this.#ownKeyIndex = keyIndex;
  }

  /**
   * Frames of `participantId` (the SFU participant id) naming `keyIndex` decrypt with `key`.
   * @throws TypeError for an empty participantId or a key that is not 16 bytes; RangeError for the index.
   */
  setPeerKey(participantId: string, keyIndex: number, key: Uint8Array): void {
    checkParticipantId(participantId);
    checkKeyIndex(keyIndex);
    checkKey(key);
    if (!this.#open('setPeerKey')) return;
    const copy = key.slice();
    this.#post({ kind: 'setPeerKey', participantId, keyIndex, key: copy }, copy);
    let indexes = this.#peerKeyIndexes.get(participantId);
    if (!indexes) {
      indexes = new Set();
      this.#peerKeyIndexes.set(participantId, indexes);
    }
    indexes.add(keyIndex);
  }

  /** Forgets every key of a participant (it left); their frames then drop as `missing-key`. */
  removePeer(participantId: string): void {
    checkParticipantId(participantId);
    if (!this.#open('removePeer')) return;
    this.#post({ kind: 'removePeer', participantId });
    this.#peerKeyIndexes.delete(participantId);
  }

  /** Further keys are ignored (the manager closed and its worker is gone). */
  close(): void {
    this.#closed = true;
    this.#peerKeyIndexes.clear();
  }

  #open(operation: string): boolean {
    if (this.#closed) this.#logger.debug('key ignored: e2ee closed', { operation });
    return !this.#closed;
  }

  #post(request: WorkerRequest, key?: Uint8Array): void {
    this.#port.postMessage(request, key ? [key.buffer] : []);
  }
}
