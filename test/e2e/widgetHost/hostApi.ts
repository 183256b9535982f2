// The test host page's `window.widgetHost` (page/host.ts implements it; the e2e test reads
// it through page.evaluate). DOM-free, so the Node-side test can import it.

/** What the test reads and calls. */
export interface WidgetHostApi {
  ready: boolean;
  error: string | undefined;
  crypto: 'rust' | 'none';
  requested: string[];
  approved: string[];
  /** Custom actions the widget sent to us (im.vector.hangup, io.element.close). */
  fromWidget: string[];
  openIdRequests: number;
  /** To-device batches the widget asked us to send, by outcome. */
  toDevice: { encrypted: number; clear: number; failed: number };
  /** Asks the widget to hang up (host → widget im.vector.hangup); resolves with its reply. */
  hangup(): Promise<unknown>;
  /** This room's call membership state content of a device, as the host's client sees it. */
  membership(userId: string, deviceId: string): Record<string, unknown> | null;
}

/** The page global, for page.evaluate() callbacks. */
export type HostGlobal = { widgetHost: WidgetHostApi };
