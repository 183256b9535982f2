// What the call does after the SFU closes its signalling socket: one row per close code of
// src/common/protocol/closeCodes.ts (plus 1006, closed without a close frame). The table's
// type lists every code, so a new server close code fails the typecheck until it has a row
// here (and a sentence in explain.ts).
//
// - `reconnect`: the membership is still live; get a new JWT, open a new socket, join and
//   re-publish (a worker or conference that was lost, a draining node, a dropped socket),
//   trying again for up to RECONNECT_BUDGET_MS (a dead node takes up to its registry's
//   timeout to be replaced).
// - `backoff`: the same, after a longer, jittered pause (the server rate-limited us, or
//   cannot check memberships right now); also retried when it refuses the first connect.
// - `end`: the call ends and the UI says why (evicted with its reason, refused, full, abuse).
// - `end-quietly`: the call ends here without an error, because it goes on elsewhere (this
//   device joined again in another window; the newer session owns the membership).

import { CLOSE_CODES, type CloseCode } from '../../../common/protocol/closeCodes.ts';
import { backoffDelayMs } from '../../client/matrix/retry.ts';

/** What to do after a close. */
export type CloseAction = 'reconnect' | 'backoff' | 'end' | 'end-quietly';

/** Abnormal closure: the socket dropped without a close frame (RFC 6455 §7.4.1). */
export const ABNORMAL_CLOSURE = 1006;
/**
 * Try again later (IANA WebSocket close code registry): the SFU refuses new sessions while
 * its Matrix view is stale (homeserver unreachable) and it cannot check the membership.
 */
export const TRY_AGAIN_LATER = 1013;

/** The action of each close code. */
export const CLOSE_ACTIONS: Readonly<Record<CloseCode | typeof ABNORMAL_CLOSURE | typeof TRY_AGAIN_LATER, CloseAction>> = Object.freeze({
  [CLOSE_CODES.NORMAL]: 'end',
  [CLOSE_CODES.GOING_AWAY]: 'reconnect',
  [ABNORMAL_CLOSURE]: 'reconnect',
  [CLOSE_CODES.MESSAGE_TOO_BIG]: 'end',
  [CLOSE_CODES.INTERNAL_ERROR]: 'reconnect',
  [TRY_AGAIN_LATER]: 'backoff',
  [CLOSE_CODES.UNAUTHORIZED]: 'end',
  [CLOSE_CODES.PROTOCOL_ABUSE]: 'end',
  [CLOSE_CODES.RATE_LIMITED]: 'backoff',
  [CLOSE_CODES.EVICTED]: 'end',
  [CLOSE_CODES.REPLACED]: 'end-quietly',
  [CLOSE_CODES.DRAINING]: 'reconnect',
  [CLOSE_CODES.TIMEOUT]: 'reconnect',
  [CLOSE_CODES.UNSUPPORTED_PROTOCOL]: 'end',
  [CLOSE_CODES.CONFERENCE_FULL]: 'end',
  [CLOSE_CODES.CONFERENCE_CLOSED]: 'reconnect',
  [CLOSE_CODES.MEDIA_LOST]: 'reconnect',
});

/** The action for `code`; unknown codes end the call (the server meant "stop"). */
export function closeActionOf(code: number): CloseAction {
  return Object.hasOwn(CLOSE_ACTIONS, code) ? CLOSE_ACTIONS[code as keyof typeof CLOSE_ACTIONS] : 'end';
}

/** Whether the close means the call may go on with a new connection. */
export function mayReconnect(code: number): boolean {
  const action = closeActionOf(code);
  return action === 'reconnect' || action === 'backoff';
}

/** Whether a call that ended with `error` ended quietly (it goes on elsewhere; keep the membership, show no error). */
export function endsQuietly(error: { readonly closeCode?: number | undefined } | undefined): boolean {
  return error?.closeCode !== undefined && closeActionOf(error.closeCode) === 'end-quietly';
}

/**
 * How long a call keeps trying to reconnect after a dropped socket or a lost node, from the
 * drop: a SIGKILLed node's rooms move only once its registry record expires
 * (`cluster.nodeTimeoutMs`, up to 60 s, 3 s by default), and until then every token reply
 * still names the dead node. Tries go on while this lasts, unless the service refuses us.
 */
export const RECONNECT_BUDGET_MS = 30_000;

/**
 * Reconnect pacing per action (exponential back-off with equal jitter, capped at `maxMs`):
 * `reconnect` tries until RECONNECT_BUDGET_MS has passed since the drop, `backoff` (rate
 * limited, "try again later") a fixed number of times.
 */
export const RECONNECT_PACING = Object.freeze({
  reconnect: { budgetMs: RECONNECT_BUDGET_MS, baseMs: 1000, maxMs: 4000 },
  backoff: { attempts: 5, baseMs: 5000, maxMs: 60_000 },
} as const);

/**
 * The pause before reconnect try number `attempt` (1 = the first) of `action`, or undefined
 * when the tries are used up: `backoff` after RECONNECT_PACING.backoff.attempts tries,
 * `reconnect` when the try would start after the budget (`elapsedMs` = time since the drop).
 */
export function reconnectDelayMs(action: 'reconnect' | 'backoff', attempt: number, elapsedMs: number, random?: () => number): number | undefined {
  const pacing = RECONNECT_PACING[action];
  const delay = backoffDelayMs(attempt, { baseMs: pacing.baseMs, maxMs: pacing.maxMs, ...(random ? { random } : {}) });
  if ('attempts' in pacing) return attempt <= pacing.attempts ? delay : undefined;
  return elapsedMs + delay <= pacing.budgetMs ? delay : undefined;
}
