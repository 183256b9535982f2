// mediasoup types re-exported for the rest of our code, so that src/server/media stays
// the only module importing mediasoup itself (type-only imports elsewhere).

import type { types as ms } from 'mediasoup';

export type Worker = ms.Worker;
export type Router = ms.Router;
export type WebRtcServer = ms.WebRtcServer;
export type WebRtcTransport = ms.WebRtcTransport;
export type Producer = ms.Producer;
export type Consumer = ms.Consumer;
export type DirectTransport = ms.DirectTransport;
export type PipeTransport = ms.PipeTransport;
export type DataProducer = ms.DataProducer;
export type DataConsumer = ms.DataConsumer;
export type ActiveSpeakerObserver = ms.ActiveSpeakerObserver;
export type RtpCapabilities = ms.RtpCapabilities;
export type RtpParameters = ms.RtpParameters;
export type DtlsParameters = ms.DtlsParameters;
export type RtpCodecCapability = ms.RtpCodecCapability;
/** A router's media codec: mediasoup picks the payload type (3.19 types it apart from RtpCodecCapability). */
export type RouterRtpCodecCapability = ms.RouterRtpCodecCapability;
export type MediaKind = ms.MediaKind;
export type IceParameters = ms.IceParameters;
export type IceCandidate = ms.IceCandidate;
