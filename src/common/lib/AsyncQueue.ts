// A strict FIFO of async tasks: each task starts only after the previous one
// settled. One per conference, so that a conference's state changes run in order, because in
// Node our races happen across awaits, not threads.

import { InvalidStateError } from './errors.ts';

/** Runs pushed tasks one at a time in push order. */
export class AsyncQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #closed = false;
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  /** Number of tasks pushed and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues `task`; resolves or rejects with its outcome. A task that throws
   * does not stop the queue. Rejects with InvalidStateError after close().
   */
  push<T>(task: () => Promise<T> | T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new InvalidStateError(`queue ${this.#name} is closed`));
    }
    this.#pending++;
    const run = this.#tail.then(task);
    const settled = run.finally(() => {
      this.#pending--;
    });
    // The chain must continue whatever the task's outcome; the outcome itself
    // goes to the caller through `run`.
    this.#tail = settled.catch(() => undefined);
    return run;
  }

  /** Refuses further tasks; tasks already queued still run. */
  close(): void {
    this.#closed = true;
  }

  /** Resolves when every task pushed so far has settled. */
  async drained(): Promise<void> {
    await this.#tail;
  }
}
