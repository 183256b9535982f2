// The homeserver's admin API as a second source of room state, for rooms the SFU account
// never joined (no invite needed): reads `GET /_synapse/admin/v1/rooms/{roomId}/state` with
// a server-admin access token and applies it to the MembershipWatcher like a `/state`
// snapshot. There is no sync for such rooms, so a room is re-read every `pollIntervalMs`
// while it has watched sessions or a token was issued for it within `holdMs`; a failing
// room backs off (doubling up to MAX_BACKOFF_MS) and keeps its last state, like the sync.
// Reads run at most MAX_PARALLEL_READS at a time; one pass at a time; rooms that need no
// more reads are forgotten (their state leaves the index), and at most MAX_TRACKED_ROOMS
// are tracked. Design and costs: README.md
// in this folder, section 12.

import type { Logger } from '../../common/lib/logger.ts';
import type { MembershipWatcher } from './MembershipWatcher.ts';
import { CALL_MEMBER_EVENT_TYPE } from './callMembership.ts';

/** Longest pause between reads of a room whose reads fail. */
export const MAX_BACKOFF_MS = 30_000;
/**
 * Rooms tracked at once. Past it a new room first displaces the room held longest ago that
 * has no session; if every tracked room has sessions, the new one is refused (`unavailable`).
 * Bounds memory against users asking for tokens to many rooms.
 */
export const MAX_TRACKED_ROOMS = 2000;
/** Admin API reads in flight at once. */
const MAX_PARALLEL_READS = 4;
/** State event types the membership index reads (the rest of the room state is skipped). */
const INDEXED_TYPES: ReadonlySet<string> = new Set(['m.room.create', 'm.room.member', CALL_MEMBER_EVENT_TYPE]);

/** Outcome of one read of a room's state. */
export type AdminReadResult =
  /** The homeserver is in the room; its state is applied. */
  | 'visible'
  /** The homeserver does not know the room (404), or refuses our token (401/403). */
  | 'not_visible'
  /** Network failure, timeout, 5xx, 429 or an unparseable answer: try again later. */
  | 'unavailable';

/** Options of AdminStateSource. */
export interface AdminStateSourceOptions {
  /** Base URL of the homeserver (the Synapse admin API lives under it). */
  readonly homeserverUrl: string;
  /** Access token of a server admin (secret; never logged). */
  readonly adminToken: string;
  readonly watcher: Pick<MembershipWatcher, 'ingest' | 'applySnapshot' | 'dropRoom' | 'watchedRoomIds' | 'index'>;
  /** Whether the SFU account has joined the room (then its sync owns the room, not this source). */
  readonly joinedBySfu: (roomId: string) => boolean;
  /** Period between reads of a room with sessions (config matrix.adminPollIntervalMs). */
  readonly pollIntervalMs: number;
  /** How long after a token was issued its room keeps being read without a session (token lifetime). */
  readonly holdMs: number;
  /** Timeout of each read. */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  /** fetch (tests). */
  readonly fetch?: typeof fetch;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

interface TrackedRoom {
  /** Read the room until then even without sessions. */
  holdUntilMs: number;
  /** Next periodic read not before then (back-off after failures). */
  dueAtMs: number;
  failures: number;
  /** The state is in the index (first read applied). */
  known: boolean;
  /** A read in flight (concurrent callers share it). */
  reading: Promise<AdminReadResult> | undefined;
}

/** Reads room state through the Synapse admin API and keeps it fresh while calls are live. */
export class AdminStateSource {
  readonly #options: AdminStateSourceOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #rooms = new Map<string, TrackedRoom>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tokenRefusedLogged = false;
  #reads = 0;

