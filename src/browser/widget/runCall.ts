// Runs one call on the screen, in either mode: the joining screen with progress, the call
// screen, and what follows (the ended screen with "Join again", or the error screen with
// the sentence for what went wrong). A hang-up while joining aborts the join and empties the
// membership again.

import { CallSession } from './call/CallSession.ts';
import { LocalMedia } from './call/LocalMedia.ts';
import type { CallBackend, E2eeStatusSource } from './call/types.ts';
import type { ClientLogger } from '../client/types.ts';
import { WidgetError } from './errors.ts';
import { endsQuietly } from './call/closePolicy.ts';
import { explain } from './explain.ts';
import { CallView } from './ui/CallView.ts';
import { LobbyView, type LobbyChoice } from './ui/LobbyView.ts';
import type { AppShell, ScreenAction } from './ui/screens.ts';

/** Options of runCall(). */
export interface RunCallOptions {
  readonly app: AppShell;
  readonly backend: CallBackend;
  /** A fresh E2EE status source per join. */
  readonly e2ee: () => E2eeStatusSource;
  readonly logger: ClientLogger;
  /** "Join again" / "Try again": the mode starts a new runCall(). */
  readonly restart: () => void;
  /** Extra buttons on the ended and error screens (standalone: back to the rooms). */
  readonly extraActions?: readonly ScreenAction[];
  /** Called when a call is joined (widget mode wires host actions to it). */
  readonly onJoined?: (session: CallSession) => void;
  /** Called when the person hung up or the call ended (after the membership was emptied). */
  readonly onEnded?: (error: WidgetError | undefined) => void;
  /**
   * Show the pre-join screen first (camera preview, devices, microphone/camera on or off);
   * nothing is written to the room before the person presses Join. `camOff`: start with the
   * camera off (a voice intent). Without it the call is joined at once (`skipLobby`).
   */
  readonly lobby?: { readonly camOff?: boolean };
  /** Without a lobby: microphone and camera on or off at the start. Default both on. */
  readonly initial?: LobbyChoice;
}

/** A running call screen; hangUp() works in the lobby and while joining too. */
export interface RunningCall {
  hangUp(): Promise<void>;
  readonly session: CallSession | undefined;
  /** The pre-join screen while it is shown (the host's device_mute applies to it). */
  readonly lobby: LobbyView | undefined;
}

/** Joins and shows the call; returns at once. */
export function runCall(options: RunCallOptions): RunningCall {
  const { app, backend, logger } = options;
  const abort = new AbortController();
  const again: readonly ScreenAction[] = [{ label: 'error.retry', primary: true, run: options.restart }, ...(options.extraActions ?? [])];
  const rejoin: readonly ScreenAction[] = [{ label: 'ended.rejoin', primary: true, run: options.restart }, ...(options.extraActions ?? [])];
  let session: CallSession | undefined;
  let view: CallView | undefined;
  let lobby: LobbyView | undefined;
  let finished = false;

  const finish = (error: WidgetError | undefined, joining = false): void => {
    if (finished) return;
    finished = true;
    view?.dispose();
    // Replaced: the call goes on in another window; say so on the ended screen, not as an error.
    if (error && endsQuietly(error)) app.ended(rejoin, explain(error).key);
    else if (error) app.error(error, again, joining ? 'error.heading' : 'error.endedHeading');
    else app.ended(rejoin);
    options.onEnded?.(error);
  };

  const start = async (initial?: LobbyChoice): Promise<void> => {
    lobby = undefined;
    app.loading('status.joiningRoom');
    try {
      session = await CallSession.start({
        backend,
        e2ee: options.e2ee(),
        media: new LocalMedia(),
        logger,
        signal: abort.signal,
        ...(initial ? { initial } : {}),
        onStatus: (key) => {
          if (!abort.signal.aborted) app.loading(key);
        },
      });
    } catch (error) {
      if (abort.signal.aborted) return;
      finish(error instanceof WidgetError ? error : new WidgetError('SIGNALLING_FAILED', 'join failed', { cause: error }), true);
      return;
    }
    if (abort.signal.aborted) {
      await session.hangUp();
      return;
    }
    const joined = session;
    view = new CallView(joined, app.t, { roomName: () => backend.roomName() });
    app.show(view.element, () => view?.dispose());
    joined.on('ended', (error) => finish(error));
    options.onJoined?.(joined);
  };

  if (options.lobby) {
    const shown = new LobbyView({ t: app.t, roomName: () => backend.roomName(), onRoomChanged: (listener) => backend.onRoomChanged(listener), camOff: options.lobby.camOff ?? false, onJoin: (choice) => void start(choice) });
    lobby = shown;
    app.show(shown.element, () => shown.dispose());
  } else {
    void start(options.initial);
  }
  return {
    async hangUp(): Promise<void> {
      if (session) return session.hangUp();
      if (finished) return;
      if (lobby) {
        // Nothing was written to the room yet.
        lobby.dispose();
        lobby = undefined;
        finish(undefined);
        return;
      }
      abort.abort(new WidgetError('SIGNALLING_FAILED', 'hung up while joining'));
      await backend.leaveCall().catch((error: unknown) => logger.warn('leaving while joining failed', { error: String(error) }));
      finish(undefined);
    },
    get session() {
      return session;
    },
    get lobby() {
      return lobby;
    },
  };
}
