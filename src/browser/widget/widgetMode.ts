// Widget mode: hosted by a Matrix client (Element Web) over matrix-widget-api. The host
// settles capabilities and relays state, OpenID and to-device messages; we join, and answer
// the host's actions: `im.vector.hangup` and `io.element.close` leave the call cleanly (media
// closed, membership emptied) before the reply, `io.element.device_mute` toggles or reports
// microphone and camera. When the person hangs up, the host is told with `im.vector.hangup`.

import { WidgetApi } from 'matrix-widget-api';
import type { ClientLogger } from '../client/types.ts';
import type { CallSession } from './call/CallSession.ts';
import type { E2eeStatusSource } from './call/types.ts';
import type { WidgetLaunch } from './launch.ts';
import { HostActions } from './matrix/HostActions.ts';
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
  readonly backend: WidgetBackend;
  /** Resolves when the host is ready and the first join started (or failed). */
  readonly started: Promise<void>;
}

function deviceMuteReply(session: CallSession | undefined): Record<string, unknown> {
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
  const hostActions = new HostActions(api);
  const backend = WidgetBackend.create({ launch, api, logger });
  let call: RunningCall | undefined;
  let leaving: Promise<void> | undefined;

  const join = (): void => {
    call = runCall({
      app,
      backend,
      logger,
      e2ee: () => options.e2ee(backend),
      restart: join,
      onEnded: () => {
        // Tell the host the call is over (Element updates its call UI); it may refuse unknown actions.
        if (!leaving) api.transport.send('im.vector.hangup', {}).catch((error: unknown) => logger.debug('host ignored im.vector.hangup', { error: String(error) }));
      },
    });
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
    if (session && typeof request.audio_enabled === 'boolean' && request.audio_enabled !== session.local.micOn) await session.toggleMicrophone();
    if (session && typeof request.video_enabled === 'boolean' && request.video_enabled !== session.local.camOn) await session.toggleCamera();
    return deviceMuteReply(session);
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
  addEventListener('pagehide', () => void call?.hangUp());
  return { api, hostActions, backend, started };
}
