// One plain sentence per failure. Every signalling error code (SfuClient's RequestError and
// local codes), every close code 4001–4011 with each eviction reason, every /sfu/get errcode
// and every login, membership, host and device failure maps to a catalogue key here, in one
// table per source; test/unit/widget/explain.test.ts checks every entry in both languages.

import { ConnectionClosedError, SfuClientError, type ClientErrorCode } from '../client/errors.ts';
import { CLOSE_CODES, type CloseCode } from '../../common/protocol/closeCodes.ts';
import { ABNORMAL_CLOSURE, TRY_AGAIN_LATER } from './call/closePolicy.ts';
import { WidgetError, type ErrorCategory, type WidgetErrorCode } from './errors.ts';
import type { MessageKey } from './i18n/index.ts';

/** What the UI shows for a failure. */
export interface Explanation {
  readonly key: MessageKey;
  readonly category: ErrorCategory;
  /** A short code for support staff, e.g. `ADMISSION_FAILED M_FORBIDDEN` or `4004 kicked`. */
  readonly supportCode: string;
  /** Whether trying the same thing again can help. */
  readonly retry: boolean;
}

/** Signalling error codes (wire codes the server answers with, and the client's own). */
export const SIGNALLING_MESSAGES: Readonly<Record<ClientErrorCode, MessageKey>> = Object.freeze({
  BAD_FRAME: 'err.protocol',
  BAD_REQUEST: 'err.protocol',
  UNKNOWN_METHOD: 'err.protocol',
  NOT_JOINED: 'err.protocol',
  ALREADY_JOINED: 'err.protocol',
  NOT_FOUND: 'err.protocol',
  GONE: 'err.internal',
  LIMIT_EXCEEDED: 'err.limitExceeded',
  PROTOCOL: 'err.protocol',
  INVALID_STATE: 'err.internal',
  UNSUPPORTED: 'err.unsupported',
  RATE_LIMITED: 'err.rateLimited',
  FORBIDDEN: 'err.forbidden',
  UNAUTHORIZED: 'err.unauthorized',
  CONFERENCE_FULL: 'err.full',
  OVERLOADED: 'err.server',
  DRAINING: 'err.draining',
  INTERNAL: 'err.server',
  CONNECT_FAILED: 'err.connect',
  TIMEOUT: 'err.timeout',
  CONNECTION_CLOSED: 'err.connectionLost',
  MEDIA: 'err.media',
});

/** WebSocket close codes (src/common/protocol/closeCodes.ts), plus 1006: closed without a close frame. Every code has a row (typechecked). */
export const CLOSE_MESSAGES: Readonly<Record<CloseCode | typeof ABNORMAL_CLOSURE | typeof TRY_AGAIN_LATER, MessageKey>> = Object.freeze({
  [CLOSE_CODES.NORMAL]: 'err.connectionLost',
  [CLOSE_CODES.GOING_AWAY]: 'err.serverShutdown',
  [ABNORMAL_CLOSURE]: 'err.connectionLost',
  [CLOSE_CODES.MESSAGE_TOO_BIG]: 'err.protocol',
  [CLOSE_CODES.INTERNAL_ERROR]: 'err.server',
  [TRY_AGAIN_LATER]: 'err.admission.unavailable',
  [CLOSE_CODES.UNAUTHORIZED]: 'err.admissionRefused',
  [CLOSE_CODES.PROTOCOL_ABUSE]: 'err.protocol',
  [CLOSE_CODES.RATE_LIMITED]: 'err.rateLimited',
  [CLOSE_CODES.EVICTED]: 'err.evicted',
  [CLOSE_CODES.REPLACED]: 'err.replaced',
  [CLOSE_CODES.DRAINING]: 'err.draining',
  [CLOSE_CODES.TIMEOUT]: 'err.idle',
  [CLOSE_CODES.UNSUPPORTED_PROTOCOL]: 'err.outdated',
  [CLOSE_CODES.CONFERENCE_FULL]: 'err.full',
  [CLOSE_CODES.CONFERENCE_CLOSED]: 'err.conferenceClosed',
  [CLOSE_CODES.MEDIA_LOST]: 'err.mediaLost',
});

/** Reasons of close code 4004 (`evicted: <reason>`; the server's EvictionReason). */
export const EVICTION_MESSAGES = Object.freeze({
  'membership-ended': 'err.evicted.ended',
  'membership-expired': 'err.evicted.expired',
  'membership-redacted': 'err.evicted.redacted',
  'moved-sfu': 'err.evicted.movedSfu',
  'left-room': 'err.evicted.leftRoom',
  kicked: 'err.evicted.kicked',
  banned: 'err.evicted.banned',
} as const satisfies Record<string, MessageKey>);

