// Standalone mode: for people without a Matrix client (e.g. another agency's staff with an
// account on a federated homeserver). Sign in with a password or an access token, pick a
// joined room (or go straight to `roomId`), and join its call through the fetch-based
// membership flow. The homeserver may be typed as a URL, a bare server name, or left out
// when the user name is a full user id (the SFU node looks it up: matrix/discovery.ts). A
// password login reuses this browser's last device for that account (matrix/deviceMemory.ts);
// "Sign out" deletes the device again.

import type { ClientLogger } from '../client/types.ts';
import { loginWithPassword, type MatrixSession } from '../client/matrix/matrixCall.ts';
import { unencryptedStatus } from './call/unencrypted.ts';
import { WidgetError } from './errors.ts';
import type { StandaloneLaunch } from './launch.ts';
import { listRooms, logout, sessionFromToken, type RoomSummary } from './matrix/homeserver.ts';
import { resolveHomeserver } from './matrix/discovery.ts';
import { forgetDevice, rememberDevice, rememberedDevice } from './matrix/deviceMemory.ts';
import { StandaloneBackend } from './matrix/StandaloneBackend.ts';
import { runCall, type RunningCall } from './runCall.ts';
import type { AppShell } from './ui/screens.ts';
import { loginView, roomPickerView, type LoginRequest } from './ui/standaloneViews.ts';

/** Options of startStandaloneMode(). */
export interface StandaloneModeOptions {
  readonly app: AppShell;
  readonly launch: StandaloneLaunch;
  readonly logger: ClientLogger;
}

/** `@anna:example.org` stays; `anna` is sent as is (the server completes it). */
function normaliseUser(user: string): string {
  return user.trim();
}

async function signIn(request: LoginRequest, sfuServiceUrl: string): Promise<MatrixSession> {
  try {
    const homeserverUrl = await resolveHomeserver(sfuServiceUrl, request.homeserverUrl, request.kind === 'password' ? request.user : '');
    if (request.kind === 'token') return await sessionFromToken(homeserverUrl, request.accessToken);
    const user = normaliseUser(request.user);
    const session = await loginWithPassword(homeserverUrl, user, request.password, rememberedDevice(homeserverUrl, user));
    rememberDevice(homeserverUrl, session.userId, session.deviceId);
    return session;
  } catch (error) {
    throw new WidgetError('LOGIN_FAILED', 'sign-in failed', { cause: error });
  }
}

/** Shows the sign-in screen and runs from there. */
export function startStandaloneMode(options: StandaloneModeOptions): void {
  const { app, launch, logger } = options;
  let session: MatrixSession | undefined;
  let passwordLogin = false;
  let call: RunningCall | undefined;

  const showLogin = (): void => {
    app.show(loginView(app.t, { homeserverUrl: launch.homeserverUrl, user: launch.user }, async (request) => {
      session = await signIn(request, launch.sfuServiceUrl);
      passwordLogin = request.kind === 'password';
      await showRooms(launch.roomId);
    }));
  };

  const signOut = (): void => {
    const ending = session;
    session = undefined;
    // Only a device we created is ours to delete; a pasted token belongs to another client.
    if (ending && passwordLogin) {
      forgetDevice(ending.homeserverUrl, ending.userId);
      void logout(ending).catch((error: unknown) => logger.warn('logout failed', { error: String(error) }));
    }
    showLogin();
  };

  const showRooms = async (autoJoin?: string): Promise<void> => {
    const current = session;
    if (!current) return showLogin();
    app.loading('rooms.loading');
    let rooms: RoomSummary[];
    try {
      rooms = await listRooms(current);
    } catch (error) {
      app.error(new WidgetError('ROOMS_FAILED', 'joined rooms unavailable', { cause: error }), [
        { label: 'error.retry', primary: true, run: () => void showRooms() },
        { label: 'rooms.signOut', run: signOut },
      ]);
      return;
    }
    const preselected = autoJoin ? rooms.find((room) => room.roomId === autoJoin) : undefined;
    if (preselected) return join(current, preselected);
    app.show(roomPickerView(app.t, current.userId, rooms, { join: (room) => join(current, room), signOut }));
  };

  const join = (current: MatrixSession, room: RoomSummary): void => {
    const backend = new StandaloneBackend(current, room.roomId, room.name === room.roomId ? undefined : room.name, launch.sfuServiceUrl);
    call = runCall({
      app,
      backend,
      logger,
      e2ee: unencryptedStatus,
      restart: () => join(current, room),
      extraActions: [{ label: 'error.back', run: () => void showRooms() }],
    });
  };

  // Closing the tab: empty the membership now rather than when the delayed leave fires.
  addEventListener('pagehide', () => void call?.hangUp());
  showLogin();
}
