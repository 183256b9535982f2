// Base error vocabulary: every error our code throws on purpose is an SfuError
// with a stable `code` that callers branch on. Codes are mapped to wire replies,
// WebSocket close codes and HTTP statuses once, at the edge (src/server/signalling,
// src/server/http), never here.

/** Stable error codes. Adding one means adding a row to the edge tables. */
export type SfuErrorCode =
  | 'BAD_FRAME'
  | 'BAD_REQUEST'
  | 'UNKNOWN_METHOD'
  | 'NOT_JOINED'
  | 'ALREADY_JOINED'
  | 'NOT_FOUND'
  | 'GONE'
  | 'INVALID_STATE'
  | 'LIMIT_EXCEEDED'
  | 'UNSUPPORTED'
  | 'RATE_LIMITED'
  | 'FORBIDDEN'
  | 'UNAUTHORIZED'
  | 'CONFERENCE_FULL'
  | 'OVERLOADED'
  | 'DRAINING'
  | 'INTERNAL';

/** Base class of the SFU's own errors. */
export class SfuError extends Error {
  readonly code: SfuErrorCode;
  constructor(code: SfuErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SfuError';
    this.code = code;
  }
}

/** An operation not valid in the object's current state (closed, not joined, ...). */
export class InvalidStateError extends SfuError {
  constructor(message: string, code: SfuErrorCode = 'INVALID_STATE', options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'InvalidStateError';
  }
}

/** A capability we do not offer (codec, layer, transport kind). */
export class UnsupportedError extends SfuError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED', message, options);
    this.name = 'UnsupportedError';
  }
}

/** The caller is known but not allowed to do this. */
export class PermissionError extends SfuError {
  constructor(message: string, code: SfuErrorCode = 'FORBIDDEN', options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PermissionError';
  }
}

/** A peer sent something that does not follow the protocol. */
export class ProtocolError extends SfuError {
  constructor(code: SfuErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

/** A lookup by id found nothing. */
export class NotFoundError extends SfuError {
  constructor(message: string) {
    super('NOT_FOUND', message);
    this.name = 'NotFoundError';
  }
}

/** Returns the error's message without assuming it is an Error. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
