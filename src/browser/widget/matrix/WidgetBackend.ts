// Widget mode's Matrix side: matrix-js-sdk's embedded client (createRoomWidgetClient), which
// routes every request through the host over matrix-widget-api, and js-sdk's MatrixRTCSession
// to publish this device's membership with our transport as its multi-SFU focus (delayed
// leave kept alive by js-sdk; media keys managed by us, so `manageMediaKeys: false`).
//
// Ordering: create() must run synchronously while the page loads, because a host that waits
// for the iframe's load event asks for capabilities right then, and a widget API that is not
// listening yet would miss it. start() then waits for the capabilities and the room state.

import type { WidgetApi } from 'matrix-widget-api';
import { createRoomWidgetClient } from 'matrix-js-sdk/lib/matrix.js';
import type { RoomWidgetClient } from 'matrix-js-sdk/lib/embedded.js';
import type { Room } from 'matrix-js-sdk/lib/models/room.js';
import { RoomStateEvent } from 'matrix-js-sdk/lib/models/room-state.js';
import { MatrixRTCSessionEvent, type MatrixRTCSession } from 'matrix-js-sdk/lib/matrixrtc/MatrixRTCSession.js';
import { MembershipManagerEvent } from 'matrix-js-sdk/lib/matrixrtc/IMembershipManager.js';
import type { ClientLogger } from '../../client/types.ts';
import { WidgetError } from '../errors.ts';
import { SFU_FOCUS_TYPE, type WidgetLaunch } from '../launch.ts';
import type { CallBackend, OpenIdToken } from '../call/types.ts';
import { CALL_MEMBER_EVENT_TYPE, callCapabilities, ownMembershipStateKeys } from './capabilities.ts';
import { quietSdk, sdkLogger } from './sdkLogging.ts';

/** Options of WidgetBackend.create(). */
export interface WidgetBackendOptions {
  readonly launch: WidgetLaunch;
  /** The widget API (created first, so HostActions listen before it starts). */
  readonly api: WidgetApi;
  readonly logger: ClientLogger;
  /** How long the host may take to settle capabilities and send the room state. Default 30 000 ms (a person may be approving). */
  readonly readyTimeoutMs?: number;
  /** How long publishing the membership may take. Default 20 000 ms. */
  readonly joinTimeoutMs?: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The Matrix side of a call hosted by a widget host. */
export class WidgetBackend implements CallBackend {
  readonly roomId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly sfuServiceUrl: string;
  /** The embedded js-sdk client (also the key transport's client: encryptAndSendToDevice, on, off). */
  readonly client: RoomWidgetClient;
  readonly #options: WidgetBackendOptions;
  readonly #capabilitiesSettled: Promise<void>;
  #room: Room | undefined;
  #session: MatrixRTCSession | undefined;

  /** Creates the embedded client, which starts the widget API at once. Call during page load. */
  static create(options: WidgetBackendOptions): WidgetBackend {
    return new WidgetBackend(options);
  }

  private constructor(options: WidgetBackendOptions) {
    const { launch, api } = options;
    this.#options = options;
    this.roomId = launch.roomId;
    this.userId = launch.userId;
    this.deviceId = launch.deviceId;
    this.sfuServiceUrl = launch.sfuServiceUrl;
    this.#capabilitiesSettled = new Promise((resolve) => api.once('ready', () => resolve()));
    quietSdk();
    // The host may or may not wait for `content_loaded` (Element's waitForIframeLoad); send it ourselves and tolerate a refusal.
    this.client = createRoomWidgetClient(api, callCapabilities(launch.userId, launch.deviceId), launch.roomId, {
      baseUrl: launch.baseUrl,
      userId: launch.userId,
      deviceId: launch.deviceId,
      timelineSupport: false,
      logger: sdkLogger(options.logger),
    }, false) as RoomWidgetClient;
    api.sendContentLoaded().catch((error: unknown) => options.logger.debug('host refused content_loaded (it waits for load)', { error: String(error) }));
  }

