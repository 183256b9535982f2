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
}

/** A running call screen; hangUp() works while joining too. */
export interface RunningCall {
  hangUp(): Promise<void>;
  readonly session: CallSession | undefined;
}

/** Joins and shows the call; returns at once. */
export function runCall(options: RunCallOptions): RunningCall {
  const { app, backend, logger } = options;
  const abort = new AbortController();
  const again: readonly ScreenAction[] = [{ label: 'error.retry', primary: true, run: options.restart }, ...(options.extraActions ?? [])];
  const rejoin: readonly ScreenAction[] = [{ label: 'ended.rejoin', primary: true, run: options.restart }, ...(options.extraActions ?? [])];
  let session: CallSession | undefined;
  let view: CallView | undefined;
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

  const start = async (): Promise<void> => {
    app.loading('status.joiningRoom');
    try {
      session = await CallSession.start({
        backend,
        e2ee: options.e2ee(),
        media: new LocalMedia(),
        logger,
        signal: abort.signal,
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

  void start();
  return {
    async hangUp(): Promise<void> {
      if (session) return session.hangUp();
      if (finished) return;
      abort.abort(new WidgetError('SIGNALLING_FAILED', 'hung up while joining'));
      await backend.leaveCall().catch((error: unknown) => logger.warn('leaving while joining failed', { error: String(error) }));
      finish(undefined);
    },
    get session() {
      return session;
    },
  };
}
