// Batches consumer acknowledgements: each new consumer must be resumed once
// the client created it, and a big room creates dozens at once. One
// resumeConsumers request per burst (up to MAX_RESUME_BATCH ids, flushed after
// `delayMs`) instead of one request per consumer keeps a joining client far
// below the server's per-connection rate limit. Each caller learns its own
// id's outcome.

import { MAX_RESUME_BATCH, type RequestData, type ResponseDataMap, type WireErrorCode } from '../../common/protocol/messages.ts';
import { RequestError } from './errors.ts';

/** What the batcher needs from Signalling. */
export interface ResumeSignalling {
  request(method: 'resumeConsumers', data: RequestData<'resumeConsumers'>): Promise<ResponseDataMap['resumeConsumers']>;
}

/** Outcome of one acknowledgement: resumed, or the consumer closed meanwhile (its consumerClosed follows). */
export type AckOutcome = 'resumed' | 'gone';

interface Waiter {
  resolve(outcome: AckOutcome): void;
  reject(error: unknown): void;
}

/** Collects consumer ids and acknowledges them in batches. */
export class ResumeBatcher {
  readonly #signalling: ResumeSignalling;
  readonly #delayMs: number;
  readonly #pending = new Map<string, Waiter[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** @param delayMs how long the first id of a batch waits for company. Default 10 ms. */
  constructor(signalling: ResumeSignalling, delayMs = 10) {
    this.#signalling = signalling;
    this.#delayMs = delayMs;
  }

  /** Acknowledges `consumerId`; rejects with RequestError when the server refused that id. */
  resume(consumerId: string): Promise<AckOutcome> {
    return new Promise<AckOutcome>((resolve, reject) => {
      const waiters = this.#pending.get(consumerId) ?? [];
      waiters.push({ resolve, reject });
      this.#pending.set(consumerId, waiters);
      if (this.#pending.size >= MAX_RESUME_BATCH) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#delayMs);
    });
  }

  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = new Map([...this.#pending].slice(0, MAX_RESUME_BATCH));
    for (const id of batch.keys()) this.#pending.delete(id);
    if (this.#pending.size > 0) this.#timer = setTimeout(() => this.#flush(), 0);
    if (batch.size === 0) return;
    this.#signalling.request('resumeConsumers', { consumerIds: [...batch.keys()] }).then(
      ({ results }) => {
        const byId = new Map(results.map((result) => [result.consumerId, result]));
        for (const [consumerId, waiters] of batch) {
          const result = byId.get(consumerId);
          for (const waiter of waiters) {
            if (result?.ok) waiter.resolve('resumed');
            else if (result?.code === 'GONE') waiter.resolve('gone');
            else waiter.reject(new RequestError('resumeConsumers', (result?.code ?? 'INTERNAL') as WireErrorCode, 'consumer not resumed'));
          }
        }
      },
      (error: unknown) => {
        for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}
