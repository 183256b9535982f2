// Scenario builders for the key tests on a real Synapse: matrix-js-sdk clients with Rust crypto
// (Olm in WASM, in memory), each a device in one encrypted room's MatrixRTC session. "Our"
// devices publish their membership through js-sdk's session with manageMediaKeys off and run
// our MatrixKeyManager fed from `memberships_changed`; an "Element Call" device lets js-sdk's
// own RTCEncryptionManager handle keys. Every device also logs each key event it receives,
// below any manager, so tests can prove what a leaver never got.

import { ClientEvent, createClient } from 'matrix-js-sdk';
import type { MatrixClient, ReceivedToDeviceMessage } from 'matrix-js-sdk';
import { MatrixRTCSessionEvent } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import type { CallMembership, MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/index.js';
import { silentLogger } from '../../../src/common/lib/logger.ts';
import { waitFor } from '../../../src/common/lib/waitFor.ts';
import type { RegisteredUser } from '../../../src/server/dev/synapse/sharedSecretRegistration.ts';
import { quietSdkGlobalLogger, sdkLoggerFor } from '../../../src/server/matrix/sdkLogger.ts';
import { MatrixKeyManager } from '../../../src/common/e2ee/keys/MatrixKeyManager.ts';
import { decodeBase64 } from '../../../src/common/e2ee/keys/base64.ts';
import { CALL_ENCRYPTION_KEYS_EVENT_TYPE } from '../../../src/common/e2ee/keys/constants.ts';
import type { KeyMember, KeySink } from '../../../src/common/e2ee/keys/types.ts';

quietSdkGlobalLogger();

/** Our transport entry; no SFU is needed for keys. */
export const TEST_FOCUS = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: 'http://127.0.0.1:1' } as const;

/** A KeySink that keeps the current state and our own key history. */
export class RecordingSink implements KeySink {
  own: { index: number; key: Uint8Array } | undefined;
  readonly ownHistory: Array<{ index: number; key: Uint8Array }> = [];
  readonly peers = new Map<string, Map<number, Uint8Array>>();
  /** Every setPeerKey call, in order. */
  readonly peerHistory: Array<{ participantId: string; index: number; key: Uint8Array }> = [];

  setOwnKey(keyIndex: number, key: Uint8Array): void {
    this.own = { index: keyIndex, key };
    this.ownHistory.push({ index: keyIndex, key });
  }

  setPeerKey(participantId: string, keyIndex: number, key: Uint8Array): void {
    const ring = this.peers.get(participantId) ?? new Map<number, Uint8Array>();
    ring.set(keyIndex, key);
    this.peers.set(participantId, ring);
    this.peerHistory.push({ participantId, index: keyIndex, key });
  }

  removePeer(participantId: string): void {
    this.peers.delete(participantId);
  }

  peerKey(participantId: string, index: number): Uint8Array | undefined {
    return this.peers.get(participantId)?.get(index);
  }
}

/** A key event as it reached a device, whatever any manager made of it. */
export interface RawKeyEvent {
  readonly sender: string;
  readonly encrypted: boolean;
  readonly index: unknown;
  readonly key: Uint8Array | undefined;
}

/** One logged-in device with Rust crypto, syncing. */
export class CallDevice {
  readonly user: RegisteredUser;
  readonly client: MatrixClient;
  readonly sink = new RecordingSink();
  readonly rawKeys: RawKeyEvent[] = [];
  /** What our manager refused, and its distribution errors (reasons only). */
  readonly rejections: string[] = [];
  readonly errors: string[] = [];
  session: MatrixRTCSession | undefined;
  manager: MatrixKeyManager | undefined;

