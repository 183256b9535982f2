// The SFU's own Matrix account ("bot"): syncs with matrix-js-sdk, joins rooms
// it is invited to when the inviter's server is allowed, and feeds every room
// state change and every redaction into the MembershipWatcher. The sync is
// filtered to the events admission needs (no messages, presence, receipts or
// account data) and each room's stored timeline is bounded. A limited sync
// (timeline gap) and a periodic backstop re-read `/state` (Reconciler). It
// exposes how fresh its sync is (readiness, sync-lag metric).

import {
  ClientEvent,
  Filter,
  Method,
  RoomEvent,
  RoomMemberEvent,
  RoomStateEvent,
  createClient,
  type MatrixClient,
  type MatrixEvent,
  type Room,
  type RoomMember,
} from 'matrix-js-sdk';
import type { Logger } from '../../common/lib/logger.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import type { MembershipWatcher } from './MembershipWatcher.ts';
import { Reconciler } from './Reconciler.ts';
import { CALL_MEMBER_EVENT_TYPE } from './callMembership.ts';
import { quietSdkGlobalLogger, sdkLoggerFor } from './sdkLogger.ts';

/** Events per room timeline the SDK may keep; beyond it the timeline is reset (room state is kept). */
export const MAX_STORED_TIMELINE_EVENTS = 200;

/** Timeline events per room and sync response: enough for membership churn; a gap triggers a /state read. */
const SYNC_TIMELINE_LIMIT = 50;

/**
 * The sync filter: only the state and timeline events admission reads. Messages never reach
 * the SFU, so a burst of them can neither push a membership change out of the timeline
 * nor grow memory; presence, receipts, typing and account data are dropped by the server.
 */
export function sfuSyncFilterDefinition(): Record<string, unknown> {
  const stateTypes = ['m.room.create', 'm.room.member', CALL_MEMBER_EVENT_TYPE];
  return {
    presence: { not_types: ['*'] },
    account_data: { not_types: ['*'] },
    room: {
      state: { types: stateTypes, lazy_load_members: false },
      timeline: { types: [...stateTypes, 'm.room.redaction'], limit: SYNC_TIMELINE_LIMIT },
      ephemeral: { not_types: ['*'] },
      account_data: { not_types: ['*'] },
      include_leave: false,
    },
  };
}

/** Options of SfuAccount.start(). */
export interface SfuAccountOptions {
  readonly homeserverUrl: string;
  readonly userId: string;
  readonly accessToken: string;
  /** Servers whose users' invites are accepted; `*` = any. */
  readonly inviteAllowList: readonly string[];
  readonly syncTimeoutMs: number;
  readonly watcher: MembershipWatcher;
  readonly logger: Logger;
  /** Period of the /state backstop (config matrix.reconcileIntervalMs); 0 = off. */
  readonly reconcileIntervalMs?: number;
}

export type SfuAccountEvents = {
  /** A sync response was processed (lag bookkeeping). */
  synced: [atMs: number];
};

function serverOf(userId: string): string {
  return userId.slice(userId.indexOf(':') + 1);
}

/** A running sync of the SFU account. */
export class SfuAccount extends TypedEmitter<SfuAccountEvents> {
  readonly client: MatrixClient;
  readonly #options: SfuAccountOptions;
  readonly #log: Logger;
  readonly reconciler: Reconciler;
  #prepared = false;
  #lastSyncAtMs = 0;
  /** Rooms whose timeline we are resetting ourselves (not a sync gap). */
  readonly #trimming = new Set<string>();

  /** Starts syncing; resolves after the first sync was applied (bounded by `readyTimeoutMs`). */
  static async start(options: SfuAccountOptions, readyTimeoutMs = 60_000): Promise<SfuAccount> {
    const account = new SfuAccount(options);
    await account.#start(readyTimeoutMs);
    return account;
  }

