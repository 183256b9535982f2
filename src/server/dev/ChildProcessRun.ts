// One supervised helper process of the development setup and the tests (the dev Synapse,
// coturn): spawned with stdout and stderr appended to its own log file, never left behind
// (killed with SIGKILL if this process exits without stopping it), stopped with SIGTERM and,
// past a deadline, SIGKILL. A failed spawn (no such binary) counts as exited.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** Options of spawnLogged(). */
export interface SpawnLoggedOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** File the child's stdout and stderr are appended to (mode 600 when created). */
  readonly logPath: string;
  /** How long stop() waits after SIGTERM before SIGKILL. */
  readonly stopTimeoutMs: number;
}

/** A spawned, supervised child. */
export interface ChildProcessRun {
  readonly child: ChildProcess;
  /** Resolves when the child exited or could not be spawned. */
  readonly exited: Promise<void>;
  /** The spawn failure, if there was one. */
  spawnError(): Error | undefined;
  /** Exited, was killed, or never started. */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
}

/** Spawns `command` (see the header comment). */
export function spawnLogged(command: string, args: readonly string[], options: SpawnLoggedOptions): ChildProcessRun {
  const logFd = openSync(options.logPath, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: options.cwd, ...(options.env ? { env: options.env } : {}), stdio: ['ignore', logFd, logFd] });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // A failed spawn emits 'error' and never 'exit'.
    child.once('error', () => resolve());
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const hasExited = (): boolean => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;
  // Last resort if the runner exits without calling stop(): never leave a helper process behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void exited.then(() => process.removeListener('exit', killOnExit));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!hasExited()) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), options.stopTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      process.removeListener('exit', killOnExit);
    })();
    return stopping;
  };
  return { child, exited, spawnError: () => spawnError, hasExited, stop };
}
