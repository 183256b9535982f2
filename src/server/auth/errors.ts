// Admission errors: a closed set of precise reasons (logged and counted) mapped
// once to an HTTP status and a Matrix error envelope whose message stays
// generic (lk-jwt-service's `{errcode, error}`), and to a WebSocket close.

/** Every reason an admission can be refused for; also the metric label set. */
export const ADMISSION_REFUSALS = [
  'bad_body',
  'body_too_large',
  'server_not_allowed',
  'server_discovery_failed',
  'openid_invalid',
  'user_server_mismatch',
  'not_joined',
  'no_membership',
  'membership_other_sfu',
  'membership_expired',
  'jwt_missing',
  'jwt_malformed',
  'jwt_bad_signature',
  'jwt_bad_algorithm',
  'jwt_unknown_kid',
  'jwt_expired',
  'jwt_not_yet_valid',
  'jwt_wrong_audience',
  'jwt_wrong_issuer',
  'jwt_bad_claims',
  'jwt_replayed',
  'membership_ended',
  'rate_limited',
  'not_ready',
  'sync_stale',
  'homeserver_unavailable',
  'federation_refused',
  'room_not_visible',
  'cluster_unavailable',
] as const;

export type AdmissionRefusal = (typeof ADMISSION_REFUSALS)[number];

interface RefusalRow {
  readonly status: 400 | 401 | 403 | 404 | 413 | 429 | 503;
  readonly errcode: string;
  readonly message: string;
  /** Seconds for a `Retry-After` header (refusals the client should retry). */
  readonly retryAfterS?: number;
}

/** HTTP status, Matrix errcode and public message of each refusal. */
export const REFUSAL_TABLE: Record<AdmissionRefusal, RefusalRow> = {
  bad_body: { status: 400, errcode: 'M_BAD_JSON', message: 'The request body is not valid.' },
  body_too_large: { status: 413, errcode: 'M_TOO_LARGE', message: 'The request body is too large.' },
  server_not_allowed: { status: 403, errcode: 'M_FORBIDDEN', message: 'This homeserver may not use this SFU.' },
  server_discovery_failed: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'The OpenID token could not be verified.' },
  openid_invalid: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'The OpenID token could not be verified.' },
  user_server_mismatch: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'The OpenID token could not be verified.' },
  not_joined: { status: 403, errcode: 'M_FORBIDDEN', message: 'You are not in a call in this room on this SFU.' },
  no_membership: { status: 403, errcode: 'M_FORBIDDEN', message: 'You are not in a call in this room on this SFU.' },
  membership_other_sfu: { status: 403, errcode: 'M_FORBIDDEN', message: 'You are not in a call in this room on this SFU.' },
  membership_expired: { status: 403, errcode: 'M_FORBIDDEN', message: 'You are not in a call in this room on this SFU.' },
  jwt_missing: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_malformed: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_bad_signature: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_bad_algorithm: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_unknown_kid: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_expired: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_not_yet_valid: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_wrong_audience: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_wrong_issuer: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_bad_claims: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  jwt_replayed: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'Not authorised.' },
  membership_ended: { status: 403, errcode: 'M_FORBIDDEN', message: 'You are not in a call in this room on this SFU.' },
  rate_limited: { status: 429, errcode: 'M_LIMIT_EXCEEDED', message: 'Too many requests.', retryAfterS: 5 },
  not_ready: { status: 503, errcode: 'M_UNKNOWN', message: 'The SFU is not ready; try again shortly.', retryAfterS: 5 },
  sync_stale: { status: 503, errcode: 'M_UNKNOWN', message: 'The SFU cannot reach its homeserver; try again shortly.', retryAfterS: 5 },
  cluster_unavailable: { status: 503, errcode: 'M_UNKNOWN', message: 'The SFU cluster cannot place calls right now; try again shortly.', retryAfterS: 5 },
  // Connection refused, timeout, 5xx or 429 from the user's homeserver: not a verdict on the token.
  homeserver_unavailable: { status: 503, errcode: 'M_UNKNOWN', message: 'Your homeserver could not be reached; try again shortly.', retryAfterS: 5 },
  // A federation answer we will not use: redirect, oversized, or an address we do not call.
  federation_refused: { status: 401, errcode: 'M_UNAUTHORIZED', message: 'The OpenID token could not be verified.' },
  // No source of room state sees the room (the SFU account is not in it, no admin API source
  // reads it). 404, not 403: clients retry a 403 while the SFU's sync catches up; this will not change.
  room_not_visible: {
    status: 404,
    // Our own errcode (Java package naming, as the spec asks of non-M_ codes): a client must tell
    // it apart from the M_NOT_FOUND of a wrong URL.
    errcode: 'ORG.MATRIX_SFU.ROOM_NOT_VISIBLE',
    message:
      "This SFU cannot see this room, so it cannot check your call membership. Invite the SFU's Matrix account to the room, or ask the SFU's operator to let it read rooms through the homeserver's admin API (matrix.adminTokenFile).",
  },
};

/** A refused admission with its precise (logged, never sent) reason. */
export class AdmissionError extends Error {
  readonly reason: AdmissionRefusal;
  constructor(reason: AdmissionRefusal, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'AdmissionError';
    this.reason = reason;
  }
}
