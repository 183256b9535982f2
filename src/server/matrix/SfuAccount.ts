// The SFU's own Matrix account ("bot"): syncs with matrix-js-sdk, joins rooms
// it is invited to when the inviter's server is allowed, and feeds every room
// state change into the MembershipWatcher. It exposes how fresh its sync is
// (readiness, sync-lag metric).

import { ClientEvent, RoomMemberEvent, RoomStateEvent, createClient, type MatrixClient, type MatrixEvent, type RoomMember } from 'matrix-js-sdk';
import type { Logger } from '../../common/lib/logger.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import type { MembershipWatcher } from './MembershipWatcher.ts';
import { quietSdkGlobalLogger, sdkLoggerFor } from './sdkLogger.ts';

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
  #prepared = false;
  #lastSyncAtMs = 0;

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

  stop(): void {
    this.client.stopClient();
    this.removeAllListeners();
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
          this.safeEmit('synced', this.#lastSyncAtMs);
        }
        if (state === 'ERROR') this.#log.warn('Matrix sync error; retrying');
      });
    });
    await client.startClient({ initialSyncLimit: 0, pollTimeout: this.#options.syncTimeoutMs, lazyLoadMembers: false });
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
