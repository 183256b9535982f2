// The transports our clients advertise in their call membership (`foci_preferred`), so that
// Element Call users in the same room see them. Element Call (matrix-js-sdk's MatrixRTC) only
// connects to `livekit` transports: a member whose first preferred focus is anything else is an
// empty tile to it. When this SFU also serves as a LiveKit focus (its LiveKit edge, on by
// default), our clients therefore name it first as `{type: "livekit", livekit_service_url}`
// with our service URL, which the SFU counts as itself, and our own transport second. Element
// Call then fetches a token from the same SFU and finds our participant under the LiveKit
// identity it derives from a membership, `{userId}:{deviceId}`, which is our participant id.

/** Our own transport, as it appears in `foci_preferred`. */
export interface SfuFocus {
  readonly type: string;
  readonly sfu_service_url: string;
}

/** A MatrixRTC LiveKit transport (MSC4195). */
export interface LiveKitFocus {
  readonly type: 'livekit';
  readonly livekit_service_url: string;
}

/** The LiveKit focus naming the SFU at `sfuServiceUrl`. */
export function liveKitFocusOf(sfuServiceUrl: string): LiveKitFocus {
  return { type: 'livekit', livekit_service_url: sfuServiceUrl.replace(/\/+$/, '') };
}

/**
 * Whether the SFU at `sfuServiceUrl` serves a LiveKit focus: its MSC4195 token endpoint
 * (`/get_token`) answers a CORS preflight-style `OPTIONS` with 204; without the LiveKit edge
 * the path is unknown (404). Any failure (network, timeout) counts as no. Bounded by `timeoutMs`.
 */
export async function servesLiveKitFocus(
  sfuServiceUrl: string,
  options: { readonly timeoutMs?: number; readonly fetch?: typeof fetch; readonly logger?: { debug(message: string, fields?: Record<string, unknown>): void } } = {},
): Promise<boolean> {
  const doFetch = options.fetch ?? fetch;
  try {
    const response = await doFetch(`${sfuServiceUrl.replace(/\/+$/, '')}/get_token`, { method: 'OPTIONS', signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
    return response.status === 204;
  } catch (error) {
    options.logger?.debug('LiveKit focus probe failed; advertising our own transport only', { error: String(error) });
    return false;
  }
}

/**
 * `foci_preferred` of our membership: with a LiveKit focus at the same SFU, that first (the
 * active focus in multi_sfu selection, the one Element Call reads), then our transport.
 */
export function preferredFoci(focus: SfuFocus, liveKit: boolean): Array<SfuFocus | LiveKitFocus> {
  return liveKit ? [liveKitFocusOf(focus.sfu_service_url), focus] : [focus];
}
