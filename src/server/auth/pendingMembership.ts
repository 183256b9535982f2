// Tokens issued before the call membership exists ("pending" tokens), and their binding to
// the membership at connect time.
//
// Element Call asks the token service for its token first and publishes its call membership
// only after it has one (it validates the focus with the token before advertising it), so a
// joined room member whose device has no call membership yet (`no_membership`) gets a token
// whose `membership` claim is PENDING_MEMBERSHIP. Such a token admits nothing by itself: the
// connect (either edge) binds it to the device's live membership naming this SFU, waiting up
// to `waitMs` for that membership to reach the SFU's sync (the client sends it while it
// connects). Without a live membership by then the connect is refused (`no_membership`), so
// the rule "no media session without a live call membership" holds for these tokens too.
// A token minted for a membership stays bound to it: a replaced membership refuses it.

import { AdmissionError } from './errors.ts';
import type { MembershipCheck, MembershipView } from './types.ts';

/** The `membership` claim of a token issued before the device had a call membership. */
export const PENDING_MEMBERSHIP = 'pending';

/** How long a connect with a pending token waits for the membership to appear. */
export const PENDING_MEMBERSHIP_WAIT_MS = 10_000;

const POLL_MS = 100;

/** The membership id a token names for a check result: the live one, or pending for a device without one. */
export function tokenMembershipFor(check: MembershipCheck): string | undefined {
  if (check.ok) return check.membershipId;
  return check.reason === 'no_membership' ? PENDING_MEMBERSHIP : undefined;
}

/** What bindMembership() needs to know about the token. */
export interface BindRequest {
  readonly room: string;
  readonly user: string;
  readonly device: string;
  /** The token's `membership` claim. */
  readonly membership: string;
  /** Which check applies: publisher (focus is this SFU) or subscriber (MembershipView.checkSubscriber). */
  readonly role: 'publisher' | 'subscriber';
}

/**
 * The live membership a token stands on. A bound token needs its own membership still live;
 * a pending token takes the device's live membership, waiting up to `waitMs` (polled every
 * 100 ms, bounded) while the device has none. Throws AdmissionError `membership_ended` (the
 * named membership is gone or replaced) or `no_membership` (a pending token found none in time).
 */
export async function bindMembership(
  view: MembershipView,
  request: BindRequest,
  options: { waitMs: number; sleep?: (ms: number) => Promise<void>; now?: () => number },
): Promise<MembershipCheck & { ok: true }> {
  const check = (): MembershipCheck =>
    request.role === 'publisher'
      ? view.check(request.room, request.user, request.device)
      : (view.checkSubscriber?.(request.room, request.user, request.device) ?? { ok: false, reason: 'membership_other_sfu' });
  let result = check();
  if (request.membership !== PENDING_MEMBERSHIP) {
    if (!result.ok) throw new AdmissionError('membership_ended', `membership not live (${result.reason})`);
    if (result.membershipId !== request.membership) throw new AdmissionError('membership_ended', 'membership replaced since the token was issued');
    return result;
  }
  const now = options.now ?? (() => Date.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = now() + options.waitMs;
  while (!result.ok && result.reason === 'no_membership' && now() < deadline) {
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - now())));
    result = check();
  }
  if (!result.ok) throw new AdmissionError(result.reason === 'no_membership' ? 'no_membership' : 'membership_ended', `pending token: no live membership (${result.reason})`);
  return result;
}
