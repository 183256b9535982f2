// One base key in a keyring slot: the SFrame keys derived from it per KID (RFC 9605 §4.4.2,
// derived once and cached), its LiveKit-format AES key (livekitFrame.ts, cached) and its forward ratchet chain (ratchet.ts, computed lazily and cached
// so repeated failures cost only AEAD attempts). Frame counters live in the keyring, per KID.

import { MAX_RATCHET_STEPS, ratchetKey } from '../../../common/e2ee/ratchet.ts';
import { deriveLiveKitFrameKey } from '../../../common/e2ee/livekitFrame.ts';
import { deriveSFrameKey } from '../../../common/e2ee/sframe.ts';
import type { SFrameKey, WebCryptoKey } from '../../../common/e2ee/types.ts';
import { E2EE_CIPHER_SUITE } from './constants.ts';

/** A slot was used after it left its keyring (a newer key replaced it while a frame was in flight). */
export class KeySlotWipedError extends Error {
  constructor() {
    super('key slot was replaced');
    this.name = 'KeySlotWipedError';
  }
}

/** A base key and everything derived from it. Never exposes the key bytes. */
export class KeySlot {
  /** Ratchet steps from the key that was set (0 for a key set by the main thread). */
  readonly ratchetStep: number;
  readonly #baseKey: Uint8Array;
  readonly #keys = new Map<bigint, Promise<SFrameKey>>();
  /** #chain[i] is the slot ratcheted i + 1 steps from this one. */
  readonly #chain: Array<Promise<KeySlot>> = [];
  #liveKitKey: Promise<WebCryptoKey> | undefined;
  #wiped = false;

  /** Copies `baseKey`; the caller may wipe its own copy. */
  constructor(baseKey: Uint8Array, ratchetStep = 0) {
    this.#baseKey = baseKey.slice();
    this.ratchetStep = ratchetStep;
  }

  /** Whether this slot holds exactly `key` (re-setting a held key keeps the slot and its caches). */
  holds(key: Uint8Array): boolean {
    if (key.length !== this.#baseKey.length) return false;
    let diff = 0;
    for (let i = 0; i < key.length; i++) diff |= (key[i] ?? 0) ^ (this.#baseKey[i] ?? 0);
    return diff === 0;
  }

  /** Whether wipe() ran: the slot left its keyring and derives nothing more. */
  get wiped(): boolean {
    return this.#wiped;
  }

  /**
   * The SFrame key of one KID, derived on first use and cached. A failed derivation is not
   * cached. Rejects with KeySlotWipedError after wipe().
   */
  keyFor(kid: bigint): Promise<SFrameKey> {
    if (this.#wiped) return Promise.reject(new KeySlotWipedError());
    let key = this.#keys.get(kid);
    if (!key) {
      key = deriveSFrameKey(E2EE_CIPHER_SUITE, this.#baseKey, kid);
      this.#keys.set(kid, key);
      key.catch(() => this.#keys.delete(kid));
    }
    return key;
  }

  /**
   * The AES-GCM key of LiveKit's frame format for this base key (HKDF salt "LKFrameEncryptionKey"),
   * derived on first use and cached. Rejects with KeySlotWipedError after wipe().
   */
  liveKitKey(): Promise<WebCryptoKey> {
    if (this.#wiped) return Promise.reject(new KeySlotWipedError());
    if (!this.#liveKitKey) {
      const key = deriveLiveKitFrameKey(this.#baseKey);
      this.#liveKitKey = key;
      key.catch(() => {
        if (this.#liveKitKey === key) this.#liveKitKey = undefined;
      });
    }
    return this.#liveKitKey;
  }

  /** This key ratcheted `steps` times (1 … MAX_RATCHET_STEPS), computed once. Rejects after wipe(). */
  ratcheted(steps: number): Promise<KeySlot> {
    if (this.#wiped) return Promise.reject(new KeySlotWipedError());
    if (!Number.isInteger(steps) || steps < 1 || steps > MAX_RATCHET_STEPS) {
      throw new RangeError(`ratchet steps must be 1 to ${MAX_RATCHET_STEPS}`);
    }
    for (let i = this.#chain.length; i < steps; i++) {
      const previous: Promise<KeySlot> = i === 0 ? Promise.resolve(this) : (this.#chain[i - 1] as Promise<KeySlot>);
      const step = this.ratchetStep + i + 1;
      const next = previous.then(async (slot) => {
        const bytes = await ratchetKey(slot.#baseKey);
        try {
          return new KeySlot(bytes, step);
        } finally {
          bytes.fill(0);
        }
      });
      this.#chain.push(next);
    }
    return this.#chain[steps - 1] as Promise<KeySlot>;
  }

  /** Overwrites the key bytes; call when the slot leaves its keyring for good. */
  wipe(): void {
    this.#wiped = true;
    this.#baseKey.fill(0);
    this.#keys.clear();
    this.#liveKitKey = undefined;
    this.#chain.length = 0;
  }
}
