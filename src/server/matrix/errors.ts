// Errors raised while turning Matrix data into typed values. Each carries a stable `code`
// that callers branch on; the detail stays in `faults`, for logs, not for public replies.

/**
 * An `org.matrix.msc3401.call.member` event that is not a usable call membership.
 * `faults` lists every problem found, not only the first.
 */
export class CallMembershipParseError extends Error {
  override readonly name = 'CallMembershipParseError';
  /** Stable code for the edge's error table. */
  readonly code = 'MATRIX_CALL_MEMBERSHIP_INVALID';
  /** One human-readable line per fault, e.g. `content.device_id must be a non-empty string`. */
  readonly faults: readonly string[];

  constructor(faults: readonly string[]) {
    super(`invalid call membership event: ${faults.join('; ')}`);
    this.faults = Object.freeze([...faults]);
  }
}
