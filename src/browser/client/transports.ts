// Creates a mediasoup-client send or receive transport for a server-side
// WebRtcTransport and wires its events to signalling: 'connect' becomes
// connectTransport, 'produce' becomes produce (with the publication's source
// and paused state from appData), and a failed ICE connection triggers one
// restartIce per failure.

import type { Device } from 'mediasoup-client';
import type { IceCandidate, Transport } from 'mediasoup-client/types';
import type { MediaSource } from '../../common/protocol/messages.ts';
import type { Signalling } from './Signalling.ts';
import type { ClientLogger } from './types.ts';
import { fromWireDtlsParameters, toWireDtlsParameters, toWireRtpParameters } from './wire.ts';

/** What the produce handler reads from a producer's appData. */
export interface ProduceAppData {
  readonly source: MediaSource;
  readonly paused: boolean;
  [key: string]: unknown;
}

/** Inputs of createTransport(). */
export interface CreateTransportOptions {
  readonly direction: 'send' | 'recv';
  readonly device: Device;
  readonly signalling: Pick<Signalling, 'request'>;
  readonly logger: ClientLogger;
  readonly iceServers?: RTCIceServer[];
  readonly iceTransportPolicy?: RTCIceTransportPolicy;
  readonly preferTcp?: boolean;
  /** Sets Chromium's encodedInsertableStreams (needed by createEncodedStreams()). */
  readonly encodedInsertableStreams?: boolean;
}

/** Asks the server for a transport and builds the local end. */
export async function createTransport(options: CreateTransportOptions): Promise<Transport> {
  const { direction, signalling, logger } = options;
  const info = await signalling.request('createTransport', {
    direction,
    ...(options.preferTcp ? { preferTcp: true } : {}),
  });
  const iceCandidates: IceCandidate[] = info.iceCandidates.map((candidate) => ({
    ...candidate,
    // mediasoup 3.12 sends the deprecated `ip` only; mediasoup-client reads `address` first.
    address: candidate.address ?? candidate.ip,
  }));
  // `encodedInsertableStreams` is a Chromium-only RTCConfiguration member missing from the DOM types.
  const additionalSettings = (options.encodedInsertableStreams ? { encodedInsertableStreams: true } : {}) as Partial<RTCConfiguration>;
  const transportOptions = {
    id: info.transportId,
    iceParameters: info.iceParameters,
    iceCandidates,
    dtlsParameters: fromWireDtlsParameters(info.dtlsParameters),
    iceServers: options.iceServers ?? [],
    iceTransportPolicy: options.iceTransportPolicy ?? 'all',
    additionalSettings,
  };
  const transport =
    direction === 'send'
      ? options.device.createSendTransport(transportOptions)
      : options.device.createRecvTransport(transportOptions);
  const transportId = transport.id;

  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    Promise.resolve()
      .then(() => signalling.request('connectTransport', { transportId, dtlsParameters: toWireDtlsParameters(dtlsParameters) }))
      .then(() => callback(), errback);
  });

  if (direction === 'send') {
    transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      const { source, paused } = appData as ProduceAppData;
      Promise.resolve()
        .then(() =>
          signalling.request('produce', {
            transportId,
            kind,
            rtpParameters: toWireRtpParameters(rtpParameters),
            source,
            ...(paused ? { paused: true } : {}),
          }),
        )
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });
  }

  transport.on('connectionstatechange', (state) => {
    logger.debug('transport connection state', { transportId, direction, state });
    if (state !== 'failed' || transport.closed) return;
    logger.warn('transport failed; restarting ICE', { transportId, direction });
    signalling
      .request('restartIce', { transportId })
      .then(({ iceParameters }) => (transport.closed ? undefined : transport.restartIce({ iceParameters })))
      .catch((error: unknown) => logger.warn('ICE restart failed', { transportId, error: String(error) }));
  });
  return transport;
}
