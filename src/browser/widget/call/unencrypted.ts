// The E2EE status source of a call without end-to-end encryption: no transforms, and every
// tile says "Not encrypted" (media is still DTLS-SRTP protected to the SFU). Used when the
// E2EE modules cannot run (standalone mode has no Olm; a browser without encoded transforms).

import type { E2eeStatusSource } from './types.ts';

/** A status source that reports `off` for everyone. */
export function unencryptedStatus(): E2eeStatusSource {
  return {
    enabled: false,
    stateOf: () => 'off',
    onChange: () => () => undefined,
    transforms: undefined,
    encodedInsertableStreams: false,
    start: () => undefined,
    close: () => undefined,
  };
}