  constructor(options: AdminStateSourceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'matrix' });
    this.#now = options.now ?? (() => Date.now());
    this.#schedule();
  }

  /** Completed reads (tests, logs). */
  get reads(): number {
    return this.#reads;
  }

  /** Rooms this source currently reads. */
  trackedRoomIds(): string[] {
    return [...this.#rooms.keys()];
  }

  /**
   * Reads `roomId` now (sharing a read in flight) and keeps reading it for `holdMs` and while
   * it has sessions. Resolves to whether the homeserver is in the room.
   */
  async refresh(roomId: string): Promise<AdminReadResult> {
    if (this.#stopped) return 'unavailable';
    let room = this.#rooms.get(roomId);
    if (!room) {
      if (this.#rooms.size >= MAX_TRACKED_ROOMS && !this.#displaceOne()) {
        this.#log.warn('admin API source tracks its maximum of rooms with sessions; refusing another', { roomId, max: MAX_TRACKED_ROOMS });
        return 'unavailable';
      }
      room = { holdUntilMs: 0, dueAtMs: 0, failures: 0, known: false, reading: undefined };
      this.#rooms.set(roomId, room);
    }
    room.holdUntilMs = Math.max(room.holdUntilMs, this.#now() + this.#options.holdMs);
    const result = await this.#read(roomId, room);
    if (result === 'not_visible') this.#forget(roomId);
    return result;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#rooms.clear();
  }

  /** One periodic pass: forgets rooms nobody needs, reads the due ones (bounded parallelism). */
  async runOnce(): Promise<void> {
    const now = this.#now();
    const watched = new Set(this.#options.watcher.watchedRoomIds());
    const due: string[] = [];
    for (const [roomId, room] of this.#rooms) {
      if (this.#options.joinedBySfu(roomId)) {
        // The account joined meanwhile: its sync owns the room now; keep the index entry.
        this.#rooms.delete(roomId);
        continue;
      }
      if (!watched.has(roomId) && room.holdUntilMs <= now) {
        this.#forget(roomId);
        continue;
      }
      // Half an interval of slack: a read done just after the last pass is due at this one,
      // so a room is read about every interval, never every other pass.
      if (room.dueAtMs <= now + this.#options.pollIntervalMs / 2) due.push(roomId);
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!this.#stopped && next < due.length) {
        const roomId = due[next++]!;
        const room = this.#rooms.get(roomId);
        if (!room) continue;
        const result = await this.#read(roomId, room);
        if (result === 'not_visible') {
          // The homeserver left the room (or our token stopped working): nobody may stay in a call we cannot see.
          this.#log.warn('room no longer readable through the admin API; its sessions end', { roomId });
          this.#forget(roomId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL_READS, due.length) }, worker));
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.runOnce().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#log.warn('admin API poll pass failed', { error });
          this.#schedule();
        },
      );
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  /** Forgets the tracked room without sessions whose hold began longest ago; false if all have sessions. */
  #displaceOne(): boolean {
    const watched = new Set(this.#options.watcher.watchedRoomIds());
    let oldest: [string, number] | undefined;
    for (const [roomId, room] of this.#rooms) {
      if (watched.has(roomId)) continue;
      if (!oldest || room.holdUntilMs < oldest[1]) oldest = [roomId, room.holdUntilMs];
    }
    if (!oldest) return false;
    this.#forget(oldest[0]);
    return true;
  }

  #forget(roomId: string): void {
    const room = this.#rooms.get(roomId);
    this.#rooms.delete(roomId);
    if (room?.known && !this.#options.joinedBySfu(roomId)) this.#options.watcher.dropRoom(roomId);
  }

  #read(roomId: string, room: TrackedRoom): Promise<AdminReadResult> {
    if (room.reading) return room.reading;
    room.reading = this.#readOnce(roomId, room).finally(() => {
      room.reading = undefined;
    });
    return room.reading;
  }

  async #readOnce(roomId: string, room: TrackedRoom): Promise<AdminReadResult> {
    const { watcher } = this.#options;
    const generation = watcher.index.generation(roomId);
    const fetched = await this.#fetchState(roomId);
    this.#reads++;
    if (this.#stopped || this.#rooms.get(roomId) !== room) return fetched.result;
    if (fetched.result === 'unavailable') {
      room.failures++;
      const backoffMs = Math.min(this.#options.pollIntervalMs * 2 ** room.failures, MAX_BACKOFF_MS);
      room.dueAtMs = this.#now() + backoffMs;
      const fields = { roomId, detail: fetched.detail, failures: room.failures, retryInMs: backoffMs };
      if (room.failures === 1) this.#log.warn('admin API read of room state failed; keeping the last state', fields);
      else this.#log.debug('admin API read of room state still failing', fields);
      return 'unavailable';
    }
    if (fetched.result !== 'visible') return 'not_visible';
    if (room.failures > 0) this.#log.info('admin API read of room state works again', { roomId, failures: room.failures });
    room.failures = 0;
    room.dueAtMs = this.#now() + this.#options.pollIntervalMs;
    const events = fetched.events.filter((event) => INDEXED_TYPES.has(String((event as { type?: unknown }).type)));
    if (room.known) {
      watcher.applySnapshot(roomId, events, generation);
    } else {
      watcher.ingest(roomId, events, 'snapshot');
      room.known = true;
    }
    return 'visible';
  }

  async #fetchState(roomId: string): Promise<{ result: 'visible'; events: object[] } | { result: 'not_visible' | 'unavailable'; detail: string }> {
    const url = `${this.#options.homeserverUrl.replace(/\/$/, '')}/_synapse/admin/v1/rooms/${encodeURIComponent(roomId)}/state`;
    let response: Response;
    try {
      response = await (this.#options.fetch ?? fetch)(url, {
        headers: { authorization: `Bearer ${this.#options.adminToken}` },
        redirect: 'error',
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs),
      });
    } catch (error) {
      return { result: 'unavailable', detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      this.#log.debug('admin API answer is not JSON', { roomId, status: response.status, error });
      body = undefined;
    }
    const errcode = typeof body === 'object' && body !== null ? String((body as { errcode?: unknown }).errcode ?? '') : '';
    if (response.status === 404) return { result: 'not_visible', detail: `HTTP 404 ${errcode}` };
    if (response.status === 401 || response.status === 403) {
      if (!this.#tokenRefusedLogged) {
        this.#tokenRefusedLogged = true;
        this.#log.error('the homeserver refuses matrix.adminTokenFile (not a server admin, or the token is no longer valid)', {
          status: response.status,
          errcode,
        });
      }
      return { result: 'not_visible', detail: `HTTP ${response.status} ${errcode}` };
    }
    if (!response.ok) return { result: 'unavailable', detail: `HTTP ${response.status} ${errcode}` };
    const state = typeof body === 'object' && body !== null ? (body as { state?: unknown }).state : undefined;
    if (!Array.isArray(state)) return { result: 'unavailable', detail: 'answer has no state list' };
    return { result: 'visible', events: state.filter((event): event is object => typeof event === 'object' && event !== null) };
  }
}
