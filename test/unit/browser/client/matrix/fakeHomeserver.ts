// A narrow fake of the client-server API endpoints CallMembership uses (state PUT/GET of
// one membership, MSC4140 delayed events: schedule, restart, send), as a fetch stub. It can
// be "down" (fetch rejects with a TypeError, as a refused connection does), rate limit the
// next requests, and fire the pending delayed leaves as Synapse does when it comes back.

import { vi } from 'vitest';

/** One request the fake saw. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly atMs: number;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** The fake homeserver. */
export class FakeHomeserver {
  /** Current content of each state key (`{}` after a leave). */
  readonly state = new Map<string, Record<string, unknown>>();
  /** Pending delayed events: id → state key. */
  readonly delayed = new Map<string, string>();
  readonly requests: SeenRequest[] = [];
  down = false;
  /** Answer the next n requests with 429 (and this Retry-After in ms, if set). */
  rateLimitNext = 0;
  retryAfterMs: number | undefined;
  delayedEventsSupported = true;
  #nextId = 1;

  /** Installs itself as the global fetch. */
  install(): this {
    vi.stubGlobal('fetch', vi.fn(async (url: string, init: RequestInit) => this.#handle(url, init)));
    return this;
  }

  /**
   * The homeserver sends every pending delayed leave (back from an outage). Synapse forgets
   * the delayed event before the emptied state is stored: with `lagged`, the state changes
   * only when the returned function is called.
   */
  fireDelayed(options: { lagged?: boolean } = {}): () => void {
    const keys = [...this.delayed.values()];
    this.delayed.clear();
    const apply = (): void => {
      for (const stateKey of keys) this.state.set(stateKey, {});
    };
    if (!options.lagged) apply();
    return apply;
  }

  /** Membership PUTs that wrote a live membership. */
  publishes(): SeenRequest[] {
    return this.requests.filter((r) => r.method === 'PUT' && !r.path.includes('delay=') && typeof (r.body as { application?: unknown }).application === 'string');
  }

  count(method: string, pathPart: string): number {
    return this.requests.filter((r) => r.method === method && r.path.includes(pathPart)).length;
  }

  #handle(url: string, init: RequestInit): Response {
    const { pathname, search } = new URL(url);
    const path = decodeURIComponent(pathname) + search;
    const method = init.method ?? 'GET';
    const body: unknown = init.body ? JSON.parse(String(init.body)) : undefined;
    this.requests.push({ method, path, body, atMs: Date.now() });
    if (this.down) throw new TypeError('fetch failed');
    if (this.rateLimitNext > 0) {
      this.rateLimitNext--;
      return json(429, { errcode: 'M_LIMIT_EXCEEDED', ...(this.retryAfterMs !== undefined ? { retry_after_ms: this.retryAfterMs } : {}) });
    }
    const state = /\/state\/org\.matrix\.msc3401\.call\.member\/([^?]+)/.exec(path);
    if (state) {
      const stateKey = state[1] as string;
      if (method === 'GET') {
        const content = this.state.get(stateKey);
        return content ? json(200, content) : json(404, { errcode: 'M_NOT_FOUND' });
      }
      if (search.includes('msc4140.delay')) {
        if (!this.delayedEventsSupported) return json(400, { errcode: 'M_UNRECOGNIZED' });
        const id = `d${this.#nextId++}`;
        this.delayed.set(id, stateKey);
        return json(200, { delay_id: id });
      }
      this.state.set(stateKey, body as Record<string, unknown>);
      return json(200, { event_id: `$e${this.#nextId++}` });
    }
    const delayed = /delayed_events\/([^/]+)\/(restart|send|cancel)$/.exec(path);
    if (delayed) {
      const [, id, action] = delayed as unknown as [string, string, string];
      const stateKey = this.delayed.get(id);
      if (stateKey === undefined) return json(404, { errcode: 'M_NOT_FOUND' });
      if (action === 'send') this.state.set(stateKey, {});
      if (action !== 'restart') this.delayed.delete(id);
      return json(200, {});
    }
    return json(404, { errcode: 'M_UNRECOGNIZED' });
  }
}
