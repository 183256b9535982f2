// A counter that forgives: each unit added decays away after `decayMs`
// (a leaky bucket draining one unit per decayMs). Sessions count protocol
// faults and rate-limit strikes with it, so a long, well-behaved call is not
// closed for a handful of races spread over hours, while a burst of abuse
// still crosses the limit at once.

/** Leaky counter; value() drains one unit per `decayMs` of the clock. */
export class DecayingCounter {
  readonly #decayMs: number;
  readonly #now: () => number;
  #level = 0;
  #last: number;

  /** @param now monotonic clock in ms (default performance.now). */
  constructor(decayMs: number, now: () => number = () => performance.now()) {
    if (!(decayMs > 0)) throw new TypeError('decayMs must be positive');
    this.#decayMs = decayMs;
    this.#now = now;
    this.#last = now();
  }

  /** The current level after decay. */
  value(): number {
    const now = this.#now();
    this.#level = Math.max(0, this.#level - (now - this.#last) / this.#decayMs);
    this.#last = now;
    return this.#level;
  }

  /** Adds one unit; returns the level after it. */
  add(): number {
    this.#level = this.value() + 1;
    return this.#level;
  }
}
