// mediasoup >= 3.17 (here 3.19) makes every Worker close itself when the Node process gets
// SIGINT or SIGTERM (Worker.js adds process.once('SIGINT'/'SIGTERM', worker.onSignal)).
// Our process drains on SIGTERM: sessions are told to move and media keeps flowing for
// drain.gracePeriodMs before the pool closes the workers (src/server/main.ts, SfuNode.drain).
// With mediasoup's handlers every conference would lose its router at the signal instead,
// and its sessions would close with 4011 (media lost) rather than 4006 (draining). So each
// worker's handlers are removed right after it starts; the pool closes workers itself, and a
// worker whose parent dies still exits when its channel closes.

import type { Worker } from './types.ts';

type SignalListener = (signal: NodeJS.Signals) => void;

/** Removes mediasoup's own SIGINT/SIGTERM handlers of `worker` (no-op when there are none). */
export function keepWorkerThroughSignals(worker: Worker): void {
  const onSignal: unknown = (worker as unknown as Record<string, unknown>)['onSignal'];
  if (typeof onSignal !== 'function') return;
  process.removeListener('SIGINT', onSignal as SignalListener);
  process.removeListener('SIGTERM', onSignal as SignalListener);
}
