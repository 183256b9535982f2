// What the widget tells its host, in Element Call's words, so a host that launches this widget
// the way it launches Element Call (Element Web's call widget handling) sees what it expects:
//
// - joined:  `io.element.join` {}, then `set_always_on_screen` {value: true} (keep the call
//            on screen when the person navigates away), then the mute state;
// - mute:    `io.element.device_mute` {audio_enabled, video_enabled} whenever either changes;
// - left:    `im.vector.hangup` {}, `set_always_on_screen` {value: false}, then
//            `io.element.close` {} (after an error only the first two: the widget stays open
//            so the person can read why).
//
// Messages go out one at a time, in call order, each after the host answered the previous
// one (a host that refuses one, e.g. without the m.always_on_screen capability, does not stop
// the rest). The host's replies carry nothing we need.

/** Where refusals are logged (the widget's ClientLogger fits; kept narrow so Node tests need no DOM types). */
export interface HostProtocolLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** Widget → host actions of Element Call (Element Web's ElementWidgetActions). */
export const ELEMENT_ACTIONS = Object.freeze({
  join: 'io.element.join',
  hangup: 'im.vector.hangup',
  close: 'io.element.close',
  deviceMute: 'io.element.device_mute',
  alwaysOnScreen: 'set_always_on_screen',
} as const);

/** The capability a widget needs for `set_always_on_screen` (matrix-widget-api MatrixCapabilities.AlwaysOnScreen). */
export const ALWAYS_ON_SCREEN_CAPABILITY = 'm.always_on_screen';

/** Microphone and camera as the host sees them. */
export interface DeviceMuteState {
  readonly audio_enabled: boolean;
  readonly video_enabled: boolean;
}

/** The part of matrix-widget-api's WidgetApi used here. */
export interface HostProtocolApi {
  readonly transport: { send(action: string, data: Record<string, unknown>): Promise<unknown> };
}

/** Widget → host notifications of one widget, serialised. */
export class HostProtocol {
  readonly #api: HostProtocolApi;
  readonly #logger: HostProtocolLogger;
  #queue: Promise<void> = Promise.resolve();
  #mute: DeviceMuteState | undefined;
  #inCall = false;
  /** Every action sent, in order (for diagnostics and tests). */
  readonly sent: string[] = [];

  constructor(api: HostProtocolApi, logger: HostProtocolLogger) {
    this.#api = api;
    this.#logger = logger;
  }

  /** Whether joined() was told and left() not yet. */
  get inCall(): boolean {
    return this.#inCall;
  }

  /** The call is joined: `io.element.join`, keep on screen, and the current mute state. */
  joined(mute: DeviceMuteState): Promise<void> {
    this.#inCall = true;
    this.#mute = undefined;
    this.#send(ELEMENT_ACTIONS.join, {});
    this.#send(ELEMENT_ACTIONS.alwaysOnScreen, { value: true });
    return this.muteChanged(mute);
  }

  /** Sends the mute state if it differs from the last one sent. */
  muteChanged(mute: DeviceMuteState): Promise<void> {
    const last = this.#mute;
    if (last && last.audio_enabled === mute.audio_enabled && last.video_enabled === mute.video_enabled) return this.#queue;
    this.#mute = { audio_enabled: mute.audio_enabled, video_enabled: mute.video_enabled };
    return this.#send(ELEMENT_ACTIONS.deviceMute, { ...this.#mute });
  }

  /**
   * The call is over (or joining was given up): hang-up, release the screen, and unless the
   * widget must stay open to show an error, ask the host to close it.
   */
  left(options: { readonly close: boolean }): Promise<void> {
    this.#inCall = false;
    this.#mute = undefined;
    this.#send(ELEMENT_ACTIONS.hangup, {});
    this.#send(ELEMENT_ACTIONS.alwaysOnScreen, { value: false });
    return options.close ? this.#send(ELEMENT_ACTIONS.close, {}) : this.#queue;
  }

  #send(action: string, data: Record<string, unknown>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      this.sent.push(action === ELEMENT_ACTIONS.alwaysOnScreen ? `${action}:${String(data['value'])}` : action);
      try {
        await this.#api.transport.send(action, data);
      } catch (error) {
        this.#logger.debug('host refused a widget action', { action, error: String(error) });
      }
    });
    return this.#queue;
  }
}
