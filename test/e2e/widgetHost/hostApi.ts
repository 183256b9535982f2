// The test host page's `window.widgetHost` (page/host.ts implements it; the e2e test reads
// it through page.evaluate). DOM-free, so the Node-side test can import it.

/** What the test reads and calls. */
export interface WidgetHostApi {
  ready: boolean;
  error: string | undefined;
  crypto: 'rust' | 'none';
  requested: string[];
  approved: string[];
  /** Custom actions the widget sent to us (im.vector.hangup, io.element.close, …), by name, in order. */
  fromWidget: string[];
  /** The same with their data (set_always_on_screen {value}, io.element.device_mute {audio_enabled, video_enabled}). */
  fromWidgetData: Array<{ action: string; data: unknown }>;
  /** The widget URL the host put in the iframe. */
  widgetUrl: string;
  openIdRequests: number;
  /** To-device batches the widget asked us to send, by outcome. */
  toDevice: { encrypted: number; clear: number; failed: number };
  /** Asks the widget to hang up (host → widget im.vector.hangup); resolves with its reply. */
  hangup(): Promise<unknown>;
  /** Host → widget io.element.device_mute; resolves with the widget's reply (the resulting state). */
  deviceMute(request: { audio_enabled?: boolean; video_enabled?: boolean }): Promise<unknown>;
  /** Host → widget io.element.join (Element Call's preload flow). */
  join(request: { audioInput: string | null; videoInput: string | null }): Promise<unknown>;
  /** Host → widget theme_change. */
  themeChange(name: string): Promise<unknown>;
  /** This room's call membership state content of a device, as the host's client sees it. */
  membership(userId: string, deviceId: string): Record<string, unknown> | null;
}

/** The page global, for page.evaluate() callbacks. */
export type HostGlobal = { widgetHost: WidgetHostApi };
