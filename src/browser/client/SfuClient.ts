// The browser client of the SFU (protocol v1): connect, join, publish local
// tracks (simulcast video by default), receive every remote track, and
// survive a server-side worker restart by rebuilding transports and
// re-publishing. Encoded transforms (E2EE) are attached through hooks that
// run before each sender or receiver is negotiated (see EncodedTransforms).
//
// Concurrency: media operations (transport creation, publish, unpublish,
// pause, the rebuild after reconnectRequested) run one at a time on a
// promise chain, so a rebuild never interleaves with a publish. Receiving is
// driven by notifications and handled by Subscriptions.

import { Device } from 'mediasoup-client';
import type { RtpCapabilities, RtpCodecCapability, Transport } from 'mediasoup-client/types';
import type { PeerInfo } from '../../common/protocol/messages.ts';
import { CLOSE_CODES } from '../../common/protocol/closeCodes.ts';
import { iceServersSchema } from '../../common/protocol/iceServers.ts';
import { parseWith } from '../../common/protocol/schema.ts';
import { InvalidStateError, mediaError, SfuClientError } from './errors.ts';
import { Emitter, type SfuClientEvents } from './events.ts';
import { LocalPublication } from './LocalPublication.ts';
import { Publications } from './Publications.ts';
import { Signalling, type AnyNotification } from './Signalling.ts';
import { Subscriptions } from './Subscriptions.ts';
import { createTransport } from './transports.ts';
import {
  defaultLogger,
  type ClientLogger,
  type JoinOptions,
  type JoinResult,
  type PublishOptions,
  type RemoteTrack,
  type SfuClientOptions,
} from './types.ts';
import { toWireRtpCapabilities } from './wire.ts';

type State = 'connected' | 'joining' | 'joined' | 'closed';

/** `capabilities` keeping only codecs in `allowed` (lower-case MIME types) and the RTX of those. */
function restrictCodecs(capabilities: RtpCapabilities, allowed: ReadonlySet<string> | undefined): RtpCapabilities {
  if (!allowed) return capabilities;
  const codecs = (capabilities.codecs ?? []).filter((codec) => allowed.has(codec.mimeType.toLowerCase()));
  const kept = new Set(codecs.map((codec) => codec.preferredPayloadType));
  const rtx = (capabilities.codecs ?? []).filter((codec) => codec.mimeType.toLowerCase().endsWith('/rtx') && kept.has(Number(codec.parameters?.['apt'])));
  return { ...capabilities, codecs: [...codecs, ...rtx] };
}

/** The join reply's ICE servers, parsed (a malformed list is dropped with a warning: direct media may still work). */
function iceServersOf(raw: unknown, logger: ClientLogger): RTCIceServer[] {
  if (raw === undefined) return [];
  const parsed = parseWith(iceServersSchema, raw, 'iceServers');
  if (!parsed.ok) {
    logger.warn('ignoring malformed ICE servers in the join reply', { faults: parsed.faults });
    return [];
  }
  return parsed.value.map((server) => ({ urls: [...server.urls], username: server.username, credential: server.credential }));
}

/** A connection to one conference on one SFU. */
export class SfuClient extends Emitter<SfuClientEvents> {
  readonly #options: SfuClientOptions;
  readonly #signalling: Signalling;
  readonly #device: Device;
  readonly #logger: ClientLogger;
  readonly #subscriptions: Subscriptions;
  readonly #publications: Publications;
  readonly #peers = new Map<string, PeerInfo>();
  #state: State = 'connected';
  #participantId: string | undefined;
  #sendTransport: Transport | undefined;
  #recvTransport: Transport | undefined;
  /** Bumped when the server drops our media (worker restart); work of an older generation is stale. */
  #generation = 0;
  #queue: Promise<unknown> = Promise.resolve();
  /** Lower-case MIME types of options.codecMimeTypes; undefined allows every codec. */
  readonly #allowedCodecs: ReadonlySet<string> | undefined;
  /** TURN relays with credentials from the join reply (used with options.iceServers). */
  #serverIceServers: RTCIceServer[] = [];