  /**
   * Waits for the host: capabilities settled and checked, room state received.
   * @throws WidgetError HOST_UNAVAILABLE or CAPABILITIES_DENIED
   */
  async start(): Promise<void> {
    const { api, readyTimeoutMs = 30_000 } = this.#options;
    const hostSilent = (): WidgetError => new WidgetError('HOST_UNAVAILABLE', 'the host did not answer the widget API');
    await withTimeout(this.#capabilitiesSettled, readyTimeoutMs, hostSilent);
    const [normalKey, ownedKey] = ownMembershipStateKeys(this.userId, this.deviceId);
    const missing = [
      `org.matrix.msc2762.timeline:${this.roomId}`,
      `org.matrix.msc2762.receive.state_event:${CALL_MEMBER_EVENT_TYPE}`,
      `org.matrix.msc2762.receive.state_event:m.room.member`,
    ].filter((capability) => !api.hasCapability(capability));
    const canSend = [normalKey, ownedKey].some((key) => api.hasCapability(`org.matrix.msc2762.send.state_event:${CALL_MEMBER_EVENT_TYPE}#${key}`));
    if (!canSend) missing.push(`org.matrix.msc2762.send.state_event:${CALL_MEMBER_EVENT_TYPE}#${normalKey}`);
    if (missing.length > 0) throw new WidgetError('CAPABILITIES_DENIED', 'the host refused capabilities the call needs', { details: missing });
    await withTimeout(this.client.startClient(), readyTimeoutMs, hostSilent);
    const room = this.client.getRoom(this.roomId);
    if (!room) throw hostSilent();
    this.#room = room;
    this.#session = this.client.matrixRTC.getRoomSession(room);
  }

  roomName(): string | undefined {
    const name: unknown = this.#room?.currentState.getStateEvents('m.room.name', '')?.getContent()['name'];
    return typeof name === 'string' && name.trim() ? name.trim() : undefined;
  }

  displayName(userId: string): string | undefined {
    const member = this.#room?.getMember(userId);
    return member?.membership === 'join' ? member.name : undefined;
  }

  onRoomChanged(listener: () => void): () => void {
    const room = this.#room;
    const session = this.#session;
    room?.on(RoomStateEvent.Events, listener);
    session?.on(MatrixRTCSessionEvent.MembershipsChanged, listener);
    return () => {
      room?.off(RoomStateEvent.Events, listener);
      session?.off(MatrixRTCSessionEvent.MembershipsChanged, listener);
    };
  }

  /** @throws WidgetError MEMBERSHIP_FAILED */
  async joinCall(): Promise<void> {
    const session = this.#session;
    if (!session) throw new WidgetError('MEMBERSHIP_FAILED', 'start() first');
    const focus = { type: SFU_FOCUS_TYPE, sfu_service_url: this.sfuServiceUrl };
    const published = new Promise<void>((resolve, reject) => {
      const onStatus = (): void => {
        if (session.membershipStatus !== 'Connected') return;
        cleanup();
        resolve();
      };
      const onError = (error: unknown): void => {
        cleanup();
        reject(new WidgetError('MEMBERSHIP_FAILED', 'the membership could not be published', { cause: error }));
      };
      const cleanup = (): void => {
        session.off(MembershipManagerEvent.StatusChanged, onStatus);
        session.off(MatrixRTCSessionEvent.MembershipManagerError, onError);
      };
      session.on(MembershipManagerEvent.StatusChanged, onStatus);
      session.on(MatrixRTCSessionEvent.MembershipManagerError, onError);
    });
    // multi_sfu: the focus is our own transport, first in foci_preferred (src/server/matrix/README.md §6).
    session.joinRTCSession({ userId: this.userId, deviceId: this.deviceId, memberId: `${this.userId}:${this.deviceId}` }, [], focus, {
      manageMediaKeys: false,
      callIntent: 'video',
    });
    await withTimeout(published, this.#options.joinTimeoutMs ?? 20_000, () => new WidgetError('MEMBERSHIP_FAILED', 'publishing the membership timed out'));
  }

  async getOpenIdToken(): Promise<OpenIdToken> {
    return this.client.getOpenIdToken();
  }

  async leaveCall(): Promise<void> {
    const session = this.#session;
    if (!session?.isJoined()) return;
    await session.leaveRoomSession(5000);
  }

  memberships(): ReturnType<CallBackend['memberships']> {
    return (this.#session?.memberships ?? [])
      .filter((membership) => !(membership.sender === this.userId && membership.deviceId === this.deviceId))
      .map((membership) => ({ userId: membership.sender, deviceId: membership.deviceId, memberId: membership.memberId, createdTs: membership.createdTs() }));
  }
}
