// The baseline of the A/B comparison: bare mediasoup (the same package, one worker, one
// WebRtcServer, one router with the SFU's codecs) behind the smallest server that speaks
// enough of protocol v1 for the load generator: getRouterRtpCapabilities, join
// (autoSubscribe), createTransport, connectTransport, produce, resumeConsumer(s),
// setConsumerPreferredLayers, leave, and consumerCreated / consumerLayersChanged
// notifications. No metrics, no stats polling, no active-speaker
// observer, no queues, no admission: whatever our SFU spends beyond this is its own cost.
// Transports and producers get the same options the SFU gives them (bitrates, key-frame
// request delay), so the worker does the same media work. Trusts its input: load tests only.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mediasoup from 'mediasoup';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Consumer, Producer, Router, WebRtcServer, WebRtcTransport, Worker } from '../../src/server/media/types.ts';
import type { Logger } from '../../src/common/lib/logger.ts';
import { PROTOCOL_NAME } from '../../src/common/protocol/messages.ts';
import { MEDIA_CODECS } from '../../src/server/media/codecs.ts';
import { DEFAULT_CONFIG } from '../../src/server/config/defaults.ts';
import { KEY_FRAME_REQUEST_DELAY_MS } from '../../src/server/conference/ParticipantHandle.ts';

/** A running baseline server. */
export interface Baseline {
  readonly wsUrl: string;
  readonly workerPid: number;
  stop(): Promise<void>;
}

interface Peer {
  readonly id: string;
  readonly socket: WebSocket;
  rtpCapabilities: unknown;
  autoSubscribe: boolean;
  joined: boolean;
  send: WebRtcTransport | undefined;
  recv: WebRtcTransport | undefined;
  readonly producers: Map<string, { producer: Producer; source: string }>;
  readonly consumers: Map<string, Consumer>;
}

