// Media defaults of the browser client: the simulcast ladder and codec
// options. Numbers follow mediasoup-demo's and libwebrtc's usual ladder for a
// 640x480..1280x720 camera; the SFU picks a layer per receiver.

import type { ProducerCodecOptions, RtpEncodingParameters } from 'mediasoup-client/types';

/**
 * Default simulcast layers, lowest first (mediasoup's spatial layer 0 is the
 * first encoding). ¼, ½ and full resolution, three temporal layers each
 * (L1T3) so the SFU can also drop frame rate. mediasoup-client names them
 * r0..r2 itself; we use the same rids so the wire shows what we meant.
 */
export const SIMULCAST_ENCODINGS: readonly Readonly<RtpEncodingParameters>[] = Object.freeze([
  Object.freeze({ rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: 'L1T3' }),
  Object.freeze({ rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: 'L1T3' }),
  Object.freeze({ rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, scalabilityMode: 'L1T3' }),
]);

/** Default Opus options: in-band FEC against loss, DTX to save bandwidth in silence. */
export const AUDIO_CODEC_OPTIONS: Readonly<ProducerCodecOptions> = Object.freeze({ opusFec: true, opusDtx: true });

/** Default video options: start at 1 Mbps (matches the router's x-google-start-bitrate). */
export const VIDEO_CODEC_OPTIONS: Readonly<ProducerCodecOptions> = Object.freeze({ videoGoogleStartBitrate: 1000 });

/** consumerCreated notifications kept while no receive transport exists; older ones are dropped beyond this. */
export const MAX_BUFFERED_CONSUMERS = 512;

/** Poll period of getStats() while waiting for a consumer's first decoded frame. */
export const FIRST_MEDIA_POLL_MS = 20;
