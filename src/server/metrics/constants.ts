// The closed label sets of our metrics. Every label value the SFU exports
// comes from one of these lists (or is mapped to 'other'/'unknown'), so the
// number of series is bounded and no room, user or device id can leak into a
// label: label values come from closed sets only.

import { ADMISSION_REFUSALS, type AdmissionRefusal } from '../auth/errors.ts';
import type { EvictionReason } from '../auth/Admission.ts';
import { CLOSE_CODES } from '../../common/protocol/closeCodes.ts';
import { REQUEST_METHODS, WIRE_ERROR_CODES, type RequestMethod, type WireErrorCode } from '../../common/protocol/messages.ts';

/** Label value for anything outside a closed set. */
export const OTHER = 'other';

/** Prefix of every metric name (also used for the process defaults). */
export const METRIC_PREFIX = 'sfu_';

/** `method` label of signalling metrics: the request catalogue, plus 'unknown'. */
export const SIGNALLING_METHODS: readonly (RequestMethod | 'unknown')[] = [...REQUEST_METHODS, 'unknown'];
export type SignallingMethodLabel = RequestMethod | 'unknown';

/** `outcome` label of signalling requests. */
export const SIGNALLING_OUTCOMES = ['ok', 'error'] as const;
export type SignallingOutcome = (typeof SIGNALLING_OUTCOMES)[number];

/** `code` label of signalling requests: a wire error code, 'none' for success, 'other' otherwise. */
export const SIGNALLING_CODES: readonly (WireErrorCode | 'none' | 'other')[] = [...WIRE_ERROR_CODES, 'none', OTHER];
export type SignallingCodeLabel = WireErrorCode | 'none' | 'other';

/** `outcome` label of admissions (the `admission()` hook of MatrixAdmission and of the /sfu/get token endpoint). */
export const ADMISSION_OUTCOMES = ['granted', 'refused'] as const;
export type AdmissionOutcome = (typeof ADMISSION_OUTCOMES)[number];

/** `reason` label of admissions: 'ok' when granted, else a refusal from src/server/auth/errors.ts, else 'other'. */
export const ADMISSION_REASONS: readonly (AdmissionRefusal | 'ok' | 'other')[] = ['ok', ...ADMISSION_REFUSALS, OTHER];
export type AdmissionReasonLabel = AdmissionRefusal | 'ok' | 'other';

/** `reason` label of evictions: every EvictionReason of src/server/auth/Admission.ts, plus 'other'. */
export const EVICTION_REASONS = [
  'membership-ended',
  'membership-expired',
  'membership-redacted',
  'moved-sfu',
  'left-room',
  'kicked',
  'banned',
  OTHER,
] as const satisfies readonly (EvictionReason | 'other')[];
export type EvictionReasonLabel = (typeof EVICTION_REASONS)[number];

// Compile-time check that EVICTION_REASONS lists every EvictionReason: this
// line stops compiling when a reason is added to the union but not here.
const evictionReasonsComplete: Exclude<EvictionReason, EvictionReasonLabel> extends never ? true : false = true;
void evictionReasonsComplete;

/**
 * `code` label of WebSocket closes: our close codes (src/common/protocol/closeCodes.ts)
 * plus 1005 (no status) and 1006 (abnormal closure, e.g. a dropped TCP
 * connection), which ws reports for peers that vanish; anything else is 'other'.
 */
export const CLOSE_CODE_LABELS: readonly string[] = [...Object.values(CLOSE_CODES).map(String), '1005', '1006', OTHER];

/** `reason` label of sfu_consumer_refusals_total: which cap refused the consumer. */
export const CONSUMER_REFUSAL_REASONS = ['participant_limit', 'worker_limit'] as const;
export type ConsumerRefusalLabel = (typeof CONSUMER_REFUSAL_REASONS)[number];

/** `reason` label of sfu_join_refusals_total: why admission control refused a join. */
export const JOIN_REFUSAL_REASONS = ['worker_overloaded'] as const;
export type JoinRefusalLabel = (typeof JOIN_REFUSAL_REASONS)[number];

/** `path` label of sfu_transport_ice_paths_total: the selected ICE tuple's remote address is a TURN relay (turn.relayAddresses) or not. */
export const ICE_PATHS = ['direct', 'relay'] as const;
export type IcePathLabel = (typeof ICE_PATHS)[number];

/** `edge` label of sfu_turn_credentials_issued_total: which signalling edge handed the credential out. */
export const TURN_EDGES = ['native', 'livekit'] as const;
export type TurnEdgeLabel = (typeof TURN_EDGES)[number];

/** `edge` label of sessions, admissions and participants: the signalling edge (our protocol at /ws, LiveKit's at /rtc). */
export const EDGES = ['native', 'livekit'] as const;
export type EdgeLabel = (typeof EDGES)[number];

/** `kind` label of media metrics. */
export const MEDIA_KINDS = ['audio', 'video'] as const;
export type MediaKindLabel = (typeof MEDIA_KINDS)[number];

/** `direction` label of media metrics, seen from the SFU: 'in' = from senders (producers), 'out' = to receivers (consumers). */
export const MEDIA_DIRECTIONS = ['in', 'out'] as const;
export type MediaDirection = (typeof MEDIA_DIRECTIONS)[number];

/** `mode` label of worker CPU time (getrusage ru_utime / ru_stime). */
export const CPU_MODES = ['user', 'system'] as const;

/** Returns `value` if it is in `set`, else `fallback`. */
export function closedLabel<T extends string>(set: readonly T[], value: string, fallback: T): T {
  return (set as readonly string[]).includes(value) ? (value as T) : fallback;
}