  private constructor(user: RegisteredUser, client: MatrixClient) {
    this.user = user;
    this.client = client;
    client.on(ClientEvent.ReceivedToDeviceMessage, (payload: ReceivedToDeviceMessage) => {
      if (payload.message.type !== CALL_ENCRYPTION_KEYS_EVENT_TYPE) return;
      const keys = (payload.message.content as { keys?: { index?: unknown; key?: unknown } }).keys;
      this.rawKeys.push({
        sender: payload.message.sender,
        encrypted: payload.encryptionInfo !== null,
        index: keys?.index,
        key: typeof keys?.key === 'string' ? decodeBase64(keys.key) : undefined,
      });
    });
  }

  /** `${userId}:${deviceId}`: the participant id and js-sdk's rtcBackendIdentity. */
  get participantId(): string {
    return `${this.user.userId}:${this.user.deviceId}`;
  }

  /** Creates the client, initialises Rust crypto in memory, and waits for the first sync. */
  static async start(baseUrl: string, user: RegisteredUser): Promise<CallDevice> {
    const client = createClient({
      baseUrl,
      userId: user.userId,
      deviceId: user.deviceId,
      accessToken: user.accessToken,
      logger: sdkLoggerFor(silentLogger()),
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const device = new CallDevice(user, client);
    const ready = new Promise<void>((resolve) => {
      client.on(ClientEvent.Sync, (state) => {
        if (state === 'PREPARED') resolve();
      });
    });
    await client.startClient({ initialSyncLimit: 0 });
    await ready;
    return device;
  }

  /** Waits until the client sees itself joined to `roomId`. */
  async joinedRoom(roomId: string): Promise<void> {
    await waitFor(() => this.client.getRoom(roomId)?.getMyMembership() === 'join', { description: `${this.user.userId} joined ${roomId}` });
  }

  /** Downloads the device lists of `userIds`, so Olm can encrypt to and identify their devices. */
  async knowDevicesOf(userIds: readonly string[]): Promise<void> {
    await this.client.getCrypto()?.getUserDeviceInfo([...userIds], true);
  }

  /**
   * Joins the call with js-sdk's membership manager and, unless `elementCall`, our key manager
   * (js-sdk's media keys off). With `elementCall`, js-sdk's own RTCEncryptionManager runs instead.
   */
  joinCall(roomId: string, options: { elementCall?: boolean } = {}): MatrixRTCSession {
    const room = this.client.getRoom(roomId);
    if (room === null) throw new Error(`${this.user.userId} has no room ${roomId}`);
    const session = this.client.matrixRTC.getRoomSession(room);
    this.session = session;
    if (options.elementCall !== true) {
      const manager = new MatrixKeyManager({
        client: this.client,
        roomId,
        own: { userId: this.user.userId, deviceId: this.user.deviceId, memberId: this.participantId },
        sink: this.sink,
      });
      this.manager = manager;
      manager.on('keyRejected', (rejection) => this.rejections.push(`${rejection.reason}: ${rejection.detail}`));
      manager.on('error', (error) => this.errors.push(error.reason));
      const feed = (memberships: CallMembership[]): void => manager.setMemberships(memberships.map(toKeyMember));
      session.on(MatrixRTCSessionEvent.MembershipsChanged, (_old, memberships) => feed(memberships));
      feed(session.memberships);
      manager.start();
    }
    session.joinRTCSession(
      { userId: this.user.userId, deviceId: this.user.deviceId, memberId: this.participantId },
      [TEST_FOCUS as never],
      TEST_FOCUS as never,
      {
        manageMediaKeys: options.elementCall === true,
        delayedLeaveEventDelayMs: 2_000,
        delayedLeaveEventRestartMs: 500,
      } as never,
    );
    return session;
  }

  /** Leaves the call (membership emptied) and stops our key manager; the client keeps syncing. */
  async leaveCall(): Promise<void> {
    this.manager?.stop();
    await this.session?.leaveRoomSession(5_000);
  }

  stop(): void {
    this.manager?.stop();
    this.client.stopClient();
  }
}

/** A js-sdk CallMembership as our manager's input. */
export function toKeyMember(membership: CallMembership): KeyMember {
  return { userId: membership.userId, deviceId: membership.deviceId, memberId: membership.memberId, createdTs: membership.createdTs() };
}
