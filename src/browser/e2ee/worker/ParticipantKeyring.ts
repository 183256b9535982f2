// The keys of one participant (ours, or one remote publisher's): up to KEYRING_SIZE base keys by
// MatrixRTC key index, each in a KeySlot. Setting a key derives the SFrame keys of every known
// sender index first and only then installs the slot, so a frame never waits on a fresh key.
//
// The slot a key replaced at an index (by set() or by adopting a forward ratchet) stays as that
// index's `previous` until the next replacement: frames encrypted just before a sender switched
// keys can arrive after a newer frame under the new key (audio overtakes video), and without it
// they would fail and cost the decoder a key frame. It admits nothing a keyring holding every
// index's last key does not already admit.
//
// Our own keyring also hands out frame counters, one per KID, as a high-water mark that lives as
// long as the keyring and survives key changes: a KID's CTR never repeats, whatever keys are set
// at its index, so each (base_key, KID, CTR) encrypts at most once (RFC 9605 §9.1) even if a key
// were installed twice. A new key at a new index (a new KID) starts its counter at 0.

import { BASE_KEY_BYTES } from '../../../common/e2ee/ratchet.ts';
import { makeKid } from '../../../common/e2ee/frame.ts';
import { KEYRING_SIZE, MAX_FRAME_COUNTER, PREDERIVED_SENDER_INDEXES } from './constants.ts';
import { KeySlot } from './KeySlot.ts';
import { isBaseKey, isKeyIndex } from './messages.ts';

/** Up to 256 base keys of one participant. */
export class ParticipantKeyring {
  readonly #slots = new Map<number, KeySlot>();
  readonly #previous = new Map<number, KeySlot>();
  readonly #counters = new Map<bigint, bigint>();
  readonly #maxFrameCounter: bigint;

  /** @param options.maxFrameCounter last CTR nextCounter() hands out per KID. Default MAX_FRAME_COUNTER (tests lower it). */
  constructor(options: { maxFrameCounter?: bigint } = {}) {
    this.#maxFrameCounter = options.maxFrameCounter ?? MAX_FRAME_COUNTER;
  }

  /** Key indexes held, ascending. */
  get keyIndexes(): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b);
  }

  get size(): number {
    return this.#slots.size;
  }

  get(keyIndex: number): KeySlot | undefined {
    return this.#slots.get(keyIndex);
  }

  /** The slot the current one at `keyIndex` replaced, if any (see the file header). */
  previous(keyIndex: number): KeySlot | undefined {
    return this.#previous.get(keyIndex);
  }

  /**
   * The next CTR under `kid`, or undefined once the counter limit is used up (then only a key
   * at another index helps). Synchronous: two frames can never take the same value, whatever
   * awaits follow.
   */
  nextCounter(kid: bigint): bigint | undefined {
    const next = this.#counters.get(kid) ?? 0n;
    if (next > this.#maxFrameCounter) return undefined;
    this.#counters.set(kid, next + 1n);
    return next;
  }

  /**
   * Installs `key` at `keyIndex` once its SFrame keys are derived; the slot it replaces becomes
   * the index's previous one. Re-setting the key a slot already holds keeps that slot and its caches.
   * @throws RangeError for a bad key index; TypeError unless `key` is 16 bytes.
   */
  async set(keyIndex: number, key: Uint8Array): Promise<KeySlot> {
    if (!isKeyIndex(keyIndex)) throw new RangeError(`key index must be an integer from 0 to ${KEYRING_SIZE - 1}`);
    if (!isBaseKey(key)) throw new TypeError(`keys are ${BASE_KEY_BYTES} bytes`);
    const existing = this.#slots.get(keyIndex);
    if (existing?.holds(key)) return existing;
    const slot = new KeySlot(key);
    await Promise.all([...PREDERIVED_SENDER_INDEXES.map((senderIndex) => slot.keyFor(makeKid(senderIndex, keyIndex))), slot.liveKitKey()]);
    // Another set() of the same index may have finished while we derived; arrival order wins,
    // and the worker's queue guarantees arrival order, so the last call installs last.
    this.#replace(keyIndex, slot);
    return slot;
  }

  /**
   * Replaces `expected` at `keyIndex` with its forward-ratcheted successor after that decrypted a
   * frame. Does nothing (returns false) when the slot changed meanwhile: a key that arrived from
   * the main thread wins over a ratchet guess.
   */
  adopt(keyIndex: number, expected: KeySlot, ratcheted: KeySlot): boolean {
    if (this.#slots.get(keyIndex) !== expected) return false;
    this.#replace(keyIndex, ratcheted);
    return true;
  }

  /** Wipes and forgets every key. */
  clear(): void {
    for (const slot of [...this.#slots.values(), ...this.#previous.values()]) slot.wipe();
    this.#slots.clear();
    this.#previous.clear();
  }

  #replace(keyIndex: number, slot: KeySlot): void {
    const replaced = this.#slots.get(keyIndex);
    this.#slots.set(keyIndex, slot);
    if (!replaced || replaced === slot) return;
    this.#previous.get(keyIndex)?.wipe();
    this.#previous.set(keyIndex, replaced);
  }
}