  private constructor(options: SfuAccountOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: 'matrix' });
    quietSdkGlobalLogger();
    this.client = createClient({
      baseUrl: options.homeserverUrl,
      userId: options.userId,
      accessToken: options.accessToken,
      logger: sdkLoggerFor(options.logger),
    });
    this.reconciler = new Reconciler({
      watcher: options.watcher,
      intervalMs: options.reconcileIntervalMs ?? 0,
      logger: options.logger,
      fetchState: (roomId) => this.#fetchState(roomId),
    });
  }

  /** Whether the first sync has been applied. */
  get ready(): boolean {
    return this.#prepared;
  }

  /** Seconds since the last processed sync response (0 before the first). */
  syncLagSeconds(nowMs = Date.now()): number {
    return this.#lastSyncAtMs === 0 ? 0 : (nowMs - this.#lastSyncAtMs) / 1000;
  }

  /** Whether the sync is fresh enough for admission decisions. */
  isFresh(maxLagMs: number, nowMs = Date.now()): boolean {
    return this.#prepared && nowMs - this.#lastSyncAtMs <= maxLagMs;
  }

  /** Time of the last processed sync response (ms since the epoch; 0 before the first). */
  get lastSyncAtMs(): number {
    return this.#lastSyncAtMs;
  }

  stop(): void {
    this.reconciler.stop();
    this.client.stopClient();
    this.removeAllListeners();
  }

  /** `GET /rooms/{id}/state` with a timeout of one sync long-poll. */
  async #fetchState(roomId: string): Promise<unknown[]> {
    const path = `/rooms/${encodeURIComponent(roomId)}/state`;
    // The SDK's option type makes RequestInit's `priority` required; it is optional at run time.
    const requestOptions = { localTimeoutMs: this.#options.syncTimeoutMs } as Parameters<MatrixClient['http']['authedRequest']>[4];
    const events = await this.client.http.authedRequest<unknown>(Method.Get, path, undefined, undefined, requestOptions);
    if (!Array.isArray(events)) throw new TypeError('room state is not a list');
    return events;
  }

  /** Drops the stored timeline of rooms past MAX_STORED_TIMELINE_EVENTS (state stays). */
  #boundTimelines(): void {
    for (const room of this.client.getRooms()) {
      if (room.getLiveTimeline().getEvents().length <= MAX_STORED_TIMELINE_EVENTS) continue;
      this.#trimming.add(room.roomId);
      try {
        room.resetLiveTimeline(null, null);
      } finally {
        this.#trimming.delete(room.roomId);
      }
    }
  }

  async #start(readyTimeoutMs: number): Promise<void> {
    const { client } = this;
    client.on(RoomStateEvent.Events, (event: MatrixEvent) => {
      const roomId = event.getRoomId();
      if (!roomId || !this.#prepared) return;
      try {
        this.#options.watcher.ingest(roomId, [event.getEffectiveEvent()]);
      } catch (error) {
        // A bug on our side must not break the SDK's sync loop for every other room.
        this.#log.error('state event could not be applied', { roomId, type: event.getType(), error });
      }
    });
    client.on(RoomEvent.Timeline, (event: MatrixEvent, room: Room | undefined, toStartOfTimeline: boolean | undefined) => {
      // Redactions change state without a new state event; the index applies them itself.
      if (!this.#prepared || toStartOfTimeline || event.getType() !== 'm.room.redaction' || !room) return;
      try {
        this.#options.watcher.ingest(room.roomId, [event.getEffectiveEvent()]);
      } catch (error) {
        this.#log.error('redaction could not be applied', { roomId: room.roomId, error });
      }
    });
    client.on(RoomEvent.TimelineReset, (room: Room | undefined) => {
      // A limited sync: events in the gap were never seen. Read the room's state instead.
      if (room && this.#prepared && !this.#trimming.has(room.roomId)) this.reconciler.reconcileSoon(room.roomId);
    });
    client.on(RoomMemberEvent.Membership, (event: MatrixEvent, member: RoomMember) => {
      if (member.userId !== this.#options.userId) return;
      if (member.membership === 'invite') void this.#onInvite(member.roomId, event.getSender() ?? '');
      if (member.membership === 'leave' || member.membership === 'ban') this.#options.watcher.dropRoom(member.roomId);
    });
    const prepared = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`first Matrix sync not done within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      client.on(ClientEvent.Sync, (state) => {
        if (state === 'PREPARED' && !this.#prepared) {
          clearTimeout(timer);
          this.#seedFromCurrentState();
          this.#prepared = true;
          resolve();
        }
        if (state === 'PREPARED' || state === 'SYNCING') {
          this.#lastSyncAtMs = Date.now();
          this.#boundTimelines();
          this.safeEmit('synced', this.#lastSyncAtMs);
        }
        if (state === 'ERROR') this.#log.warn('Matrix sync error; retrying');
      });
    });
    const filter = new Filter(this.#options.userId);
    filter.setDefinition(sfuSyncFilterDefinition());
    await client.startClient({ initialSyncLimit: 0, pollTimeout: this.#options.syncTimeoutMs, lazyLoadMembers: false, filter });
    await prepared;
    // Rooms with pending invites from the initial sync.
    for (const room of client.getRooms()) {
      if (room.getMyMembership() === 'invite') {
        const inviter = room.getMember(this.#options.userId)?.events.member?.getSender() ?? '';
        void this.#onInvite(room.roomId, inviter);
      }
    }
    this.#log.info('Matrix sync ready', { userId: this.#options.userId, rooms: client.getRooms().length });
  }

  #seedFromCurrentState(): void {
    for (const room of this.client.getRooms()) {
      if (room.getMyMembership() !== 'join') continue;
      const state = room.currentState;
      const events = [...state.getStateEvents('m.room.member'), ...state.getStateEvents('org.matrix.msc3401.call.member')];
      this.#options.watcher.ingest(
        room.roomId,
        events.map((event) => event.getEffectiveEvent()),
        'snapshot',
      );
    }
  }

  async #onInvite(roomId: string, inviter: string): Promise<void> {
    const allowed = this.#options.inviteAllowList.includes('*') || this.#options.inviteAllowList.includes(serverOf(inviter));
    if (!allowed) {
      this.#log.info('invite refused: inviter server not allowed', { roomId, inviter });
      return;
    }
    try {
      await this.client.joinRoom(roomId);
      this.#log.info('joined room on invite', { roomId, inviter });
    } catch (error) {
      this.#log.warn('could not join invited room', { roomId, error });
    }
  }
}
