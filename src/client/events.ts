// The client's typed event emitter (an event map of argument tuples, as in
// src/lib/TypedEmitter.ts, re-done here because the browser bundle may import
// only src/protocol) and the public event map of SfuClient.

import type { MediaSource, PeerInfo } from '../protocol/messages.ts';
import type { SfuClientError } from './errors.ts';

/** Event name to argument tuple. */
export type EventMap = Record<string, unknown[]>;

type Listener<A extends unknown[]> = (...args: A) => void;

/** Typed emitter; a throwing listener is reported through `onListenerError` and the others still run. */
export class Emitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Array<{ fn: Listener<never>; once: boolean }>>();
  readonly #onListenerError: (event: string, error: unknown) => void;

  /** @param onListenerError called when a listener throws (default: console.error). */
  constructor(onListenerError?: (event: string, error: unknown) => void) {
    this.#onListenerError = onListenerError ?? ((event, error) => console.error(`listener of "${event}" threw`, error));
  }

  /** Adds a listener. */
  on<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, false);
  }

  /** Adds a listener removed after its first call. */
  once<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, true);
  }

  /** Removes a listener added with on() or once(). */
  off<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    const index = list?.findIndex((entry) => entry.fn === listener) ?? -1;
    if (list && index >= 0) list.splice(index, 1);
    return this;
  }

  /** Removes every listener of every event. */
  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Calls every listener of `event` in registration order; returns whether any existed. */
  protected safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
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

  #add(event: keyof E, fn: Listener<never>, once: boolean): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once });
    this.#listeners.set(event, list);
    return this;
  }
}

/** A remote track that became available (a local consumer exists and was acknowledged). */
export interface TrackAddedEvent {
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly track: MediaStreamTrack;
  /** The publisher has paused it; no media flows until `trackResumed`. */
  readonly paused: boolean;
}

/** A remote track that went away (its producer closed, its publisher left, or media is being rebuilt). */
export interface TrackRemovedEvent {
  readonly participantId: string;
  readonly consumerId: string;
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
}

/** Why the client is rebuilding or must move its media. */
export interface ReconnectingEvent {
  /**
   * `worker-restarted`: the client rebuilds its transports and re-publishes on
   * its own, then emits `reconnected`. `draining`: this server is shutting
   * down; the caller should connect to another one (the client does nothing).
   */
  readonly reason: 'worker-restarted' | 'draining';
}

/** Public events of SfuClient. */
export type SfuClientEvents = {
  peerJoined: [peer: PeerInfo];
  peerLeft: [event: { participantId: string }];
  trackAdded: [event: TrackAddedEvent];
  trackRemoved: [event: TrackRemovedEvent];
  /** The publisher paused the producer behind this consumer. */
  trackPaused: [event: { consumerId: string }];
  trackResumed: [event: { consumerId: string }];
  /** The simulcast/SVC layers the server forwards changed (null: none). */
  layersChanged: [event: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null }];
  /** The first video frame of a consumer was decoded, `elapsedMs` after its consumerCreated arrived. */
  firstMedia: [event: { consumerId: string; participantId: string; elapsedMs: number }];
  activeSpeaker: [event: { participantId: string | null }];
  reconnecting: [event: ReconnectingEvent];
  /** Media was rebuilt after `reconnecting` (worker-restarted). */
  reconnected: [];
  /** A background operation failed (consuming a remote track, rebuilding media). The client stays usable. */
  error: [error: SfuClientError];
  /** The signalling connection closed; the client is unusable. `code` is a CLOSE_CODES value. */
  closed: [event: { code: number; reason: string }];
};
