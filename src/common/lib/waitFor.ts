// Bounded polling helper shared by tests and by startup code that waits on readiness.

/** Options of waitFor(). */
export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Poll period. Default 50 ms. */
  intervalMs?: number;
  /** Text for the timeout error. */
  description?: string;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws
 * after `timeoutMs` with the last failure reason (a thrown error's message or
 * the string `check` returned via `{ reason }`).
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastReason = 'condition never held';
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastReason = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.description ?? 'condition'}: ${lastReason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
