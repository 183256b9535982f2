// The receiving side of the client: turns consumerCreated notifications (or
// explicit consume responses) into local mediasoup-client consumers on the
// receive transport, acknowledges them in batches (resumeConsumers, see
// ResumeBatcher: one request per burst keeps big rooms under the server's
// rate limit), and measures the
// time to its first decoded video frame. Notifications that arrive before the
// receive transport exists are buffered in order and replayed on attach().

import type { Consumer, RtpParameters, Transport } from 'mediasoup-client/types';
import type { ConsumerInfo } from '../../common/protocol/messages.ts';
import { FIRST_MEDIA_POLL_MS, MAX_BUFFERED_CONSUMERS } from './constants.ts';
import { mediaError, type SfuClientError } from './errors.ts';
import type { SfuClientEvents } from './events.ts';
import type { Signalling } from './Signalling.ts';
import { ResumeBatcher } from './ResumeBatcher.ts';
import type { ClientLogger, EncodedTransforms, RemoteTrack } from './types.ts';

/** What Subscriptions needs from its owner. */
export interface SubscriptionsOptions {
  readonly signalling: Pick<Signalling, 'request'>;
  /** How long an acknowledgement waits for others to share its request. Default 10 ms. */
  readonly resumeBatchDelayMs?: number;
  readonly transforms?: EncodedTransforms;
  readonly firstMediaTimeoutMs: number;
  readonly logger: ClientLogger;
  /** Emits one of the client's public events. */
  readonly emit: <K extends keyof SfuClientEvents & string>(event: K, ...args: SfuClientEvents[K]) => void;
}

interface Entry {
  readonly info: ConsumerInfo;
  readonly consumer: Consumer;
  producerPaused: boolean;
}

/** Remote tracks of one client. */
export class Subscriptions {
  readonly #options: SubscriptionsOptions;
  readonly #entries = new Map<string, Entry>();
  /** Consumers being created locally; `cancelled` when consumerClosed overtook creation. */
  readonly #creating = new Map<string, { cancelled: boolean }>();
  #buffer: Array<{ info: ConsumerInfo; receivedAtMs: number }> = [];
  #transport: Transport | undefined;
  readonly #acks: ResumeBatcher;

  constructor(options: SubscriptionsOptions) {
    this.#options = options;
    this.#acks = new ResumeBatcher(options.signalling, options.resumeBatchDelayMs);
  }

