// Used JWT ids for a cluster: a token opens one session on ONE node of the cluster. mark()
// is `SET {prefix}jti:{jti} {node} NX PXAT {exp}` in Redis, the single decision for every
// node; has() answers from this node's own memory (tokens it saw) so repeated attempts
// on this node are refused without a round trip. Redis down → mark() rejects, and
// admission refuses the new session as "not ready" (retry shortly); sessions already
// admitted are untouched.

import type { Redis } from 'ioredis';
import type { JtiMarkResult, UsedJtis } from '../auth/JtiStore.ts';

/** Most jtis remembered locally; the oldest are dropped past it (Redis still knows them). */
const MAX_LOCAL = 100_000;

/** Options of ClusterJtis. */
export interface ClusterJtisOptions {
  readonly redis: () => Redis;
  readonly available: () => boolean;
  readonly keyPrefix: string;
  readonly nodeId: string;
  /** Clock (ms since the epoch); tests move it. */
  readonly now?: () => number;
}

/** The cluster-wide used-jti store (see the header comment). */
export class ClusterJtis implements UsedJtis {
  readonly #options: ClusterJtisOptions;
  /** jti → expiry (ms since the epoch), in insertion order. */
  readonly #local = new Map<string, number>();

  constructor(options: ClusterJtisOptions) {
    this.#options = options;
  }

  has(jti: string, _issuedAtMs: number): boolean {
    const expiresAtMs = this.#local.get(jti);
    if (expiresAtMs === undefined) return false;
    if (expiresAtMs <= this.#now()) {
      this.#local.delete(jti);
      return false;
    }
    return true;
  }

  async mark(jti: string, _issuedAtMs: number, expiresAtMs: number): Promise<JtiMarkResult> {
    if (this.has(jti, _issuedAtMs)) return 'replayed';
    if (!this.#options.available()) throw new Error('Redis is unavailable');
    // Keep the key a little past the token's expiry, so a clock skew between nodes cannot reopen it.
    const keepUntilMs = Math.max(expiresAtMs, this.#now()) + 60_000;
    const set = await this.#options.redis().set(`${this.#options.keyPrefix}jti:${jti}`, this.#options.nodeId, 'PXAT', keepUntilMs, 'NX');
    this.#remember(jti, expiresAtMs);
    return set === 'OK' ? 'marked' : 'replayed';
  }

  #remember(jti: string, expiresAtMs: number): void {
    this.#local.set(jti, expiresAtMs);
    if (this.#local.size <= MAX_LOCAL) return;
    const oldest = this.#local.keys().next();
    if (!oldest.done) this.#local.delete(oldest.value);
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
