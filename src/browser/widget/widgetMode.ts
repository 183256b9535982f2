// Widget mode: hosted by a Matrix client (Element Web) over matrix-widget-api. The host
// settles capabilities and relays state, OpenID and to-device messages; we join, and answer
// the host's actions: `im.vector.hangup` and `io.element.close` leave the call cleanly (media
// closed, membership emptied) before the reply, `io.element.device_mute` toggles or reports
// microphone and camera, `theme_change` switches light/dark. We tell the host what Element
// Call tells it (matrix/HostProtocol.ts): `io.element.join` and `set_always_on_screen(true)`
// once joined, `io.element.device_mute` on every mute change, and on every leave, whoever
// started it, `im.vector.hangup`, `set_always_on_screen(false)`, then `io.element.close`.

import { WidgetApi } from 'matrix-widget-api';
import type { ClientLogger } from '../client/types.ts';
import type { CallSession } from './call/CallSession.ts';
import type { E2eeStatusSource } from './call/types.ts';
import { themeOf, type WidgetLaunch } from './launch.ts';
import { HostActions } from './matrix/HostActions.ts';
import { ALWAYS_ON_SCREEN_CAPABILITY, HostProtocol, type DeviceMuteState } from './matrix/HostProtocol.ts';
import { endsQuietly } from './call/closePolicy.ts';
import { WidgetBackend } from './matrix/WidgetBackend.ts';
import { runCall, type RunningCall } from './runCall.ts';
import type { AppShell } from './ui/screens.ts';

/** Options of startWidgetMode(). */
export interface WidgetModeOptions {
  readonly app: AppShell;
  readonly launch: WidgetLaunch;
  readonly logger: ClientLogger;
  /** The E2EE status source for a join (default: not encrypted). */
  readonly e2ee: (backend: WidgetBackend) => E2eeStatusSource;
}

/** What startWidgetMode() returns: the pieces tests and the entry may inspect. */
export interface WidgetMode {
  readonly api: WidgetApi;
  readonly hostActions: HostActions;
  /** What we tell the host (join, mute, hang-up, close). */
  readonly hostProtocol: HostProtocol;
  readonly backend: WidgetBackend;
  /** Resolves when the host is ready and the first join started (or failed). */
  readonly started: Promise<void>;
}

function muteStateOf(session: CallSession | undefined): DeviceMuteState {
  const local = session?.local;
  return { audio_enabled: local?.micOn ?? false, video_enabled: local?.camOn ?? false };
}

/**
 * Starts the widget API synchronously (see WidgetBackend: a host may ask for capabilities at
 * the iframe's load event), then joins in the background.
 */
export function startWidgetMode(options: WidgetModeOptions): WidgetMode {
  const { app, launch, logger } = options;
  const api = new WidgetApi(launch.widgetId, launch.parentOrigin);
  // As Element Call: the host keeps a joined call on screen only for a widget it granted this.
  api.requestCapability(ALWAYS_ON_SCREEN_CAPABILITY);
  const hostActions = new HostActions(api);
  const hostProtocol = new HostProtocol(api, logger);
  const backend = WidgetBackend.create({ launch, api, logger });
  let call: RunningCall | undefined;
  let leaving: Promise<void> | undefined;
  let leavingPage = false;
  /** A host's io.element.join that came before the lobby was up. */
  let hostJoin: { micOn?: boolean; camOn?: boolean } | undefined;

  const join = (lobby = false): void => {
    call = runCall({
      app,
      backend,
      logger,
      e2ee: () => options.e2ee(backend),
      restart: () => join(),
      ...(launch.skipLobby && !launch.preload && !lobby ? { initial: { micOn: true, camOn: !launch.audioOnly } } : { lobby: { camOff: launch.audioOnly } }),
      onJoined: (session) => {
        void hostProtocol.joined(muteStateOf(session));
        session.on('changed', () => {
          // While leaving, the devices stop: that is the hang-up, not a mute.
          const live = session.state === 'connected' || session.state === 'reconnecting';
          if (live && hostProtocol.inCall) void hostProtocol.muteChanged(muteStateOf(session));
        });
      },
      // Every end, also one the host asked for (Element Web waits for our hang-up then). After an
      // error the widget stays open so the person can read the sentence; otherwise it asks to be closed.
      onEnded: (error) => {
        const normal = !error || endsQuietly(error);
        // returnToLobby (video rooms): the widget stays, back in the lobby, and is not closed.
        void hostProtocol.left({ close: normal && !launch.returnToLobby });
        if (normal && launch.returnToLobby && !leavingPage) join(true);
      },
    });
    if (hostJoin && call.lobby) call.lobby.join(hostJoin);
    hostJoin = undefined;
  };

  const leaveForHost = async (): Promise<Record<string, unknown>> => {
    leaving ??= (call?.hangUp() ?? backend.leaveCall()).catch((error: unknown) => logger.warn('leaving for the host failed', { error: String(error) }));
    await leaving;
    leaving = undefined;
    return {};
  };
  hostActions.handle('im.vector.hangup', leaveForHost);
  hostActions.handle('io.element.close', leaveForHost);
  hostActions.handle('io.element.device_mute', async (data) => {
    const session = call?.session;
    const request = (typeof data === 'object' && data !== null ? data : {}) as { audio_enabled?: unknown; video_enabled?: unknown };
    const lobby = call?.lobby;
    if (lobby) {
      // Before joining, the host sets what the call will start with (Element Call applies it to its lobby).
      const choice = lobby.setMuted({
        ...(typeof request.audio_enabled === 'boolean' ? { micOn: request.audio_enabled } : {}),
        ...(typeof request.video_enabled === 'boolean' ? { camOn: request.video_enabled } : {}),
      });
      return { audio_enabled: choice.micOn, video_enabled: choice.camOn };
    }
    if (session && typeof request.audio_enabled === 'boolean' && request.audio_enabled !== session.local.micOn) await session.toggleMicrophone();
    if (session && typeof request.video_enabled === 'boolean' && request.video_enabled !== session.local.camOn) await session.toggleCamera();
    return { ...muteStateOf(session) };
  });
  // A host that drives the join (Element Call's `preload` flow) sends io.element.join with the
  // devices to use; `null` means that device off. From the lobby we join at once; otherwise the
  // call is joining or joined already, and the request is simply acknowledged.
  hostActions.handle('io.element.join', (data) => {
    const request = typeof data === 'object' && data !== null ? data : {};
    const off = (key: string): boolean => key in request && (request as Record<string, unknown>)[key] === null;
    const change = { ...(off('audioInput') ? { micOn: false } : {}), ...(off('videoInput') ? { camOn: false } : {}) };
    if (call?.lobby) call.lobby.join(change);
    else if (!call) hostJoin = change;
    return {};
  });
  hostActions.handle('theme_change', (data) => {
    const theme = themeOf(typeof data === 'object' && data !== null && 'name' in data ? data.name : undefined);
    if (theme) app.setTheme(theme);
    return {};
  });

  const started = (async () => {
    app.loading('status.connectingHost');
    const waiting = setTimeout(() => app.loading('status.waitingForHost'), 3000);
    try {
      await backend.start();
    } catch (error) {
      app.error(error, [{ label: 'error.retry', primary: true, run: () => location.reload() }]);
      return;
    } finally {
      clearTimeout(waiting);
    }
    join();
  })();
  // Leaving the page (the host removed the iframe): fire the delayed leave now if we can.
  addEventListener('pagehide', () => {
    leavingPage = true;
    void call?.hangUp();
  });
  return { api, hostActions, hostProtocol, backend, started };
}