  /** Remote tracks currently received. */
  list(): RemoteTrack[] {
    return [...this.#entries.values()].map((entry) => this.#describe(entry));
  }

  /** Uses `transport` for new consumers and replays buffered consumerCreated notifications. */
  attach(transport: Transport): void {
    this.#transport = transport;
    const buffered = this.#buffer;
    this.#buffer = [];
    for (const { info, receivedAtMs } of buffered) void this.#create(info, receivedAtMs);
  }

  /**
   * Forgets every consumer (the receive transport is gone: media rebuild or
   * close) and emits trackRemoved for each. Buffered notifications belong to
   * the old media generation and are dropped.
   */
  detach(): void {
    this.#transport = undefined;
    this.#buffer = [];
    for (const token of this.#creating.values()) token.cancelled = true;
    for (const consumerId of [...this.#entries.keys()]) this.#remove(consumerId);
  }

  /** Handles a consumerCreated notification. */
  onConsumerCreated(info: ConsumerInfo): void {
    const receivedAtMs = performance.now();
    if (this.#transport) {
      void this.#create(info, receivedAtMs);
      return;
    }
    if (this.#buffer.length >= MAX_BUFFERED_CONSUMERS) {
      const dropped = this.#buffer.shift();
      this.#options.logger.warn('consumer buffer full; dropping the oldest', { consumerId: dropped?.info.consumerId });
    }
    this.#buffer.push({ info, receivedAtMs });
  }

  /** Explicit subscription (joined with autoSubscribe false). */
  async subscribe(producerId: string): Promise<RemoteTrack | undefined> {
    const receivedAtMs = performance.now();
    const info = await this.#options.signalling.request('consume', { producerId });
    return this.#create(info, receivedAtMs, true);
  }

  /** Handles consumerClosed: the producer went away. */
  onConsumerClosed(consumerId: string): void {
    const creating = this.#creating.get(consumerId);
    if (creating) creating.cancelled = true;
    this.#buffer = this.#buffer.filter((item) => item.info.consumerId !== consumerId);
    this.#remove(consumerId);
  }

  /** Handles consumerPaused / consumerResumed (the publisher paused or resumed). */
  setProducerPaused(consumerId: string, paused: boolean): boolean {
    const entry = this.#entries.get(consumerId);
    if (!entry) return false;
    entry.producerPaused = paused;
    return true;
  }

  /** Stats of one consumer's receiver (inbound-rtp and friends). */
  getStats(consumerId: string): Promise<RTCStatsReport> {
    return this.#entry(consumerId).consumer.getStats();
  }

  /** Stops forwarding to us (server) and pauses the local consumer. */
  async pause(consumerId: string): Promise<void> {
    const { consumer } = this.#entry(consumerId);
    consumer.pause();
    await this.#options.signalling.request('pauseConsumer', { consumerId });
  }

  /** Resumes forwarding after pause(). */
  async resume(consumerId: string): Promise<void> {
    const { consumer } = this.#entry(consumerId);
    consumer.resume();
    await this.#options.signalling.request('resumeConsumer', { consumerId });
  }

  #entry(consumerId: string): Entry {
    const entry = this.#entries.get(consumerId);
    if (!entry) throw new TypeError(`unknown consumer ${consumerId}`);
    return entry;
  }

  async #create(info: ConsumerInfo, receivedAtMs: number, rethrow = false): Promise<RemoteTrack | undefined> {
    const transport = this.#transport;
    if (!transport || this.#entries.has(info.consumerId) || this.#creating.has(info.consumerId)) return undefined;
    const token = { cancelled: false };
    this.#creating.set(info.consumerId, token);
    const hook = this.#options.transforms?.receiver;
    let consumer: Consumer;
    try {
      consumer = await transport.consume({
        id: info.consumerId,
        producerId: info.producerId,
        kind: info.kind,
        // Produced by mediasoup for this consumer; mediasoup-client validates it in consume().
        rtpParameters: info.rtpParameters as RtpParameters,
        // One MediaStream per publisher and source family, so the browser can lip-sync audio and video.
        streamId: `${info.participantId}-${info.source.startsWith('screen') ? 'screen' : 'camera'}`,
        // Runs after setRemoteDescription(offer) created the receiver and before the answer is applied,
        // i.e. before negotiation completes: the only point where Chromium honours a new transform.
        ...(hook
          ? {
              onRtpReceiver: (receiver: RTCRtpReceiver) =>
                hook(receiver, {
                  kind: info.kind,
                  source: info.source,
                  participantId: info.participantId,
                  consumerId: info.consumerId,
                  producerId: info.producerId,
                }),
            }
          : {}),
        appData: { participantId: info.participantId, source: info.source },
      });
    } catch (error) {
      this.#creating.delete(info.consumerId);
      const failure = mediaError(`cannot receive ${info.kind} of ${info.participantId}`, error);
      if (token.cancelled) return undefined;
      if (rethrow) throw failure;
      this.#fail(failure);
      return undefined;
    }
    this.#creating.delete(info.consumerId);
    if (token.cancelled || transport.closed || this.#transport !== transport) {
      consumer.close();
      return undefined;
    }
    const entry: Entry = { info, consumer, producerPaused: info.producerPaused };
    this.#entries.set(info.consumerId, entry);
    consumer.on('trackended', () => this.#options.logger.debug('remote track ended', { consumerId: info.consumerId }));
    const remote = this.#describe(entry);
    this.#options.emit('trackAdded', { ...remote, paused: entry.producerPaused });
    // The acknowledgement: the server created the consumer paused so that this
    // receiver exists before the first packet and key frame; only now may it forward.
    try {
      // 'gone': the producer left meanwhile; consumerClosed is on its way and removes the track.
      if ((await this.#acks.resume(info.consumerId)) === 'gone') return remote;
    } catch (error) {
      if (this.#entries.get(info.consumerId) === entry) {
        this.#fail(mediaError(`cannot start ${info.kind} of ${info.participantId}`, error));
      }
      return remote;
    }
    if (info.kind === 'video' && !info.producerPaused) void this.#measureFirstMedia(entry, receivedAtMs);
    return remote;
  }

  /** Polls the receiver's stats until the first frame is decoded; reports it once. Bounded by firstMediaTimeoutMs. */
  async #measureFirstMedia(entry: Entry, receivedAtMs: number): Promise<void> {
    const { consumerId, participantId } = entry.info;
    const deadline = receivedAtMs + this.#options.firstMediaTimeoutMs;
    while (performance.now() < deadline && !entry.consumer.closed) {
      let decoded = 0;
      try {
        const report = await entry.consumer.getStats();
        report.forEach((stat: { type?: string; framesDecoded?: number }) => {
          if (stat.type === 'inbound-rtp' && typeof stat.framesDecoded === 'number') decoded += stat.framesDecoded;
        });
      } catch (error) {
        this.#options.logger.debug('getStats failed while waiting for first frame', { consumerId, error: String(error) });
        return;
      }
      if (decoded > 0) {
        const elapsedMs = Math.round(performance.now() - receivedAtMs);
        this.#options.emit('firstMedia', { consumerId, participantId, elapsedMs });
        this.#options.signalling
          .request('reportFirstMedia', { consumerId, elapsedMs: Math.min(elapsedMs, 600_000) })
          .catch((error: unknown) => this.#options.logger.debug('reportFirstMedia failed', { consumerId, error: String(error) }));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, FIRST_MEDIA_POLL_MS));
    }
    if (!entry.consumer.closed) this.#options.logger.info('no decoded frame in time', { consumerId });
  }

  #remove(consumerId: string): void {
    const entry = this.#entries.get(consumerId);
    if (!entry) return;
    this.#entries.delete(consumerId);
    entry.consumer.close();
    const { participantId, producerId, kind, source } = entry.info;
    this.#options.emit('trackRemoved', { participantId, consumerId, producerId, kind, source });
  }

  #fail(error: SfuClientError): void {
    this.#options.logger.warn(error.message, { code: error.code });
    this.#options.emit('error', error);
  }

  #describe(entry: Entry): RemoteTrack {
    const { participantId, consumerId, producerId, kind, source } = entry.info;
    return { participantId, consumerId, producerId, kind, source, track: entry.consumer.track, producerPaused: entry.producerPaused };
  }
}
