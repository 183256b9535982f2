// Public events of the MatrixKeyManager, for the UI and metrics. No event carries key bytes.

import type { KeyDistributionError, KeyRejection } from './errors.ts';
import type { PeerKeyState } from './types.ts';

/** Event map of {@link MatrixKeyManager} (name → argument tuple). */
export type MatrixKeyManagerEvents = {
  /** A member device's key state changed: `waiting` when it appears, `present` on its first key. */
  keyStateChanged: [participantId: string, state: PeerKeyState];
  /** Our sender switched to the key at this index (fresh, or ratcheted under the same index). */
  ownKeyChanged: [keyIndex: number];
  /** Our key could not be handed out (`no-targets`, `send-failed`, `not-supported`). */
  error: [error: KeyDistributionError];
  /** A received key event was dropped. */
  keyRejected: [rejection: KeyRejection];
};
