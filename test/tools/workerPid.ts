// Test helper: mediasoup 3.12.16 has no 'subprocessclose' event (3.13.16), so
// teardown waits until the worker pid has really exited.

import { waitFor } from '../../src/common/lib/waitFor.ts';

/** True while a process with this pid exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until every pid has exited. */
export async function waitForExit(pids: readonly number[], timeoutMs = 5000): Promise<void> {
  await waitFor(() => pids.every((pid) => !pidAlive(pid)), { timeoutMs, description: `worker pids ${pids.join(',')} to exit` });
}