/** Starts the baseline on 127.0.0.1 (HTTP port from the OS, media on basePort). */
export async function startBaseline(options: { basePort: number; logger: Logger }): Promise<Baseline> {
  const worker: Worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const webRtcServer: WebRtcServer = await worker.createWebRtcServer({
    listenInfos: [
      { protocol: 'udp', ip: '127.0.0.1', port: options.basePort },
      { protocol: 'tcp', ip: '127.0.0.1', port: options.basePort },
    ],
  });
  const router: Router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
  const peers = new Map<string, Peer>();
  const server: Server = createServer((_request, response) => response.writeHead(404).end());
  const wss = new WebSocketServer({
    server,
    path: '/ws',
    handleProtocols: (protocols) => (protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
  });
  wss.on('connection', (socket, request) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const peer: Peer = {
      id: query.get('participant') ?? `p${peers.size}`,
      socket,
      rtpCapabilities: undefined,
      autoSubscribe: true,
      joined: false,
      send: undefined,
      recv: undefined,
      producers: new Map(),
      consumers: new Map(),
    };
    peers.set(peer.id, peer);
    socket.on('message', (raw) => {
      let frame: { id: number; method: string; data: Record<string, unknown> };
      try {
        frame = JSON.parse(String(raw)) as typeof frame;
      } catch {
        return;
      }
      handle(peer, frame.method, frame.data ?? {}).then(
        ({ data, after }) => {
          socket.send(JSON.stringify({ type: 'response', id: frame.id, ok: true, data }));
          after?.();
        },
        (error: unknown) => {
          options.logger.debug('baseline request failed', { method: frame.method, error });
          socket.send(JSON.stringify({ type: 'response', id: frame.id, ok: false, error: { code: 'INTERNAL', message: String(error) } }));
        },
      );
    });
    socket.on('close', () => {
      peer.send?.close();
      peer.recv?.close();
      if (peers.get(peer.id) === peer) peers.delete(peer.id);
    });
  });

  function notify(peer: Peer, method: string, data: unknown): void {
    if (peer.socket.readyState === peer.socket.OPEN) peer.socket.send(JSON.stringify({ type: 'notification', method, data }));
  }

  async function consume(subscriber: Peer, publisher: Peer, producer: Producer, source: string): Promise<void> {
    if (!subscriber.recv || subscriber.recv.closed || producer.closed) return;
    const consumer = await subscriber.recv.consume({ producerId: producer.id, rtpCapabilities: subscriber.rtpCapabilities as never, paused: true });
    subscriber.consumers.set(consumer.id, consumer);
    consumer.on('transportclose', () => subscriber.consumers.delete(consumer.id));
    consumer.on('layerschange', (layers) =>
      notify(subscriber, 'consumerLayersChanged', {
        consumerId: consumer.id,
        spatialLayer: layers ? layers.spatialLayer : null,
        temporalLayer: layers ? (layers.temporalLayer ?? 0) : null,
      }),
    );
    consumer.on('producerclose', () => {
      subscriber.consumers.delete(consumer.id);
      notify(subscriber, 'consumerClosed', { consumerId: consumer.id });
    });
    notify(subscriber, 'consumerCreated', {
      consumerId: consumer.id,
      producerId: producer.id,
      participantId: publisher.id,
      kind: consumer.kind,
      source,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    });
  }

  async function handle(peer: Peer, method: string, data: Record<string, unknown>): Promise<{ data: unknown; after?: () => void }> {
    switch (method) {
      case 'getRouterRtpCapabilities':
        return { data: { rtpCapabilities: router.rtpCapabilities } };
      case 'join': {
        peer.rtpCapabilities = data['rtpCapabilities'];
        peer.autoSubscribe = data['autoSubscribe'] !== false;
        peer.joined = true;
        const others = [...peers.values()].filter((other) => other !== peer && other.joined);
        return {
          data: {
            participantId: peer.id,
            peers: others.map((other) => ({
              participantId: other.id,
              displayName: other.id,
              publications: [...other.producers.values()].map(({ producer, source }) => ({ producerId: producer.id, kind: producer.kind, source, paused: false })),
            })),
          },
        };
      }
      case 'createTransport': {
        const direction = data['direction'] === 'send' ? 'send' : 'recv';
        const transport = await router.createWebRtcTransport({
          webRtcServer,
          enableUdp: true,
          enableTcp: true,
          preferUdp: true,
          initialAvailableOutgoingBitrate: DEFAULT_CONFIG.media.initialAvailableOutgoingBitrate,
        });
        if (direction === 'send') {
          await transport.setMaxIncomingBitrate(DEFAULT_CONFIG.media.maxIncomingBitrate);
          peer.send = transport;
        } else {
          peer.recv = transport;
        }
        const reply = {
          transportId: transport.id,
          iceParameters: transport.iceParameters,
          iceCandidates: transport.iceCandidates,
          dtlsParameters: transport.dtlsParameters,
        };
        const after =
          direction === 'recv' && peer.autoSubscribe
            ? () => {
                for (const other of peers.values()) {
                  if (other === peer) continue;
                  for (const { producer, source } of other.producers.values()) void consume(peer, other, producer, source).catch(() => undefined);
                }
              }
            : undefined;
        return after ? { data: reply, after } : { data: reply };
      }
      case 'connectTransport': {
        const transport = [peer.send, peer.recv].find((t) => t?.id === data['transportId']);
        if (!transport) throw new Error('unknown transport');
        await transport.connect({ dtlsParameters: data['dtlsParameters'] as never });
        return { data: {} };
      }
      case 'produce': {
        if (!peer.send) throw new Error('no send transport');
        const producer = await peer.send.produce({
          kind: data['kind'] as 'audio' | 'video',
          rtpParameters: data['rtpParameters'] as never,
          keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS,
        });
        const source = String(data['source']);
        peer.producers.set(producer.id, { producer, source });
        return {
          data: { producerId: producer.id },
          after: () => {
            for (const other of peers.values()) {
              if (other !== peer && other.autoSubscribe) void consume(other, peer, producer, source).catch(() => undefined);
            }
          },
        };
      }
      case 'resumeConsumer':
        await peer.consumers.get(String(data['consumerId']))?.resume();
        return { data: {} };
      case 'resumeConsumers': {
        const ids = (data['consumerIds'] as string[] | undefined) ?? [];
        const results = await Promise.all(
          ids.map(async (consumerId) => {
            const consumer = peer.consumers.get(consumerId);
            if (!consumer) return { consumerId, ok: false, code: 'GONE' };
            await consumer.resume();
            return { consumerId, ok: true };
          }),
        );
        return { data: { results } };
      }
      case 'setConsumerPreferredLayers': {
        const consumer = peer.consumers.get(String(data['consumerId']));
        if (!consumer) throw new Error('unknown consumer');
        const temporalLayer = data['temporalLayer'];
        await consumer.setPreferredLayers({
          spatialLayer: Number(data['spatialLayer']),
          ...(typeof temporalLayer === 'number' ? { temporalLayer } : {}),
        });
        return { data: {} };
      }
      case 'leave':
        return { data: {}, after: () => peer.socket.close(1000) };
      default:
        throw new Error(`baseline does not implement ${method}`);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    workerPid: worker.pid,
    async stop() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      worker.close();
    },
  };
}
