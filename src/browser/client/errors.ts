// Errors of the browser client. Every error carries a stable `code`: either a
// wire error code the server answered with (WireErrorCode), or one of the
// client's own codes below. Callers (the demo, the widget) branch on `code`
// and never on message text.

import type { WireErrorCode } from '../../common/protocol/messages.ts';

/** Codes the client produces itself (not sent by the server). */
export type LocalErrorCode =
  /** The WebSocket could not be opened, or closed before it opened. */
  | 'CONNECT_FAILED'
  /** The server did not answer a request within the request timeout. */
  | 'TIMEOUT'
  /** The WebSocket closed while a request was outstanding, or before it was sent. */
  | 'CONNECTION_CLOSED'
  /** The server sent something that does not follow protocol v1. */
  | 'PROTOCOL'
  /** The browser refused a media operation (mediasoup-client or WebRTC error). */
  | 'MEDIA';

/** Every code an SfuClientError may carry. */
export type ClientErrorCode = WireErrorCode | LocalErrorCode;

/** Base class of every error the client throws on purpose. */
export class SfuClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SfuClientError';
    this.code = code;
  }
}

/** The server refused a request; `code` is the wire code from the response. */
export class RequestError extends SfuClientError {
  readonly method: string;
  constructor(method: string, code: WireErrorCode, message: string) {
    super(code, `${method}: ${message}`);
    this.name = 'RequestError';
    this.method = method;
  }
}

/** The server did not answer in time. The request may still take effect. */
export class RequestTimeoutError extends SfuClientError {
  readonly method: string;
  readonly timeoutMs: number;
  constructor(method: string, timeoutMs: number) {
    super('TIMEOUT', `${method}: no response within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
    this.method = method;
    this.timeoutMs = timeoutMs;
  }
}

/** The signalling connection closed; `closeCode` is the WebSocket close code (CLOSE_CODES). */
export class ConnectionClosedError extends SfuClientError {
  readonly closeCode: number;
  readonly reason: string;
  constructor(closeCode: number, reason: string, code: 'CONNECTION_CLOSED' | 'CONNECT_FAILED' = 'CONNECTION_CLOSED') {
    super(code, `signalling closed (${closeCode}${reason ? `: ${reason}` : ''})`);
    this.name = 'ConnectionClosedError';
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** The client is in the wrong state for this call (not joined, closed, ...). */
export class InvalidStateError extends SfuClientError {
  constructor(message: string) {
    super('INVALID_STATE', message);
    this.name = 'InvalidStateError';
  }
}

/** Wraps a foreign error (mediasoup-client, WebRTC) as a MEDIA error, keeping it as `cause`. */
export function mediaError(what: string, cause: unknown): SfuClientError {
  if (cause instanceof SfuClientError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SfuClientError('MEDIA', `${what}: ${detail}`, { cause });
}