/** Close codes after which joining again can work. */
const RETRYABLE_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.NORMAL, CLOSE_CODES.GOING_AWAY, ABNORMAL_CLOSURE, CLOSE_CODES.INTERNAL_ERROR, TRY_AGAIN_LATER, CLOSE_CODES.UNAUTHORIZED, CLOSE_CODES.RATE_LIMITED,
  CLOSE_CODES.EVICTED, CLOSE_CODES.DRAINING, CLOSE_CODES.TIMEOUT, CLOSE_CODES.CONFERENCE_CLOSED, CLOSE_CODES.MEDIA_LOST,
]);

/** errcodes of POST /sfu/get (README "Admission"). */
export const ADMISSION_MESSAGES: Readonly<Record<string, MessageKey>> = Object.freeze({
  M_FORBIDDEN: 'err.admission.forbidden',
  M_UNAUTHORIZED: 'err.admission.unauthorized',
  M_LIMIT_EXCEEDED: 'err.rateLimited',
  M_BAD_JSON: 'err.protocol',
  M_TOO_LARGE: 'err.protocol',
  M_NOT_FOUND: 'err.config.sfu',
  M_UNKNOWN: 'err.admission.unavailable',
  // The SFU cannot read the room's state (its account is not in the room, no admin API source).
  'ORG.MATRIX_SFU.ROOM_NOT_VISIBLE': 'err.admission.roomNotVisible',
});

/** errcodes of password or token login (and whoami). */
export const LOGIN_MESSAGES: Readonly<Record<string, MessageKey>> = Object.freeze({
  M_FORBIDDEN: 'err.login.credentials',
  M_USER_DEACTIVATED: 'err.login.deactivated',
  M_UNKNOWN_TOKEN: 'err.login.token',
  M_MISSING_TOKEN: 'err.login.token',
  M_LIMIT_EXCEEDED: 'err.rateLimited',
  // matrix/discovery.ts: the widget's CSP does not allow the homeserver; the typed server is none.
  'ORG.MATRIX_SFU.HOMESERVER_NOT_ALLOWED': 'err.login.blocked',
  M_INVALID_PARAM: 'err.login.address',
});

/** errcodes of publishing the call membership. */
export const MEMBERSHIP_MESSAGES: Readonly<Record<string, MessageKey>> = Object.freeze({
  M_FORBIDDEN: 'err.membership.forbidden',
  // WidgetBackend: the widget's CSP blocked the homeserver (widget.homeserverUrls lacks it).
  'ORG.MATRIX_SFU.HOMESERVER_NOT_ALLOWED': 'err.login.blocked',
  M_LIMIT_EXCEEDED: 'err.rateLimited',
  M_UNKNOWN_TOKEN: 'err.login.token',
});

/** DOMException names of getUserMedia / getDisplayMedia. */
export const MEDIA_MESSAGES: Readonly<Record<string, MessageKey>> = Object.freeze({
  NotAllowedError: 'err.media.denied',
  SecurityError: 'err.media.denied',
  NotFoundError: 'err.media.notFound',
  OverconstrainedError: 'err.media.notFound',
  NotReadableError: 'err.media.busy',
  AbortError: 'err.media.busy',
});

/** The message of each WidgetError code when its cause says nothing more precise. */
export const STEP_MESSAGES: Readonly<Record<WidgetErrorCode, MessageKey>> = Object.freeze({
  CONFIGURATION: 'err.config.params',
  HOST_UNAVAILABLE: 'err.host.unavailable',
  CAPABILITIES_DENIED: 'err.host.capabilities',
  OPENID_DENIED: 'err.host.openid',
  LOGIN_FAILED: 'err.login.failed',
  ROOMS_FAILED: 'err.rooms.failed',
  MEMBERSHIP_FAILED: 'err.membership.failed',
  ADMISSION_FAILED: 'err.admission.unavailable',
  SIGNALLING_FAILED: 'err.connect',
  SIGNALLING_CLOSED: 'err.connectionLost',
  MEDIA_FAILED: 'err.unknown',
  SCREEN_SHARE_FAILED: 'err.screen.failed',
});

function errcodeOf(error: unknown): string | undefined {
  const value = typeof error === 'object' && error !== null ? (error as { errcode?: unknown }).errcode : undefined;
  return typeof value === 'string' ? value : undefined;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, httpStatus } = error as { status?: unknown; httpStatus?: unknown };
  const value = typeof status === 'number' ? status : httpStatus;
  return typeof value === 'number' ? value : undefined;
}

/** A fetch that never got an answer: TypeError (network, CORS, CSP) or a timeout abort. */
function isUnreachable(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'NetworkError'));
}

