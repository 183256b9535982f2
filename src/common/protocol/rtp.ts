// Schemas of the mediasoup/ORTC structures that cross the wire (RTP parameters
// and capabilities, DTLS parameters). Bounded sizes everywhere; mediasoup
// re-validates semantics (codec matching, payload types) behind us.

import { arr, literal, num, obj, opt, record, str, strOrNum, bool, type Infer } from './schema.ts';

const rtcpFeedback = obj({ type: str({ maxLength: 32 }), parameter: opt(str({ maxLength: 32 })) });

const codecParameters = record(strOrNum(), { maxKeys: 32 });

/** One codec of RtpParameters. */
export const rtpCodecParametersSchema = obj({
  mimeType: str({ maxLength: 64, pattern: /^(audio|video)\/[A-Za-z0-9._-]+$/ }),
  payloadType: num({ int: true, min: 0, max: 127 }),
  clockRate: num({ int: true, min: 1, max: 1_000_000 }),
  channels: opt(num({ int: true, min: 1, max: 8 })),
  parameters: opt(codecParameters),
  rtcpFeedback: opt(arr(rtcpFeedback, { maxItems: 16 })),
});

const headerExtensionParameters = obj({
  uri: str({ maxLength: 256 }),
  id: num({ int: true, min: 1, max: 255 }),
  encrypt: opt(bool()),
  parameters: opt(codecParameters),
});

const encoding = obj({
  ssrc: opt(num({ int: true, min: 0, max: 0xffffffff })),
  rid: opt(str({ maxLength: 32 })),
  codecPayloadType: opt(num({ int: true, min: 0, max: 127 })),
  rtx: opt(obj({ ssrc: num({ int: true, min: 0, max: 0xffffffff }) })),
  dtx: opt(bool()),
  scalabilityMode: opt(str({ maxLength: 16 })),
  scaleResolutionDownBy: opt(num({ min: 1, max: 64 })),
  maxBitrate: opt(num({ int: true, min: 0, max: 100_000_000 })),
  maxFramerate: opt(num({ min: 0, max: 120 })),
  adaptivePtime: opt(bool()),
  priority: opt(literal('very-low', 'low', 'medium', 'high')),
  networkPriority: opt(literal('very-low', 'low', 'medium', 'high')),
  active: opt(bool()),
});

/** RtpParameters sent with `produce`. */
export const rtpParametersSchema = obj({
  mid: opt(str({ maxLength: 32 })),
  codecs: arr(rtpCodecParametersSchema, { maxItems: 16 }),
  headerExtensions: opt(arr(headerExtensionParameters, { maxItems: 16 })),
  encodings: opt(arr(encoding, { maxItems: 4 })),
  rtcp: opt(obj({ cname: opt(str({ maxLength: 128 })), reducedSize: opt(bool()), mux: opt(bool()) })),
});
export type WireRtpParameters = Infer<typeof rtpParametersSchema>;

const capabilityCodec = obj({
  kind: literal('audio', 'video'),
  mimeType: str({ maxLength: 64, pattern: /^(audio|video)\/[A-Za-z0-9._-]+$/ }),
  preferredPayloadType: opt(num({ int: true, min: 0, max: 127 })),
  clockRate: num({ int: true, min: 1, max: 1_000_000 }),
  channels: opt(num({ int: true, min: 1, max: 8 })),
  parameters: opt(codecParameters),
  rtcpFeedback: opt(arr(rtcpFeedback, { maxItems: 16 })),
});

const capabilityExtension = obj({
  kind: literal('audio', 'video'),
  uri: str({ maxLength: 256 }),
  preferredId: num({ int: true, min: 1, max: 255 }),
  preferredEncrypt: opt(bool()),
  direction: opt(literal('sendrecv', 'sendonly', 'recvonly', 'inactive')),
});

/** RtpCapabilities a receiving device announces in `join`. */
export const rtpCapabilitiesSchema = obj({
  codecs: opt(arr(capabilityCodec, { maxItems: 64 })),
  headerExtensions: opt(arr(capabilityExtension, { maxItems: 32 })),
});
export type WireRtpCapabilities = Infer<typeof rtpCapabilitiesSchema>;

/** DtlsParameters sent with `connectTransport`. */
export const dtlsParametersSchema = obj({
  role: opt(literal('auto', 'client', 'server')),
  fingerprints: arr(
    obj({
      algorithm: literal('sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'),
      value: str({ maxLength: 200, pattern: /^[0-9A-Fa-f:]+$/ }),
    }),
    { maxItems: 8 },
  ),
});
export type WireDtlsParameters = Infer<typeof dtlsParametersSchema>;
