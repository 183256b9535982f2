// The Element Call host page's `window.elementCallHost` (page/host.ts implements it; the e2e
// test reads it through page.evaluate). DOM-free, so the Node-side test can import it.

/** One widget action Element Call sent to the host, in arrival order. */
export interface FromWidgetAction {
  readonly action: string;
  /** Milliseconds since the host page's time origin. */
  readonly atMs: number;
  /** A short, key-free summary of the request data (never key material). */
  readonly summary: string;
}

/** What the test reads and calls. */
export interface ElementCallHostApi {
  ready: boolean;
  error: string | undefined;
  /** The widget URL put into the iframe (parameters after `#?`, widgetId and parentUrl in the query). */
  widgetUrl: string;
  /** Capabilities Element Call asked for, and the ones this host granted (Element Web's call-widget set). */
  requested: string[];
  approved: string[];
  /** Every fromWidget action this host saw (`send_event`, `send_to_device`, `io.element.join`, …). */
  fromWidget: FromWidgetAction[];
  openIdRequests: number;
  /** Transports answered to `org.matrix.msc4515.get_rtc_transports`, as the homeserver listed them. */
  transports: unknown[];
  /** To-device batches the widget asked us to send, by outcome. */
  toDevice: { encrypted: number; clear: number; failed: number };
  /** To-device events fed to the widget, by type. */
  toDeviceIn: Record<string, number>;
  /** Asks Element Call to hang up (host → widget `im.vector.hangup`, as Element Web's hang-up button). */
  hangup(): Promise<unknown>;
  /** Asks Element Call to set its devices (host → widget `io.element.device_mute`); resolves with the resulting state. */
  deviceMute(state: { audio_enabled?: boolean; video_enabled?: boolean }): Promise<unknown>;
  /** This room's call membership state content of a device, as the host's client sees it. */
  membership(userId: string, deviceId: string): Record<string, unknown> | null;
}

/** The page global, for page.evaluate() callbacks. */
export type ElementCallHostGlobal = { elementCallHost: ElementCallHostApi };
