// A typed event emitter whose safeEmit() survives a throwing listener
// (mediasoup's EnhancedEventEmitter shape). Event maps are name -> argument
// tuple. No Node APIs: the browser client and the widget use it too.

/** Event name to argument tuple. */
export type EventMap = Record<string, unknown[]>;

type Listener<A extends unknown[]> = (...args: A) => void;

interface Entry {
  readonly fn: unknown;
  readonly once: boolean;
}

/** Typed emitter; a throwing listener is reported and the others still run. */
export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<string, Entry[]>();
  readonly #onListenerError: (event: string, error: unknown) => void;

  /** @param onListenerError called when a listener throws (default: console.error). */
  constructor(onListenerError?: (event: string, error: unknown) => void) {
    this.#onListenerError =
      onListenerError ??
      ((event, error) => {
        console.error(`listener of "${event}" threw`, error);
      });
  }

  on<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, false);
  }

  once<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, true);
  }

  off<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    if (list) {
      const index = list.findIndex((entry) => entry.fn === listener);
      if (index >= 0) list.splice(index, 1);
    }
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Calls every listener of `event` in registration order; returns whether any existed. */
  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return false;
    const snapshot = [...list];
    this.#listeners.set(
      event,
      list.filter((entry) => !entry.once),
    );
    for (const entry of snapshot) {
      try {
        (entry.fn as Listener<E[K]>)(...args);
      } catch (error) {
        this.#onListenerError(event, error);
      }
    }
    return true;
  }

  #add(event: string, fn: unknown, once: boolean): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once });
    this.#listeners.set(event, list);
    return this;
  }
}
