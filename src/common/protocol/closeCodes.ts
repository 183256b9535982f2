// WebSocket close codes the server uses (4000-4999 is the application range of
// RFC 6455 §7.4.2). Clients branch on them; the README documents each.

export const CLOSE_CODES = {
  /** Normal end after `leave`. */
  NORMAL: 1000,
  /** Server shutting down after the drain grace period. */
  GOING_AWAY: 1001,
  /** Frame larger than signalling.maxFrameBytes (ws enforces it before parsing). */
  MESSAGE_TOO_BIG: 1009,
  /** Server error while handling the session. */
  INTERNAL_ERROR: 1011,
  /** Admission refused: no/invalid credentials. */
  UNAUTHORIZED: 4001,
  /** Too many protocol faults (malformed, unknown or invalid requests). */
  PROTOCOL_ABUSE: 4002,
  /**
   * Request rate limit exceeded repeatedly (strikes decay over time), or more frames arrived
   * before admission finished than signalling.maxPendingFrames / maxPendingBytes allow.
   */
  RATE_LIMITED: 4003,
  /** Call membership ended (left, expired, kicked, banned, moved SFU). */
  EVICTED: 4004,
  /** Same device opened a newer session. */
  REPLACED: 4005,
  /** Draining: reconnect to another node. */
  DRAINING: 4006,
  /** Did not join within signalling.joinTimeoutMs, or missed pongs. */
  TIMEOUT: 4007,
  /** Unsupported protocol version (WebSocket subprotocol). */
  UNSUPPORTED_PROTOCOL: 4008,
  /** Conference full. */
  CONFERENCE_FULL: 4009,
  /** The conference was closed by the server with this participant inside (join again to start a new one). */
  CONFERENCE_CLOSED: 4010,
  /** The conference's media could not be rebuilt after its worker died (every retry failed); join again. */
  MEDIA_LOST: 4011,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];
