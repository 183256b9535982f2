// Standalone mode's Matrix side: a signed-in session (password or access token) and the
// fetch-based membership flow of src/browser/client/matrix/matrixCall.ts (delayed leave first, the
// membership with our transport, the delayed leave kept alive). Member names come from the
// room's joined members, refreshed when someone we do not know appears. No Olm here, so no
// media keys: standalone calls show "Not encrypted".

import { CallMembership, servesLiveKitFocus, type MatrixSession } from '../../client/matrix/matrixCall.ts';
import { WidgetError } from '../errors.ts';
import { SFU_FOCUS_TYPE } from '../launch.ts';
import type { CallBackend, OpenIdToken } from '../call/types.ts';
import { memberNames, requestOpenIdToken } from './homeserver.ts';

/** The Matrix side of a call joined without a host. */
export class StandaloneBackend implements CallBackend {
  readonly roomId: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly sfuServiceUrl: string;
  readonly #session: MatrixSession;
  readonly #roomName: string | undefined;
  readonly #listeners = new Set<() => void>();
  #names = new Map<string, string>();
  #membership: CallMembership | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(session: MatrixSession, roomId: string, roomName: string | undefined, sfuServiceUrl: string) {
    this.#session = session;
    this.roomId = roomId;
    this.userId = session.userId;
    this.deviceId = session.deviceId;
    this.sfuServiceUrl = sfuServiceUrl;
    this.#roomName = roomName;
  }

  roomName(): string | undefined {
    return this.#roomName;
  }

  displayName(userId: string): string | undefined {
    const name = this.#names.get(userId);
    if (name === undefined) this.#refreshNames();
    return name;
  }

  onRoomChanged(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @throws WidgetError MEMBERSHIP_FAILED (cause: MatrixRequestError) */
  async joinCall(): Promise<void> {
    this.#refreshNames();
    try {
      // Element Call users see us only through a LiveKit focus (foci.ts); ask the SFU whether it serves one.
      const liveKitFocus = await servesLiveKitFocus(this.sfuServiceUrl);
      this.#membership = await CallMembership.join({
        session: this.#session,
        roomId: this.roomId,
        focus: { type: SFU_FOCUS_TYPE, sfu_service_url: this.sfuServiceUrl },
        liveKitFocus,
      });
    } catch (error) {
      throw new WidgetError('MEMBERSHIP_FAILED', 'the membership could not be published', { cause: error });
    }
  }

  getOpenIdToken(): Promise<OpenIdToken> {
    return requestOpenIdToken(this.#session);
  }

  async leaveCall(): Promise<void> {
    const membership = this.#membership;
    this.#membership = undefined;
    await membership?.leave();
  }

  memberships(): ReturnType<CallBackend['memberships']> {
    return [];
  }

  /** Re-reads member names at most once at a time; listeners hear about new ones. */
  #refreshNames(): void {
    if (this.#refreshing) return;
    this.#refreshing = memberNames(this.#session, this.roomId)
      .then((names) => {
        const changed = [...names].some(([userId, name]) => this.#names.get(userId) !== name);
        this.#names = names;
        if (changed) for (const listener of this.#listeners) listener();
      })
      .catch((error: unknown) => console.debug('[widget] member names unavailable', String(error)))
      .finally(() => {
        // Let unknown ids trigger another read, but not in a tight loop.
        setTimeout(() => (this.#refreshing = undefined), 2000);
      });
  }
}
