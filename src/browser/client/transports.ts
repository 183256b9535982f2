// Creates a mediasoup-client send or receive transport for a server-side
// WebRtcTransport and wires its events to signalling: 'connect' becomes
// connectTransport, 'produce' becomes produce (with the publication's source
// and paused state from appData), and a failed ICE connection triggers one
// restartIce per failure. Once connected it reports the media path (direct or through a
// TURN relay); a failure reports `failed`.

import type { Device } from 'mediasoup-client';
import type { IceCandidate, Transport } from 'mediasoup-client/types';
import type { MediaSource } from '../../common/protocol/messages.ts';
import type { Signalling } from './Signalling.ts';
import type { ClientLogger } from './types.ts';
import { fromWireDtlsParameters, toWireDtlsParameters, toWireRtpParameters } from './wire.ts';
import { selectedPath, type MediaPath, type StatsLike } from './mediaPath.ts';

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
  /** Send: every produce says `encrypted: true` (E2EE on). */
  readonly encryptedMedia?: boolean;
  /** Told the path once connected (relay = through TURN), and `failed` when ICE fails. */
  readonly onPath?: (path: MediaPath) => void;
}

/**
 * A transport that has not connected this long after its first negotiation (the `connect`
 * event) counts as `failed`: with no usable candidate pair at all (every relay refused,
 * UDP and TCP blocked) browsers stay in `checking` instead of reaching `failed`.
 */
export const CONNECT_DEADLINE_MS = 20_000;

/** Reads of the selected pair after `connected` (stats can lag the state by a moment). */
const PATH_READS = 5;
const PATH_READ_INTERVAL_MS = 300;

/** Reads the selected candidate pair's path a few times until the stats name one. */
async function reportPath(transport: Transport, onPath: (path: MediaPath) => void, logger: ClientLogger): Promise<void> {
  for (let attempt = 0; attempt < PATH_READS && !transport.closed; attempt++) {
    const path = selectedPath((await transport.getStats()) as unknown as StatsLike);
    if (path) {
      logger.info('media path', { transportId: transport.id, path });
      onPath(path);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, PATH_READ_INTERVAL_MS));
  }
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

  let deadline: ReturnType<typeof setTimeout> | undefined;
  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    if (options.onPath && deadline === undefined) {
      deadline = setTimeout(() => {
        if (transport.closed || transport.connectionState === 'connected') return;
        logger.warn('transport did not connect in time: neither directly nor through a relay', { transportId, direction, state: transport.connectionState });
        options.onPath?.('failed');
      }, CONNECT_DEADLINE_MS);
    }
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
            ...(options.encryptedMedia ? { encrypted: true } : {}),
          }),
        )
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });
  }

  transport.on('connectionstatechange', (state) => {
    logger.debug('transport connection state', { transportId, direction, state });
    if (state === 'connected' || state === 'closed') clearTimeout(deadline);
    if (state === 'connected' && options.onPath) {
      reportPath(transport, options.onPath, logger).catch((error: unknown) => logger.debug('cannot read the media path', { transportId, error: String(error) }));
    }
    if (state !== 'failed' || transport.closed) return;
    options.onPath?.('failed');
    logger.warn('transport failed; restarting ICE', { transportId, direction });
    signalling
      .request('restartIce', { transportId })
      .then(({ iceParameters }) => (transport.closed ? undefined : transport.restartIce({ iceParameters })))
      .catch((error: unknown) => logger.warn('ICE restart failed', { transportId, error: String(error) }));
  });
  return transport;
}
