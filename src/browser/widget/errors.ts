// Errors of the call widget (element-call's ElementCallError shape): a stable `code` for the
// step that failed and a `category` the UI uses to pick wording and a recovery action. The
// foreign error (SfuClientError, MatrixRequestError, DOMException, js-sdk MatrixError) stays
// as `cause`; errors/explain.ts turns the pair into one sentence per failure.

/** What kind of trouble it is, for the person in front of the screen. */
export type ErrorCategory =
  /** The call link or the deployment is wrong; only an administrator can fix it. */
  | 'CONFIGURATION_ISSUE'
  /** The network or a server is unreachable or overloaded; trying again may help. */
  | 'NETWORK_CONNECTIVITY'
  /** Someone (the host app, the room, the SFU) said no. */
  | 'PERMISSION'
  /** The camera, microphone or screen could not be used. */
  | 'DEVICE'
  /** The call ended from outside (kicked, replaced, membership ended). */
  | 'CALL_ENDED'
  | 'UNKNOWN';

/** The step that failed. */
export type WidgetErrorCode =
  /** URL parameters missing or malformed (`details` lists every fault). */
  | 'CONFIGURATION'
  /** The host did not answer the widget API. */
  | 'HOST_UNAVAILABLE'
  /** The host refused capabilities the call needs. */
  | 'CAPABILITIES_DENIED'
  /** The host refused or failed the OpenID request. */
  | 'OPENID_DENIED'
  /** Password or token login failed (cause: MatrixRequestError). */
  | 'LOGIN_FAILED'
  /** The joined rooms could not be listed. */
  | 'ROOMS_FAILED'
  /** The call membership could not be published. */
  | 'MEMBERSHIP_FAILED'
  /** POST /sfu/get refused or failed (cause: MatrixRequestError with the errcode). */
  | 'ADMISSION_FAILED'
  /** Connecting or joining over signalling failed (cause: SfuClientError). */
  | 'SIGNALLING_FAILED'
  /** The signalling connection closed during the call (`closeCode`, `closeReason`). */
  | 'SIGNALLING_CLOSED'
  /** getUserMedia/getDisplayMedia failed (cause: DOMException). */
  | 'MEDIA_FAILED'
  /** Screen sharing failed to start. */
  | 'SCREEN_SHARE_FAILED';

/** Default category of each code (explain.ts refines it from the cause). */
export const ERROR_CATEGORIES: Readonly<Record<WidgetErrorCode, ErrorCategory>> = Object.freeze({
  CONFIGURATION: 'CONFIGURATION_ISSUE',
  HOST_UNAVAILABLE: 'NETWORK_CONNECTIVITY',
  CAPABILITIES_DENIED: 'PERMISSION',
  OPENID_DENIED: 'PERMISSION',
  LOGIN_FAILED: 'PERMISSION',
  ROOMS_FAILED: 'NETWORK_CONNECTIVITY',
  MEMBERSHIP_FAILED: 'NETWORK_CONNECTIVITY',
  ADMISSION_FAILED: 'PERMISSION',
  SIGNALLING_FAILED: 'NETWORK_CONNECTIVITY',
  SIGNALLING_CLOSED: 'CALL_ENDED',
  MEDIA_FAILED: 'DEVICE',
  SCREEN_SHARE_FAILED: 'DEVICE',
});

/** Extra facts of a WidgetError. */
export interface WidgetErrorOptions {
  readonly cause?: unknown;
  /** Every fault found (CONFIGURATION), for the administrator; never shown as the main sentence. */
  readonly details?: readonly string[];
  /** WebSocket close code (SIGNALLING_CLOSED). */
  readonly closeCode?: number;
  /** WebSocket close reason (SIGNALLING_CLOSED), e.g. `evicted: kicked`. */
  readonly closeReason?: string;
}

/** A failure of the widget with a stable code. */
export class WidgetError extends Error {
  readonly code: WidgetErrorCode;
  readonly category: ErrorCategory;
  readonly details: readonly string[];
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;

  constructor(code: WidgetErrorCode, message: string, options: WidgetErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'WidgetError';
    this.code = code;
    this.category = ERROR_CATEGORIES[code];
    this.details = Object.freeze([...(options.details ?? [])]);
    this.closeCode = options.closeCode;
    this.closeReason = options.closeReason;
  }
}