  /**
   * Opens the signalling connection (`options.query` is added to the URL:
   * the admission parameters) and prepares a mediasoup-client Device.
   * Rejects with ConnectionClosedError (CONNECT_FAILED) or a MEDIA error when
   * the browser is unsupported.
   */
  static async connect(options: SfuClientOptions): Promise<SfuClient> {
    const url = new URL(options.url);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const logger = options.logger ?? defaultLogger;
    let device: Device;
    try {
      device = await Device.factory();
    } catch (error) {
      throw mediaError('this browser cannot run WebRTC with mediasoup', error);
    }
    const signalling = await Signalling.open({
      url: url.toString(),
      ...(options.protocols ? { protocols: options.protocols } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      logger,
    });
    return new SfuClient(options, signalling, device, logger);
  }

  private constructor(options: SfuClientOptions, signalling: Signalling, device: Device, logger: ClientLogger) {
    super((event, error) => logger.error('event listener threw', { event, error: String(error) }));
    this.#options = options;
    this.#signalling = signalling;
    this.#device = device;
    this.#logger = logger;
    this.#allowedCodecs = options.codecMimeTypes ? new Set(options.codecMimeTypes.map((mimeType) => mimeType.toLowerCase())) : undefined;
    this.#subscriptions = new Subscriptions({
      signalling,
      ...(options.transforms ? { transforms: options.transforms } : {}),
      firstMediaTimeoutMs: options.firstMediaTimeoutMs ?? 30_000,
      logger,
      emit: (event, ...args) => this.safeEmit(event, ...args),
    });
    this.#publications = new Publications({
      signalling,
      ...(options.transforms ? { transforms: options.transforms } : {}),
      logger,
      sendTransport: () => this.#ensureSendTransport(),
      onTrackEnded: (publication) => void this.unpublish(publication),
    });
    signalling.on('notification', (notification) => this.#onNotification(notification));
    signalling.on('closed', ({ code, reason }) => this.#onClosed(code, reason));
  }

  /** Our participant id once joined. */
  get participantId(): string | undefined {
    return this.#participantId;
  }

  /** Other participants, as last announced. */
  get peers(): PeerInfo[] {
    return [...this.#peers.values()];
  }

  /** Remote tracks currently received. */
  get remoteTracks(): RemoteTrack[] {
    return this.#subscriptions.list();
  }

  /** Local publications (including ones being re-published after a rebuild). */
  get publications(): LocalPublication[] {
    return this.#publications.list();
  }

  /** Whether the signalling connection has closed; the client is then unusable. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Loads the Device with the router's capabilities, joins, and creates the receive transport. */
  async join(options: JoinOptions = {}): Promise<JoinResult> {
    if (this.#state !== 'connected') throw new InvalidStateError(`cannot join while ${this.#state}`);
    this.#state = 'joining';
    try {
      const { rtpCapabilities } = await this.#signalling.request('getRouterRtpCapabilities', {});
      if (!this.#device.loaded) {
        // Router capabilities come from mediasoup; Device.load() validates and normalises them.
        await this.#device.load({ routerRtpCapabilities: rtpCapabilities as RtpCapabilities });
      }
      const result = await this.#signalling.request('join', {
        rtpCapabilities: toWireRtpCapabilities(restrictCodecs(this.#device.recvRtpCapabilities, this.#allowedCodecs)),
        ...(options.displayName !== undefined ? { displayName: options.displayName } : {}),
        ...(options.autoSubscribe !== undefined ? { autoSubscribe: options.autoSubscribe } : {}),
      });
      this.#assertOpen();
      this.#serverIceServers = iceServersOf(result.iceServers, this.#logger);
      this.#participantId = result.participantId;
      for (const peer of result.peers) this.#peers.set(peer.participantId, peer);
      this.#state = 'joined';
      await this.#serial(() => this.#ensureRecvTransport());
      return { participantId: result.participantId, peers: result.peers };
    } catch (error) {
      if (this.#state === 'joining') this.#state = 'connected';
      throw error;
    }
  }

  /**
   * Publishes a local track. The caller keeps ownership of the track (the
   * client never stops it). The sender transform hook runs before the
   * sender is negotiated.
   */
  async publish(track: MediaStreamTrack, options: PublishOptions): Promise<LocalPublication> {
    this.#assertJoined();
    const codec = this.#publishCodec(track.kind, options.codec);
    const publication = new LocalPublication(track, codec ? { ...options, codec } : options);
    this.#publications.add(publication);
    const generation = this.#generation;
    try {
      await this.#serial(() => this.#publications.produce(publication));
    } catch (error) {
      // A worker restart overtook us: the queued rebuild re-publishes it.
      if (generation !== this.#generation && !this.closed) return publication;
      this.#publications.discard(publication);
      throw mediaError(`cannot publish ${publication.kind}`, error);
    }
    return publication;
  }

  /** Stops sending a publication and closes its producer. Idempotent. */
  unpublish(publication: LocalPublication): Promise<void> {
    return this.#serial(() => this.#publications.close(publication));
  }

  /** Pauses a publication: nothing is sent or forwarded until resumePublication(). */
  pausePublication(publication: LocalPublication): Promise<void> {
    return this.#serial(() => this.#publications.setPaused(publication, true));
  }

  /** Resumes a publication paused with pausePublication(). */
  resumePublication(publication: LocalPublication): Promise<void> {
    return this.#serial(() => this.#publications.setPaused(publication, false));
  }

  /** Receives one publication (when joined with autoSubscribe false). */
  async subscribe(producerId: string): Promise<RemoteTrack | undefined> {
    this.#assertJoined();
    return this.#subscriptions.subscribe(producerId);
  }

  /** Stops forwarding one remote track to us. */
  pauseConsumer(consumerId: string): Promise<void> {
    return this.#subscriptions.pause(consumerId);
  }

  /** Resumes forwarding of a remote track paused with pauseConsumer(). */
  resumeConsumer(consumerId: string): Promise<void> {
    return this.#subscriptions.resume(consumerId);
  }

  /** Asks the server to forward at most this simulcast/SVC layer (0 = lowest). */
  async setPreferredLayers(consumerId: string, spatialLayer: number, temporalLayer?: number): Promise<void> {
    this.#assertJoined();
    await this.#signalling.request('setConsumerPreferredLayers', {
      consumerId,
      spatialLayer,
      ...(temporalLayer !== undefined ? { temporalLayer } : {}),
    });
  }

  /** Receiver stats of one remote track. */
  getConsumerStats(consumerId: string): Promise<RTCStatsReport> {
    return this.#subscriptions.getStats(consumerId);
  }

  /** Sender stats of one publication (undefined while it has no producer). */
  async getPublicationStats(publication: LocalPublication): Promise<RTCStatsReport | undefined> {
    return publication.producer?.getStats();
  }

  /** Leaves the conference and closes the connection. Idempotent; `closed` follows. */
  async leave(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'joined') {
      await this.#signalling.request('leave', {}).catch((error: unknown) =>
        this.#logger.debug('leave request failed; closing anyway', { error: String(error) }),
      );
    }
    this.#signalling.close(CLOSE_CODES.NORMAL, 'left');
  }

  /** The codec to publish with under codecMimeTypes: the caller's if allowed, else the device's first allowed one. */
  #publishCodec(kind: string, wanted: RtpCodecCapability | undefined): RtpCodecCapability | undefined {
    const allowed = this.#allowedCodecs;
    if (!allowed) return wanted;
    if (wanted) {
      if (!allowed.has(wanted.mimeType.toLowerCase())) throw new SfuClientError('MEDIA', `codec ${wanted.mimeType} is not allowed`);
      return wanted;
    }
    const codec = this.#device.sendRtpCapabilities.codecs?.find((c) => c.kind === kind && allowed.has(c.mimeType.toLowerCase()));
    if (!codec) throw new SfuClientError('MEDIA', `no allowed ${kind} codec`);
    return codec;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #ensureSendTransport(): Promise<Transport> {
    if (this.#sendTransport && !this.#sendTransport.closed) return this.#sendTransport;
    const transport = await createTransport(this.#transportOptions('send'));
    // A successful response that arrives after reconnectRequested was created
    // on the new router (the server answers in order), so it is current.
    if (this.closed) {
      transport.close();
      throw new InvalidStateError('client closed');
    }
    this.#sendTransport = transport;
    return transport;
  }

  async #ensureRecvTransport(): Promise<void> {
    if (this.#recvTransport && !this.#recvTransport.closed) return;
    const transport = await createTransport(this.#transportOptions('recv'));
    if (this.closed) {
      transport.close();
      return;
    }
    this.#recvTransport = transport;
    this.#subscriptions.attach(transport);
  }

  #transportOptions(direction: 'send' | 'recv'): Parameters<typeof createTransport>[0] {
    const options = this.#options;
    return {
      direction,
      device: this.#device,
      signalling: this.#signalling,
      logger: this.#logger,
      iceServers: [...(options.iceServers ?? []), ...this.#serverIceServers],
      ...(options.iceTransportPolicy ? { iceTransportPolicy: options.iceTransportPolicy } : {}),
      onPath: (path) => this.safeEmit('mediaPath', { direction, path }),
      ...(options.preferTcp ? { preferTcp: true } : {}),
      ...(options.encodedInsertableStreams ? { encodedInsertableStreams: true } : {}),
      ...(options.encryptedMedia ? { encryptedMedia: true } : {}),
    };
  }

  #onNotification(notification: AnyNotification): void {
    if (this.#state !== 'joined') return;
    switch (notification.method) {
      case 'peerJoined':
        this.#peers.set(notification.data.participantId, notification.data);
        this.safeEmit('peerJoined', notification.data);
        return;
      case 'peerLeft':
        this.#peers.delete(notification.data.participantId);
        this.safeEmit('peerLeft', { participantId: notification.data.participantId });
        return;
      case 'consumerCreated':
        this.#subscriptions.onConsumerCreated(notification.data);
        return;
      case 'consumerClosed':
        this.#subscriptions.onConsumerClosed(notification.data.consumerId);
        return;
      case 'consumerPaused':
      case 'consumerResumed': {
        const paused = notification.method === 'consumerPaused';
        const { consumerId } = notification.data;
        if (this.#subscriptions.setProducerPaused(consumerId, paused)) {
          this.safeEmit(paused ? 'trackPaused' : 'trackResumed', { consumerId });
        }
        return;
      }
      case 'consumerLayersChanged':
        this.safeEmit('layersChanged', { ...notification.data });
        return;
      case 'consumerScore':
        return;
      case 'producerClosed':
        this.#publications.onProducerClosed(notification.data.producerId);
        return;
      case 'activeSpeaker':
        this.safeEmit('activeSpeaker', { participantId: notification.data.participantId });
        return;
      case 'reconnectRequested':
        this.#onReconnectRequested(notification.data.reason);
        return;
    }
  }

  /**
   * `worker-restarted`: the server dropped every transport, producer and
   * consumer of ours (its worker died; the conference moved to a new
   * router). Drop ours at once, synchronously, so that consumerCreated
   * notifications for the new router are buffered until the new receive
   * transport exists; then rebuild in the queue. The Device is reused: the
   * new router has the same codecs.
   */
  #onReconnectRequested(reason: 'worker-restarted' | 'draining'): void {
    this.#logger.info('reconnect requested', { reason });
    this.safeEmit('reconnecting', { reason });
    if (reason !== 'worker-restarted') return;
    this.#generation++;
    this.#dropMedia();
    const generation = this.#generation;
    void this.#serial(async () => {
      if (generation !== this.#generation || this.closed) return;
      await this.#ensureRecvTransport();
      for (const publication of this.#publications.list()) {
        await this.#publications.produce(publication).catch((error: unknown) =>
          this.#fail(mediaError(`cannot re-publish ${publication.kind}`, error)),
        );
      }
    }).then(
      () => {
        if (generation === this.#generation && !this.closed) this.safeEmit('reconnected');
      },
      (error: unknown) => this.#fail(mediaError('cannot rebuild media after a worker restart', error)),
    );
  }

  #dropMedia(): void {
    this.#subscriptions.detach();
    this.#recvTransport?.close();
    this.#sendTransport?.close();
    this.#recvTransport = undefined;
    this.#sendTransport = undefined;
    this.#publications.forgetProducers();
  }

  #onClosed(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#dropMedia();
    this.#publications.closeAll();
    this.#peers.clear();
    this.#logger.info('signalling closed', { code, reason });
    this.safeEmit('closed', { code, reason });
  }

  #fail(error: SfuClientError): void {
    this.#logger.warn(error.message, { code: error.code });
    this.safeEmit('error', error);
  }

  #assertOpen(): void {
    if (this.#state === 'closed') throw new InvalidStateError('client closed');
  }

  #assertJoined(): void {
    if (this.#state !== 'joined') throw new InvalidStateError(`not joined (${this.#state})`);
  }
}
