// Errors of the main-thread E2EE side, with a stable code callers branch on. Messages never
// carry key material.

/** Why an E2EE operation failed. */
export type E2eeErrorCode =
  /** The browser has neither RTCRtpScriptTransform nor createEncodedStreams(): media cannot be encrypted. */
  | 'UNSUPPORTED'
  /** The manager was closed. */
  | 'CLOSED'
  /** The worker did not answer in time. */
  | 'TIMEOUT';

/** An E2EE failure; `code` is stable. */
export class E2eeError extends Error {
  readonly code: E2eeErrorCode;

  constructor(code: E2eeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'E2eeError';
    this.code = code;
  }
}
