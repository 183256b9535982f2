// Token bucket per connection: `ratePerSecond` sustained, `burst` on top.

/** Token bucket; take() returns false when the caller is over its rate. */
export class RateLimiter {
  readonly #ratePerSecond: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  /** @param now monotonic clock in ms (default performance.now). */
  constructor(ratePerSecond: number, burst: number, now: () => number = () => performance.now()) {
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#ratePerSecond);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
