// Parses MatrixRTC call membership state events (`org.matrix.msc3401.call.member`, the
// state-event form matrix-js-sdk and Element Call send; src/server/matrix/README.md §1-§4) into typed values,
// and answers the two questions admission asks of them: is this membership live, and does
// its active transport ("focus") name our SFU (README.md §6).
//
// State key (README.md §1): `_{userId}_{deviceId}_{application}{callId}` in normal rooms, or the
// owned form `{userId}_{deviceId}_{application}{callId}` in MSC3757/MSC3779 room versions.
// For the room-wide call (`application` "m.call", `call_id` "") that is
// `_@alice:example.org_DEV123_m.call`. The very old per-user key `@alice:example.org`
// (content `{"memberships": [...]}`) is refused with a fault: no client that can name our
// transport sends it, and it carries no device. The older `_{userId}_{deviceId}` key
// without the application suffix is refused too.
//
// Why the state key is checked against `sender` and `content.device_id`: in normal room
// versions the auth rules tie only `@`-prefixed state keys to their sender, so any member
// allowed to send this event type can write `_@alice:…_DEV_m.call`. js-sdk takes the user
// from `sender` and ignores the key; we refuse the event instead, so that nobody can stand
// in for another user's device slot.
//
// Our transport, the entry a client puts in `foci_preferred` to use this SFU:
//
//   { "type": "org.matrix_sfu.mediasoup", "sfu_service_url": "https://sfu.example.org" }
//
// `sfu_service_url` is the base URL of our HTTP API (POST {sfu_service_url}/sfu/get); it
// plays the part of `livekit_service_url` in a LiveKit transport. Compare with namesOurSfu().
import { CallMembershipParseError } from './errors.ts';
import { parseDeviceId, parseMatrixUserId } from './types.ts';
import type { DeviceId, MatrixUserId } from './types.ts';

/** Event type of call memberships (js-sdk `EventType.GroupCallMemberPrefix`). */
export const CALL_MEMBER_EVENT_TYPE = 'org.matrix.msc3401.call.member';

/** Transport `type` of this SFU in `foci_preferred`; see the file header for the object. */
export const OUR_FOCUS_TYPE = 'org.matrix_sfu.mediasoup';

/**
 * Lifetime of a membership whose content has no `expires`: 4 h, js-sdk's
 * `DEFAULT_EXPIRE_DURATION` (README.md §2).
 */
export const DEFAULT_MEMBERSHIP_EXPIRES_MS = 14_400_000;

/**
 * Furthest an event may reach into the future: its expiry is at most `origin_server_ts` +
 * this (4 h, js-sdk's DEFAULT_EXPIRE_DURATION, plus 5 min for the refresh headroom js-sdk
 * keeps and clock skew). js-sdk grows `expires` on each refresh while keeping `created_ts`,
 * so `expires` alone cannot be bounded; the sending time can. Clients refresh at least every
 * 4 h (js-sdk 43: every hour), so a clamped membership is refreshed before it runs out.
 */
export const MAX_EXPIRES_AHEAD_MS = 14_400_000 + 300_000;

/** The two transport selection modes of `focus_active.focus_selection` (README.md §6). */
export type FocusSelection = 'oldest_membership' | 'multi_sfu';

