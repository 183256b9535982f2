// Actions the host sends to the widget outside the Matrix client (src/browser/widget/README.md,
// "MatrixRTC widget mode"):
// `im.vector.hangup` (leave now), `io.element.close` (the host is closing us),
// `io.element.device_mute` (toggle or query mic and camera), `theme_change` (matrix-widget-api's
// ThemeChange: `{name: "light" | "dark" | …}`), `io.element.join` (`{audioInput, videoInput}`:
// join now from the lobby, `null` = that device off). They may arrive before the call
// screen exists, e.g. a hang-up while we are still joining, so they are claimed at once
// (preventDefault, else matrix-widget-api answers "unsupported action") and buffered until a
// handler is set (element-call's LazyEventEmitter idea); the host gets its reply when the
// handler has run.

/** Host → widget actions the call handles. */
export const HOST_ACTIONS = Object.freeze(['im.vector.hangup', 'io.element.close', 'io.element.device_mute', 'theme_change', 'io.element.join'] as const);

/** One of them. */
export type HostAction = (typeof HOST_ACTIONS)[number];

/** A widget API request as matrix-widget-api delivers it (`CustomEvent.detail`). */
export interface HostRequest {
  readonly action: string;
  readonly data: unknown;
}

/** Handles one action; the return value is the reply's data. */
export type HostActionHandler = (data: unknown) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** The part of matrix-widget-api's WidgetApi used here. */
export interface HostActionsApi {
  on(event: string, listener: (event: CustomEvent<HostRequest>) => void): unknown;
  off(event: string, listener: (event: CustomEvent<HostRequest>) => void): unknown;
  readonly transport: { reply(request: HostRequest, response: Record<string, unknown>): void };
}

/** Claims host actions and buffers them until someone handles them. */
export class HostActions {
  readonly #api: HostActionsApi;
  readonly #handlers = new Map<HostAction, HostActionHandler>();
  readonly #buffered: Array<{ action: HostAction; request: HostRequest }> = [];
  readonly #listeners = new Map<HostAction, (event: CustomEvent<HostRequest>) => void>();
  #disposed = false;

  /** Starts listening at once: create this before the widget API starts talking. */
  constructor(api: HostActionsApi) {
    this.#api = api;
    for (const action of HOST_ACTIONS) {
      const listener = (event: CustomEvent<HostRequest>): void => {
        event.preventDefault();
        this.#receive(action, event.detail);
      };
      this.#listeners.set(action, listener);
      api.on(`action:${action}`, listener);
    }
  }

  /** Actions received but not handled yet, oldest first. */
  get pending(): readonly HostAction[] {
    return this.#buffered.map((entry) => entry.action);
  }

  /**
   * Sets the handler of `action` (replacing any) and replays the buffered requests for it.
   * Returns a function that removes the handler again.
   */
  handle(action: HostAction, handler: HostActionHandler): () => void {
    this.#handlers.set(action, handler);
    const replay = this.#buffered.filter((entry) => entry.action === action);
    this.#buffered.splice(0, this.#buffered.length, ...this.#buffered.filter((entry) => entry.action !== action));
    for (const entry of replay) this.#run(handler, entry.request);
    return () => {
      if (this.#handlers.get(action) === handler) this.#handlers.delete(action);
    };
  }

  /** Stops listening; buffered requests are answered with an empty reply. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const [action, listener] of this.#listeners) this.#api.off(`action:${action}`, listener);
    for (const entry of this.#buffered.splice(0)) this.#api.transport.reply(entry.request, {});
    this.#handlers.clear();
  }

  #receive(action: HostAction, request: HostRequest): void {
    const handler = this.#handlers.get(action);
    if (handler) this.#run(handler, request);
    else this.#buffered.push({ action, request });
  }

  #run(handler: HostActionHandler, request: HostRequest): void {
    Promise.resolve()
      .then(() => handler(request.data))
      .then(
        (response) => this.#api.transport.reply(request, response),
        (error: unknown) => this.#api.transport.reply(request, { error: { message: error instanceof Error ? error.message : String(error) } }),
      );
  }
}
