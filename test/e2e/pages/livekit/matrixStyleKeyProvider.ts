// A livekit-client key provider that takes keys the way Element Call's MatrixKeyProvider does
// (per participant identity, keyring of 256, ratchet window 10): each MatrixRTC key (raw bytes
// and index, from an `io.element.call.encryption_keys` to-device event in Element Call) is
// imported as HKDF key material and set for that identity and index. Test page only.

import { BaseKeyProvider } from 'livekit-client';

/** Per-participant keys, as Element Call's MatrixKeyProvider sets them. */
export class MatrixStyleKeyProvider extends BaseKeyProvider {
  constructor() {
    super({ ratchetWindowSize: 10, keyringSize: 256 });
  }

  /** Sets `key` (raw bytes) at `keyIndex` for `identity` (the LiveKit participant identity). */
  async setParticipantKey(identity: string, keyIndex: number, key: Uint8Array): Promise<void> {
    const material = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits', 'deriveKey']);
    this.onSetEncryptionKey(material, identity, keyIndex);
  }
}
