// The default KeyClock: Date.now() and the global timers, looked up at call time so that
// `vi.useFakeTimers()` installed after construction still applies. Runs in browsers and Node.

import type { KeyClock } from './types.ts';

/** Wall clock and global timers. */
export const systemClock: KeyClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number): unknown => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle: unknown): void => {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
});