/** The sentence for a close code and reason (`evicted: kicked`). */
export function explainClose(code: number, reason = ''): Explanation {
  const eviction = code === CLOSE_CODES.EVICTED ? reason.replace(/^evicted:\s*/, '') : '';
  const evictionKey = Object.hasOwn(EVICTION_MESSAGES, eviction) ? EVICTION_MESSAGES[eviction as keyof typeof EVICTION_MESSAGES] : undefined;
  const key = evictionKey ?? (Object.hasOwn(CLOSE_MESSAGES, code) ? CLOSE_MESSAGES[code as keyof typeof CLOSE_MESSAGES] : 'err.connectionLost');
  const category: ErrorCategory = code === CLOSE_CODES.EVICTED || code === CLOSE_CODES.REPLACED ? 'CALL_ENDED' : code === CLOSE_CODES.UNSUPPORTED_PROTOCOL ? 'CONFIGURATION_ISSUE' : 'NETWORK_CONNECTIVITY';
  const retry = RETRYABLE_CLOSE_CODES.has(code) && eviction !== 'kicked' && eviction !== 'banned' && eviction !== 'left-room';
  return { key, category, supportCode: eviction ? `${code} ${eviction}` : String(code), retry };
}

function explainSignalling(error: SfuClientError): Explanation {
  // A close during the call, or an application close code while connecting (4001 admission refused).
  if (error instanceof ConnectionClosedError && (error.code === 'CONNECTION_CLOSED' || error.closeCode >= 4000)) {
    return explainClose(error.closeCode, error.reason);
  }
  const key = SIGNALLING_MESSAGES[error.code];
  const category: ErrorCategory =
    error.code === 'FORBIDDEN' || error.code === 'UNAUTHORIZED' ? 'PERMISSION' : error.code === 'UNSUPPORTED' || error.code === 'MEDIA' ? 'DEVICE' : 'NETWORK_CONNECTIVITY';
  return { key, category, supportCode: error.code, retry: error.code !== 'UNSUPPORTED' && error.code !== 'FORBIDDEN' };
}

function explainMatrix(step: WidgetErrorCode, table: Readonly<Record<string, MessageKey>>, error: WidgetError, unreachableKey: MessageKey): Explanation {
  const errcode = errcodeOf(error.cause);
  const status = statusOf(error.cause);
  let key: MessageKey = STEP_MESSAGES[step];
  if (isUnreachable(error.cause)) key = unreachableKey;
  else if (errcode && Object.hasOwn(table, errcode)) key = table[errcode] as MessageKey;
  else if (step === 'ADMISSION_FAILED' && status === 404) key = 'err.config.sfu';
  const retry = key !== 'err.admission.forbidden' && key !== 'err.membership.forbidden' && key !== 'err.login.deactivated' && key !== 'err.config.sfu' && key !== 'err.admission.roomNotVisible' && key !== 'err.login.blocked';
  const detail = errcode ?? (status !== undefined ? `HTTP ${status}` : isUnreachable(error.cause) ? 'unreachable' : '');
  return { key, category: key === unreachableKey ? 'NETWORK_CONNECTIVITY' : error.category, supportCode: `${step}${detail ? ` ${detail}` : ''}`, retry };
}

/** Turns any failure into what the UI shows. Never throws. */
export function explain(error: unknown): Explanation {
  if (error instanceof SfuClientError) return explainSignalling(error);
  if (!(error instanceof WidgetError)) {
    return { key: 'err.unknown', category: 'UNKNOWN', supportCode: error instanceof Error ? error.name : 'unknown', retry: true };
  }
  switch (error.code) {
    case 'SIGNALLING_CLOSED':
      return explainClose(error.closeCode ?? 1006, error.closeReason ?? '');
    case 'SIGNALLING_FAILED':
      return error.cause instanceof SfuClientError ? explainSignalling(error.cause) : { key: 'err.connect', category: 'NETWORK_CONNECTIVITY', supportCode: error.code, retry: true };
    case 'ADMISSION_FAILED':
      return explainMatrix(error.code, ADMISSION_MESSAGES, error, 'err.connect');
    case 'LOGIN_FAILED':
      return explainMatrix(error.code, LOGIN_MESSAGES, error, 'err.login.unreachable');
    case 'MEMBERSHIP_FAILED':
      return explainMatrix(error.code, MEMBERSHIP_MESSAGES, error, 'err.connect');
    case 'ROOMS_FAILED':
      return explainMatrix(error.code, LOGIN_MESSAGES, error, 'err.login.unreachable');
    case 'MEDIA_FAILED':
    case 'SCREEN_SHARE_FAILED': {
      const name = error.cause instanceof DOMException || error.cause instanceof Error ? error.cause.name : '';
      const key = error.code === 'SCREEN_SHARE_FAILED' ? STEP_MESSAGES[error.code] : (MEDIA_MESSAGES[name] ?? STEP_MESSAGES[error.code]);
      return { key, category: 'DEVICE', supportCode: `${error.code}${name ? ` ${name}` : ''}`, retry: true };
    }
    default:
      return { key: STEP_MESSAGES[error.code], category: error.category, supportCode: error.code, retry: error.code !== 'CONFIGURATION' };
  }
}
