// Widget mode's Matrix side: matrix-js-sdk's embedded client (createRoomWidgetClient), which
// routes every request through the host over matrix-widget-api, and js-sdk's MatrixRTCSession
// to publish this device's membership with our transport as its multi-SFU focus (delayed
// leave kept alive by js-sdk; media keys managed by us, so `manageMediaKeys: false`).
//
// Outages: js-sdk's MembershipManager restarts the delayed leave, publishes again when it sees
// its own membership missing (the host relays the emptied state, e.g. the delayed leave a
// homeserver sends when it comes back) and re-creates a delayed leave that is gone. We raise
// its retry budgets (MEMBERSHIP_CONFIG) so a homeserver outage of minutes does not use them up,
// and if it stops anyway (MembershipManagerError) while we are in the call, we join the
// session again after a jittered back-off: the membership is restored, never duplicated (one
// state key per device, and js-sdk runs one manager per session).
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
import type { Transport } from 'matrix-js-sdk/lib/matrixrtc/types.js';
import type { ClientLogger } from '../../client/types.ts';
import { WidgetError } from '../errors.ts';
import { SFU_FOCUS_TYPE, type WidgetLaunch } from '../launch.ts';
import type { CallBackend, OpenIdToken } from '../call/types.ts';
import { CALL_MEMBER_EVENT_TYPE, callCapabilities, ownMembershipStateKeys } from './capabilities.ts';
import { quietSdk, sdkLogger } from './sdkLogging.ts';
import { HOMESERVER_NOT_ALLOWED } from './discovery.ts';
import { backoffDelayMs } from '../../client/matrix/retry.ts';
import { liveKitFocusOf, servesLiveKitFocus } from '../../client/matrix/foci.ts';

/**
 * js-sdk membership settings: keep retrying through an outage (every 3 s for ~10 min) and
 * under rate limiting (js-sdk waits for the server's retry_after_ms each time).
 */
export const MEMBERSHIP_CONFIG = Object.freeze({
  networkErrorRetryMs: 3000,
  maximumNetworkErrorRetryCount: 200,
  maximumRateLimitRetryCount: 100,
});
/** The homeserver's origin, or undefined for a non-URL. */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * The failure when this page's Content-Security-Policy blocks the user's homeserver (js-sdk reads
 * its `/versions` before it schedules the delayed leave): explain.ts says `err.login.blocked`,
 * which names `widget.homeserverUrls`, instead of a membership timeout 20 s later.
 */
export function homeserverBlockedError(baseUrl: string): WidgetError {
  const cause = Object.assign(new Error('the page\'s Content-Security-Policy blocks the homeserver'), { errcode: HOMESERVER_NOT_ALLOWED });
  return new WidgetError('MEMBERSHIP_FAILED', 'the homeserver is not in the widget\'s CSP', { cause, details: [`${originOf(baseUrl) ?? baseUrl}: not in widget.homeserverUrls`] });
}

