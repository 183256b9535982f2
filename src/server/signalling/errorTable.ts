// The one table mapping our error codes to what a WebSocket peer sees: the
// public message in an error response (generic; details stay in the log),
// whether it counts as a protocol fault (faults decay: signalling.faultDecayMs),
// and the close code if the session must end.

import type { SfuErrorCode } from '../../common/lib/errors.ts';
import { CLOSE_CODES, type CloseCode } from '../../common/protocol/closeCodes.ts';

interface ErrorRow {
  /** Short public message. */
  readonly message: string;
  /** Counts toward signalling.maxProtocolFaults. */
  readonly fault: boolean;
  /** Close code when this error ends a session before it exists (admission). */
  readonly closeCode?: CloseCode;
}

export const ERROR_TABLE: Record<SfuErrorCode, ErrorRow> = {
  BAD_FRAME: { message: 'frame is not a JSON request', fault: true },
  BAD_REQUEST: { message: 'request is invalid', fault: true },
  UNKNOWN_METHOD: { message: 'unknown method', fault: true },
  NOT_JOINED: { message: 'join first', fault: true },
  ALREADY_JOINED: { message: 'already joined', fault: true },
  NOT_FOUND: { message: 'no such object', fault: true },
  // An object the client knew closed before its request arrived (a race, e.g. resumeConsumer after the producer left).
  GONE: { message: 'the object closed meanwhile', fault: false },
  INVALID_STATE: { message: 'not possible in the current state', fault: false },
  LIMIT_EXCEEDED: { message: 'a resource limit was reached', fault: false },
  UNSUPPORTED: { message: 'not supported', fault: false },
  RATE_LIMITED: { message: 'too many requests', fault: false },
  FORBIDDEN: { message: 'not allowed', fault: false, closeCode: CLOSE_CODES.UNAUTHORIZED },
  UNAUTHORIZED: { message: 'not authorised', fault: false, closeCode: CLOSE_CODES.UNAUTHORIZED },
  CONFERENCE_FULL: { message: 'the call is full', fault: false, closeCode: CLOSE_CODES.CONFERENCE_FULL },
  // Admission control by worker load: the join is refused, the session stays open (the client may retry later).
  OVERLOADED: { message: 'server at capacity, try again later', fault: false },
  DRAINING: { message: 'server is draining, reconnect elsewhere', fault: false, closeCode: CLOSE_CODES.DRAINING },
  INTERNAL: { message: 'internal error', fault: false, closeCode: CLOSE_CODES.INTERNAL_ERROR },
};
