// Conversions from mediasoup-client's structures to protocol v1 wire values.
// They are parsed with the protocol's own schemas (parse, don't cast), so a
// field the server would refuse fails here with every fault named.

import type { DtlsParameters, RtpCapabilities, RtpParameters } from 'mediasoup-client/types';
import {
  dtlsParametersSchema,
  rtpCapabilitiesSchema,
  rtpParametersSchema,
  type WireDtlsParameters,
  type WireRtpCapabilities,
  type WireRtpParameters,
} from '../../common/protocol/rtp.ts';
import { parseWith, type Schema } from '../../common/protocol/schema.ts';
import { SfuClientError } from './errors.ts';

function parseOrThrow<T>(schema: Schema<T>, value: unknown, what: string, code: 'BAD_REQUEST' | 'PROTOCOL' = 'BAD_REQUEST'): T {
  const result = parseWith(schema, value, what);
  if (!result.ok) throw new SfuClientError(code, `${what} do not fit protocol v1: ${result.faults.join('; ')}`);
  return result.value;
}

/**
 * RTP parameters of a new producer. `msid` (mediasoup-client ≥ 3.18) is
 * dropped: protocol v1 does not carry it and receivers group tracks by
 * participant themselves (the consume side sets streamId).
 */
export function toWireRtpParameters(parameters: RtpParameters): WireRtpParameters {
  const { msid: _msid, ...rest } = structuredClone(parameters);
  return parseOrThrow(rtpParametersSchema, rest, 'rtpParameters');
}

/** The device's receive capabilities, announced in `join`. */
export function toWireRtpCapabilities(capabilities: RtpCapabilities): WireRtpCapabilities {
  return parseOrThrow(rtpCapabilitiesSchema, structuredClone(capabilities), 'rtpCapabilities');
}

/** The local DTLS parameters sent with `connectTransport`. */
export function toWireDtlsParameters(parameters: DtlsParameters): WireDtlsParameters {
  return parseOrThrow(dtlsParametersSchema, structuredClone(parameters), 'dtlsParameters');
}

/** The server's DTLS parameters from `createTransport` (its fingerprints typed for mediasoup-client). */
export function fromWireDtlsParameters(parameters: unknown): WireDtlsParameters {
  return parseOrThrow(dtlsParametersSchema, parameters, 'server dtlsParameters', 'PROTOCOL');
}