/** Back-off before joining the session again after js-sdk's membership manager stopped. */
const REJOIN_BACKOFF = { baseMs: 2000, maxMs: 30_000 } as const;

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
  /** Between a successful joinCall() and leaveCall(): a stopped membership manager is restarted. */
  #inCall = false;
  #rejoins = 0;
  #rejoinTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set when the page's CSP blocked a request to the homeserver (securitypolicyviolation). */
  #homeserverBlocked = false;
  readonly #onHomeserverBlocked = new Set<() => void>();
  /** Whether our SFU serves a LiveKit focus (probed in start()): then that is our membership's active focus. */
  #liveKitFocus = false;

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
    // A homeserver outside the CSP fails every fetch the same way as an unreachable one; the
    // browser tells the page which it was. (Standalone mode asks the node instead: discovery.ts.)
    const homeserverOrigin = originOf(launch.baseUrl);
    globalThis.document?.addEventListener('securitypolicyviolation', (event) => {
      if (event.effectiveDirective !== 'connect-src' || originOf(event.blockedURI) !== homeserverOrigin) return;
      options.logger.warn('the widget\'s CSP blocks the homeserver', { homeserver: homeserverOrigin });
      this.#homeserverBlocked = true;
      for (const listener of this.#onHomeserverBlocked) listener();
    });
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
    const liveKitProbe = servesLiveKitFocus(this.sfuServiceUrl, { logger: this.#options.logger });
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
    this.#liveKitFocus = await liveKitProbe;
  }

  /** The membership's foci: the LiveKit focus of our SFU first when it serves one (Element Call reads only those), then our transport. */
  get foci(): { readonly active: Transport; readonly preferred: readonly Transport[] } {
    const ours = { type: SFU_FOCUS_TYPE, sfu_service_url: this.sfuServiceUrl };
    return this.#liveKitFocus ? { active: { ...liveKitFocusOf(this.sfuServiceUrl) }, preferred: [ours] } : { active: ours, preferred: [] };
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
      const onBlocked = (): void => {
        cleanup();
        reject(homeserverBlockedError(this.#options.launch.baseUrl));
      };
      const cleanup = (): void => {
        session.off(MembershipManagerEvent.StatusChanged, onStatus);
        session.off(MatrixRTCSessionEvent.MembershipManagerError, onError);
        this.#onHomeserverBlocked.delete(onBlocked);
      };
      session.on(MembershipManagerEvent.StatusChanged, onStatus);
      session.on(MatrixRTCSessionEvent.MembershipManagerError, onError);
      this.#onHomeserverBlocked.add(onBlocked);
      if (this.#homeserverBlocked) onBlocked();
    });
    this.#joinSession(session);
    await withTimeout(published, this.#options.joinTimeoutMs ?? 20_000, () => new WidgetError('MEMBERSHIP_FAILED', 'publishing the membership timed out'));
    this.#inCall = true;
    session.on(MatrixRTCSessionEvent.MembershipManagerError, this.#onManagerStopped);
    session.on(MembershipManagerEvent.StatusChanged, this.#onStatusChanged);
  }

  #joinSession(session: MatrixRTCSession): void {
    const { active, preferred } = this.foci;
    // multi_sfu: js-sdk writes `active` first in foci_preferred, then `preferred` (src/server/matrix/README.md §6).
    session.joinRTCSession({ userId: this.userId, deviceId: this.deviceId, memberId: `${this.userId}:${this.deviceId}` }, [...preferred], active, {
      manageMediaKeys: false,
      callIntent: 'video',
      ...MEMBERSHIP_CONFIG,
    });
  }

  /** js-sdk gave up keeping our membership (an outage longer than its budgets): join again later. */
  readonly #onManagerStopped = (error: unknown): void => {
    const session = this.#session;
    if (!this.#inCall || !session) return;
    this.#rejoins++;
    const delay = backoffDelayMs(this.#rejoins, REJOIN_BACKOFF);
    this.#options.logger.warn('membership manager stopped; joining the session again', { error: String(error), attempt: this.#rejoins, delayMs: delay });
    clearTimeout(this.#rejoinTimer);
    this.#rejoinTimer = setTimeout(() => {
      // The manager marks itself stopped only after the error callback; by now it has.
      if (this.#inCall && !session.isJoined()) this.#joinSession(session);
    }, delay);
  };

  readonly #onStatusChanged = (): void => {
    if (this.#session?.membershipStatus === 'Connected' && this.#rejoins > 0) {
      this.#options.logger.info('call membership restored', { rejoins: this.#rejoins });
      this.#rejoins = 0;
    }
  };

  async getOpenIdToken(): Promise<OpenIdToken> {
    return this.client.getOpenIdToken();
  }

  async leaveCall(): Promise<void> {
    const session = this.#session;
    this.#inCall = false;
    clearTimeout(this.#rejoinTimer);
    session?.off(MatrixRTCSessionEvent.MembershipManagerError, this.#onManagerStopped);
    session?.off(MembershipManagerEvent.StatusChanged, this.#onStatusChanged);
    if (!session?.isJoined()) return;
    await session.leaveRoomSession(5000);
  }

  memberships(): ReturnType<CallBackend['memberships']> {
    return (this.#session?.memberships ?? [])
      .filter((membership) => !(membership.sender === this.userId && membership.deviceId === this.deviceId))
      .map((membership) => ({
        userId: membership.sender,
        deviceId: membership.deviceId,
        memberId: membership.memberId,
        createdTs: membership.createdTs(),
        // Which frame format the call needs (src/browser/e2ee/frameFormat.ts).
        transportTypes: membership.transports.map((transport) => transport.type),
      }));
  }
}