/** A transport ("focus") object from `foci_preferred`: a string `type` plus type-specific fields. */
export interface Transport {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** `focus_active`: which selection mode the member follows. Element Call always writes type "livekit". */
export interface FocusActive {
  readonly type: string;
  /** `oldest_membership`, `multi_sfu`, or something newer; undefined if absent. */
  readonly focusSelection: string | undefined;
}

/** `underscore`: `_@user…` (normal rooms). `owned`: `@user…` (MSC3757/MSC3779 room versions). */
export type StateKeyForm = 'underscore' | 'owned';

/** A device's membership in a call, as its latest state event describes it. */
export interface CallMembership {
  readonly kind: 'joined';
  readonly eventId: string;
  readonly stateKey: string;
  readonly stateKeyForm: StateKeyForm;
  /** The event's sender, which the state key names too. */
  readonly userId: MatrixUserId;
  /** `content.device_id`, which the state key names too. Unverified: it is what the client claims. */
  readonly deviceId: DeviceId;
  /** `content.application`, "m.call" for calls. */
  readonly application: string;
  /** `content.call_id`; "" is the room-wide call. */
  readonly callId: string;
  /** `content.scope` ("m.room" in practice; deprecated). */
  readonly scope: string | undefined;
  readonly focusActive: FocusActive;
  /** `content.foci_preferred`, deep-copied and frozen; empty if absent. */
  readonly fociPreferred: readonly Transport[];
  /** `content.membershipID`, defaulting to `{userId}:{deviceId}` as js-sdk does. */
  readonly membershipId: string;
  /** `content["m.call.intent"]`, e.g. "audio" or "video". */
  readonly callIntent: string | undefined;
  /** `content.capabilities`, newer js-sdk only. */
  readonly capabilities: readonly string[] | undefined;
  readonly originServerTs: number;
  /** `content.created_ts ?? origin_server_ts`, as the client claims it (unchecked). */
  readonly claimedCreatedTs: number;
  /**
   * When the membership began, as far as this SFU believes it; orders "oldest membership".
   * The claim, never later than `origin_server_ts` (created_ts is copied from an earlier
   * event, so a later value can only be an attempt to outlive `expires`) and never earlier
   * than `origin_server_ts - MAX_EXPIRES_AHEAD_MS` (one refresh period: anything older is
   * unproven). CallStateIndex narrows this further for memberships it sees begin (README.md,
   * "Bounds on created_ts and expires").
   */
  readonly createdTs: number;
  /** `content.expires`, or {@link DEFAULT_MEMBERSHIP_EXPIRES_MS}. */
  readonly expiresMs: number;
  /**
   * `min(claimed created_ts, origin_server_ts) + expiresMs`, but at most
   * `origin_server_ts + MAX_EXPIRES_AHEAD_MS`: the membership is dead from this instant on
   * (README.md §3).
   */
  readonly expiresAtMs: number;
  /** Media identity for state memberships, `{userId}:{deviceId}` (README.md §5, "Media identity"). */
  readonly rtcBackendIdentity: string;
  /** Top-level content keys this parser does not know (js-sdk 43 application data), frozen. */
  readonly applicationData: Readonly<Record<string, unknown>>;
}

/** A device slot emptied by a leave: content without `application`, normally `{}`. */
export interface CallMembershipLeft {
  readonly kind: 'left';
  readonly eventId: string;
  readonly stateKey: string;
  readonly stateKeyForm: StateKeyForm;
  readonly userId: MatrixUserId;
  readonly originServerTs: number;
  /** `content.leave_reason` if newer js-sdk set it. */
  readonly leaveReason: string | undefined;
}

/** What one call membership state event says: a live-or-expired membership, or a leave. */
export type CallMembershipEvent = CallMembership | CallMembershipLeft;

/** Content keys with a meaning here; the rest is application data. */
const KNOWN_CONTENT_KEYS: ReadonlySet<string> = new Set([
  'application',
  'call_id',
  'scope',
  'device_id',
  'focus_active',
  'foci_preferred',
  'created_ts',
  'expires',
  'm.call.intent',
  'membershipID',
  'capabilities',
]);

/**
 * Parses a raw Matrix event (unknown JSON with `type`, `state_key`, `sender`, `content`,
 * `origin_server_ts`, `event_id`) into a {@link CallMembershipEvent}.
 *
 * Content without `application` is a leave (README.md §4, §5 step 2): `{}`, newer
 * js-sdk's `{leave_reason}`, and the old `{memberships: []}` all count.
 *
 * @throws {CallMembershipParseError} listing every fault: a malformed event or content,
 *   a state key in an unsupported form, or a state key whose user differs from `sender`
 *   or whose device differs from `content.device_id`.
 */
export function parseCallMembershipEvent(raw: unknown): CallMembershipEvent {
  const faults: string[] = [];
  if (!isRecord(raw)) throw new CallMembershipParseError(['event must be a JSON object']);

  if (raw['type'] !== CALL_MEMBER_EVENT_TYPE) faults.push(`type must be ${CALL_MEMBER_EVENT_TYPE}`);
  const eventId = raw['event_id'];
  if (typeof eventId !== 'string' || eventId.length === 0) faults.push('event_id must be a non-empty string');
  const originServerTs = raw['origin_server_ts'];
  if (!isTimestamp(originServerTs)) faults.push('origin_server_ts must be a non-negative integer');
  const sender = parseMatrixUserId(raw['sender']);
  if (sender === undefined) faults.push('sender must be a Matrix user id');
  const content = raw['content'];
  if (!isRecord(content)) faults.push('content must be a JSON object');

  const rawStateKey = raw['state_key'];
  let stateKey: ParsedStateKey | undefined;
  if (typeof rawStateKey !== 'string') {
    faults.push('state_key must be a string');
  } else {
    stateKey = splitStateKey(rawStateKey, faults);
    if (stateKey !== undefined && sender !== undefined && stateKey.userId !== sender) {
      faults.push('state_key names a different user than sender');
    }
  }

  if (!isRecord(content) || !Object.hasOwn(content, 'application')) {
    if (faults.length > 0) throw new CallMembershipParseError(faults);
    // All fields were checked above; the casts only restate that for the compiler.
    const leaveReason = (content as Record<string, unknown>)['leave_reason'];
    return Object.freeze({
      kind: 'left',
      eventId: eventId as string,
      stateKey: rawStateKey as string,
      stateKeyForm: (stateKey as ParsedStateKey).form,
      userId: sender as MatrixUserId,
      originServerTs: originServerTs as number,
      leaveReason: typeof leaveReason === 'string' ? leaveReason : undefined,
    });
  }

  const fields = parseJoinedContent(content, faults);
  if (stateKey !== undefined && fields.deviceId !== undefined && fields.application !== undefined && fields.callId !== undefined) {
    const expectedRest = `${fields.deviceId}_${fields.application}${fields.callId}`;
    if (stateKey.rest === fields.deviceId) {
      faults.push('state_key lacks the _{content.application}{content.call_id} suffix');
    } else if (!stateKey.rest.startsWith(`${fields.deviceId}_`)) {
      faults.push('state_key names a different device than content.device_id');
    } else if (stateKey.rest !== expectedRest) {
      faults.push('state_key must end in _{content.application}{content.call_id}');
    }
  }
  if (faults.length > 0) throw new CallMembershipParseError(faults);

  // Every field is now known to be valid; the casts restate the checks above.
  const userId = sender as MatrixUserId;
  const deviceId = fields.deviceId as DeviceId;
  const ots = originServerTs as number;
  const claimedCreatedTs = fields.createdTs ?? ots;
  const startTs = Math.min(claimedCreatedTs, ots);
  const createdTs = Math.max(startTs, ots - MAX_EXPIRES_AHEAD_MS);
  const expiresMs = fields.expiresMs ?? DEFAULT_MEMBERSHIP_EXPIRES_MS;
  return Object.freeze({
    kind: 'joined',
    eventId: eventId as string,
    stateKey: rawStateKey as string,
    stateKeyForm: (stateKey as ParsedStateKey).form,
    userId,
    deviceId,
    application: fields.application as string,
    callId: fields.callId as string,
    scope: fields.scope,
    focusActive: fields.focusActive as FocusActive,
    fociPreferred: fields.fociPreferred,
    membershipId: fields.membershipId ?? `${userId}:${deviceId}`,
    callIntent: fields.callIntent,
    capabilities: fields.capabilities,
    originServerTs: ots,
    claimedCreatedTs,
    createdTs,
    expiresMs,
    expiresAtMs: Math.min(startTs + expiresMs, ots + MAX_EXPIRES_AHEAD_MS),
    rtcBackendIdentity: `${userId}:${deviceId}`,
    applicationData: fields.applicationData,
  });
}

/**
 * `membership` with `createdTs` replaced by `createdTs` (still never later than its
 * `origin_server_ts`). CallStateIndex uses it to apply what it saw of the slot's history.
 */
export function withCreatedTs(membership: CallMembership, createdTs: number): CallMembership {
  return Object.freeze({ ...membership, createdTs: Math.min(createdTs, membership.originServerTs) });
}

/**
 * True while `membership` is a joined membership whose expiry lies after `nowMs`.
 * Expired means `createdTs + expiresMs <= nowMs` (README.md §3).
 */
export function isLive(membership: CallMembershipEvent, nowMs: number): membership is CallMembership {
  return membership.kind === 'joined' && nowMs < membership.expiresAtMs;
}

/**
 * The oldest membership: smallest `createdTs` (README.md §5 step 5). Ties, which js-sdk
 * leaves to state order, are broken by `rtcBackendIdentity` so every caller agrees.
 * The caller passes only memberships it already counts (live, joined, same call).
 */
export function oldestMembership(memberships: readonly CallMembership[]): CallMembership | undefined {
  let oldest: CallMembership | undefined;
  for (const candidate of memberships) {
    if (
      oldest === undefined ||
      candidate.createdTs < oldest.createdTs ||
      (candidate.createdTs === oldest.createdTs && candidate.rtcBackendIdentity < oldest.rtcBackendIdentity)
    ) {
      oldest = candidate;
    }
  }
  return oldest;
}

/**
 * The transport `own` publishes to, by its `focus_active.focus_selection`:
 * - `multi_sfu`: its own `foci_preferred[0]` (README.md §6);
 * - `oldest_membership`: `foci_preferred[0]` of the oldest membership of the same call
 *   (same `application` and `callId`) among `memberships` and `own` (README.md §6).
 *
 * Undefined when the selection is absent or unknown ("unknown selection means no
 * transport", README.md §2) or the chosen membership prefers no transport.
 *
 * @param memberships the call's current live memberships; `own` may or may not be among them.
 */
export function activeFocus(own: CallMembership, memberships: readonly CallMembership[]): Transport | undefined {
  switch (own.focusActive.focusSelection) {
    case 'multi_sfu':
      return own.fociPreferred[0];
    case 'oldest_membership': {
      const sameCall = memberships.filter(
        (m) => m.application === own.application && m.callId === own.callId,
      );
      return oldestMembership([own, ...sameCall])?.fociPreferred[0];
    }
    default:
      return undefined;
  }
}

/**
 * True if `focus` is a transport of type `ourType` whose `sfu_service_url` is
 * `ourServiceUrl`. URLs compare after normalisation: scheme and host lower-cased, default
 * port dropped, trailing `/` of the path ignored, fragment ignored. Non-http(s) URLs and
 * URLs with credentials never match.
 */
export function namesOurSfu(focus: Transport | undefined, ourType: string, ourServiceUrl: string): boolean {
  if (focus === undefined || focus.type !== ourType) return false;
  const theirs = normaliseServiceUrl(focus['sfu_service_url']);
  const ours = normaliseServiceUrl(ourServiceUrl);
  return theirs !== undefined && theirs === ours;
}

/** Transport `type` of a LiveKit focus (MSC4195); this SFU serves one when the livekit edge is on. */
export const LIVEKIT_FOCUS_TYPE = 'livekit';

/**
 * True if `focus` is a LiveKit transport whose `livekit_service_url` is `ourServiceUrl`
 * (same normalisation as namesOurSfu): `{"type": "livekit", "livekit_service_url": "<publicUrl>"}`.
 */
export function namesOurLiveKitFocus(focus: Transport | undefined, ourServiceUrl: string): boolean {
  if (focus === undefined || focus.type !== LIVEKIT_FOCUS_TYPE) return false;
  const theirs = normaliseServiceUrl(focus['livekit_service_url']);
  return theirs !== undefined && theirs === normaliseServiceUrl(ourServiceUrl);
}

/**
 * The state key a device uses for its membership (README.md §1):
 * `_{userId}_{deviceId}_{application}{callId}`, without the leading `_` in
 * MSC3757/MSC3779 rooms (`form` "owned").
 */
export function membershipStateKey(
  userId: MatrixUserId,
  deviceId: DeviceId,
  options: { readonly application?: string; readonly callId?: string; readonly form?: StateKeyForm } = {},
): string {
  const key = `${userId}_${deviceId}_${options.application ?? 'm.call'}${options.callId ?? ''}`;
  return options.form === 'owned' ? key : `_${key}`;
}

interface ParsedStateKey {
  readonly form: StateKeyForm;
  readonly userId: MatrixUserId;
  /** Everything after `{userId}_`: `{deviceId}_{application}{callId}` when well formed. */
  readonly rest: string;
}

/**
 * Splits `[_]{userId}_{rest}`. The user id ends at the first `_` after its first `:`,
 * because server names cannot contain `_` (Synapse's MSC3757 check splits the same way).
 */
function splitStateKey(stateKey: string, faults: string[]): ParsedStateKey | undefined {
  let form: StateKeyForm;
  let body: string;
  if (stateKey.startsWith('_@')) {
    form = 'underscore';
    body = stateKey.slice(1);
  } else if (stateKey.startsWith('@')) {
    form = 'owned';
    body = stateKey;
  } else {
    faults.push('state_key must start with _@ or @');
    return undefined;
  }
  const colon = body.indexOf(':');
  const underscore = colon < 0 ? -1 : body.indexOf('_', colon + 1);
  if (underscore < 0) {
    if (form === 'owned' && parseMatrixUserId(body) !== undefined) {
      faults.push('state_key is the legacy per-user form {userId}, which is not supported');
    } else {
      faults.push('state_key must be [_]{userId}_{deviceId}_{application}{callId}');
    }
    return undefined;
  }
  const userId = parseMatrixUserId(body.slice(0, underscore));
  if (userId === undefined) {
    faults.push('state_key does not start with a valid user id');
    return undefined;
  }
  return { form, userId, rest: body.slice(underscore + 1) };
}

interface JoinedFields {
  application: string | undefined;
  callId: string | undefined;
  deviceId: DeviceId | undefined;
  scope: string | undefined;
  focusActive: FocusActive | undefined;
  fociPreferred: readonly Transport[];
  createdTs: number | undefined;
  expiresMs: number | undefined;
  callIntent: string | undefined;
  membershipId: string | undefined;
  capabilities: readonly string[] | undefined;
  applicationData: Readonly<Record<string, unknown>>;
}

/** Checks the content of a joined membership (README.md §2), pushing one fault per problem. */
function parseJoinedContent(content: Record<string, unknown>, faults: string[]): JoinedFields {
  const application = content['application'];
  if (typeof application !== 'string' || application.length === 0) {
    faults.push('content.application must be a non-empty string');
  }
  const callId = content['call_id'];
  if (typeof callId !== 'string') faults.push('content.call_id must be a string');
  const deviceId = parseDeviceId(content['device_id']);
  if (deviceId === undefined) faults.push('content.device_id must be a non-empty string of at most 255 characters');

  const scope = optionalString(content, 'scope', faults);
  const callIntent = optionalString(content, 'm.call.intent', faults);
  const membershipId = optionalString(content, 'membershipID', faults);

  let focusActive: FocusActive | undefined;
  const rawFocusActive = content['focus_active'];
  if (!isRecord(rawFocusActive)) {
    faults.push('content.focus_active must be an object');
  } else {
    const type = rawFocusActive['type'];
    const selection = rawFocusActive['focus_selection'];
    if (typeof type !== 'string') faults.push('content.focus_active.type must be a string');
    if (selection !== undefined && typeof selection !== 'string') {
      faults.push('content.focus_active.focus_selection must be a string');
    }
    if (typeof type === 'string' && (selection === undefined || typeof selection === 'string')) {
      focusActive = Object.freeze({ type, focusSelection: selection });
    }
  }

  let fociPreferred: readonly Transport[] = Object.freeze([]);
  const rawFoci = content['foci_preferred'];
  if (rawFoci !== undefined) {
    if (!Array.isArray(rawFoci)) {
      faults.push('content.foci_preferred must be an array');
    } else {
      const badIndexes = rawFoci.flatMap((focus: unknown, index) =>
        isRecord(focus) && typeof focus['type'] === 'string' ? [] : [index],
      );
      if (badIndexes.length > 0) {
        faults.push(`content.foci_preferred[${badIndexes.join(', ')}] must be an object with a string type`);
      } else {
        fociPreferred = deepFreeze(structuredClone(rawFoci)) as readonly Transport[];
      }
    }
  }

  const createdTs = content['created_ts'];
  if (createdTs !== undefined && !isTimestamp(createdTs)) {
    faults.push('content.created_ts must be a non-negative integer');
  }
  const expires = content['expires'];
  if (expires !== undefined && !(typeof expires === 'number' && Number.isSafeInteger(expires) && expires > 0)) {
    faults.push('content.expires must be a positive integer');
  }

  let capabilities: readonly string[] | undefined;
  const rawCapabilities = content['capabilities'];
  if (rawCapabilities !== undefined) {
    if (Array.isArray(rawCapabilities) && rawCapabilities.every((c: unknown) => typeof c === 'string')) {
      capabilities = Object.freeze([...(rawCapabilities as string[])]);
    } else {
      faults.push('content.capabilities must be an array of strings');
    }
  }

  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(content)) {
    if (!KNOWN_CONTENT_KEYS.has(key)) extra[key] = value;
  }

  return {
    application: typeof application === 'string' && application.length > 0 ? application : undefined,
    callId: typeof callId === 'string' ? callId : undefined,
    deviceId,
    scope,
    focusActive,
    fociPreferred,
    createdTs: isTimestamp(createdTs) ? createdTs : undefined,
    expiresMs: typeof expires === 'number' && Number.isSafeInteger(expires) && expires > 0 ? expires : undefined,
    callIntent,
    membershipId,
    capabilities,
    applicationData: deepFreeze(structuredClone(extra)),
  };
}

function optionalString(content: Record<string, unknown>, key: string, faults: string[]): string | undefined {
  const value = content[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    faults.push(`content.${key} must be a string`);
    return undefined;
  }
  return value;
}

/** `scheme://host[:port]/path?query` with the path's trailing `/` removed, or undefined. */
function normaliseServiceUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    return undefined;
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}${url.search}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
