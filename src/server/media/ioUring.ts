// Whether a mediasoup worker sends through io_uring, and if not, why.
//
// mediasoup >= 3.14 sends UDP/TCP packets through io_uring when the worker was built on
// Linux >= 6 and the running kernel lets it set up a ring (kernel >= 6, io_uring not
// disabled by sysctl, not refused by a container's seccomp profile, enough locked memory
// for its registered buffers); otherwise it falls back to libuv's sends on its own. Its
// dump then lacks the `liburing` section. We read that once per worker start, log which
// path the worker took with the likely reason, and report it as a metric.

import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import mediasoup from 'mediasoup';
import type { Logger } from '../../common/lib/logger.ts';
import type { Worker } from './types.ts';
import type { WorkerSlot } from './WorkerPool.ts';
import { withMediaTimeout } from './timeout.ts';

/** The send path of one worker. */
export interface IoUringStatus {
  readonly enabled: boolean;
  /** Why it is off (empty when enabled). */
  readonly reason: string;
}

/** True when a worker dump reports an active io_uring (its `liburing` section). */
export function dumpHasIoUring(dump: unknown): boolean {
  if (typeof dump !== 'object' || dump === null || !('liburing' in dump)) return false;
  const liburing = (dump as { liburing: unknown }).liburing;
  return typeof liburing === 'object' && liburing !== null;
}

/** The likeliest reason io_uring is off on this host for this mediasoup. */
export function ioUringOffReason(
  mediasoupVersion: string = mediasoup.version,
  kernelRelease: string = release(),
  readSysctl: () => string | undefined = readIoUringDisabledSysctl,
): string {
  const [major = 0, minor = 0] = mediasoupVersion.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 14)) return `mediasoup ${mediasoupVersion} has no io_uring support`;
  const kernelMajor = Number.parseInt(kernelRelease, 10);
  if (!(kernelMajor >= 6)) return `Linux ${kernelRelease}: mediasoup uses io_uring from Linux 6`;
  const sysctl = readSysctl();
  if (sysctl !== undefined && sysctl !== '0') return `kernel.io_uring_disabled=${sysctl}`;
  return 'the worker could not set up io_uring (seccomp profile of a container, RLIMIT_MEMLOCK, or a worker built on Linux < 6)';
}

function readIoUringDisabledSysctl(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {
    // Kernels before 6.6 have no such sysctl: nothing disables io_uring there.
    return undefined;
  }
}

/** Asks a worker (bounded by timeoutMs) whether it sends through io_uring. */
export async function readIoUringStatus(worker: Worker, timeoutMs: number): Promise<IoUringStatus> {
  const dump: unknown = await withMediaTimeout('worker.dump', worker.dump(), timeoutMs);
  return dumpHasIoUring(dump) ? { enabled: true, reason: '' } : { enabled: false, reason: ioUringOffReason() };
}

/** What watchIoUring() needs of the WorkerPool. */
export interface IoUringWatchedPool {
  readonly slots: readonly WorkerSlot[];
  readonly observer: {
    on(event: 'workerStarted', listener: (slot: WorkerSlot) => void): unknown;
    off(event: 'workerStarted', listener: (slot: WorkerSlot) => void): unknown;
  };
}

/**
 * Reads the send path of every worker of `pool`, now and after each (re)start, logs it
 * (info: enabled, or off with the reason) and hands it to `report`. Returns the detach.
 */
export function watchIoUring(
  pool: IoUringWatchedPool,
  report: (slotIndex: number, status: IoUringStatus) => void,
  logger: Logger,
  timeoutMs: number,
): () => void {
  const log = logger.child({ component: 'media' });
  const check = (slot: WorkerSlot): void => {
    readIoUringStatus(slot.worker, timeoutMs).then(
      (status) => {
        const fields = { slot: slot.index, workerPid: slot.worker.pid };
        if (status.enabled) log.info('mediasoup worker sends through io_uring', fields);
        else log.info('mediasoup worker sends without io_uring', { ...fields, reason: status.reason });
        report(slot.index, status);
      },
      (error: unknown) => log.debug('cannot read the io_uring state of a worker', { slot: slot.index, error }),
    );
  };
  for (const slot of pool.slots) check(slot);
  pool.observer.on('workerStarted', check);
  return () => pool.observer.off('workerStarted', check);
}
