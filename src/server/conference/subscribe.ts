// Creating one consumer for one subscriber, the conference's most involved step: one
// consumer per (subscriber, producer), the per-participant and per-worker caps (the
// latter with a reservation taken before the worker request), a pipe from the
// publisher's router when the subscriber is homed elsewhere, a deadline on the worker
// request, and the consumer's events forwarded to the subscriber's handle. Runs inside
// the conference queue (Conference calls it from its tasks only). Also what the
// subscribers of a producer need from it (its demand), read from the same consumers.

import { InvalidStateError, SfuError, UnsupportedError } from '../../common/lib/errors.ts';
import type { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import { withMediaTimeout } from '../media/timeout.ts';
import { fromMediasoupError } from '../media/errors.ts';
import type { ConferenceRouters, RouterEntry } from './ConferenceRouters.ts';
import type { ConferenceObserverEvents, ParticipantEvents } from './events.ts';
import type { Participant, Publication } from './Participant.ts';
import type { ParticipantHandle } from './ParticipantHandle.ts';
import type { ConferenceOptions, ConsumerInfo, ProducerDemand } from './types.ts';
import type { Consumer } from '../media/types.ts';

/** Default conference.maxConsumersPerParticipant. */
export const DEFAULT_MAX_CONSUMERS_PER_PARTICIPANT = 500;

/**
 * A worker request bounded in time whose mediasoup errors become SfuErrors
 * (media/errors.ts), so edges see only our vocabulary; unknown ones pass as is.
 */
export async function mediaRequest<T>(what: string, request: Promise<T>, timeoutMs: number, onLate?: (value: T) => void): Promise<T> {
  try {
    return await withMediaTimeout(what, request, timeoutMs, onLate);
  } catch (error) {
    throw fromMediasoupError(error) ?? error;
  }
}

/** What subscribe() needs of its conference. */
export interface SubscribeContext {
  readonly options: ConferenceOptions;
  readonly observer: TypedEmitter<ConferenceObserverEvents>;
  readonly homes: ReadonlyMap<Participant, RouterEntry>;
  routers(): ConferenceRouters;
  /** The router a current participant is homed on; throws INVALID_STATE while it moves. */
  homeOf(participant: Participant): RouterEntry;
  /** The subscriber's current handle, if it is still the current participant. */
  handleOf(participant: Participant): ParticipantHandle | undefined;
  demandChanged(producerId: string): void;
}

/**
 * Creates a paused consumer (resumed only when the client acknowledges, so
 * its PeerConnection exists before the first packet and key-frame request),
 * or returns the subscriber's existing consumer of that producer. Refuses
 * with LIMIT_EXCEEDED past the per-participant or per-worker cap.
 * `notify` false: the caller returns the info as a response instead.
 */
export async function subscribe(
ctx: SubscribeContext,
subscriber: Participant,
publisher: Participant,
publication: Publication,
notify = true,
): Promise<ConsumerInfo> {
  const { producer, source } = publication;
  const existing = subscriber.consumerByProducer.get(producer.id);
  if (existing !== undefined) {
    const subscription = subscriber.subscriptions.get(existing);
    if (subscription) return subscription.info;
  }
  const transport = subscriber.recvTransport;
  if (!transport) throw new InvalidStateError('no receive transport');
  const maxConsumers = ctx.options.maxConsumersPerParticipant ?? DEFAULT_MAX_CONSUMERS_PER_PARTICIPANT;
  if (subscriber.subscriptions.size >= maxConsumers) {
    ctx.observer.safeEmit('consumerRefused', 'participant-limit');
    throw new SfuError('LIMIT_EXCEEDED', `at most ${maxConsumers} consumers per participant`);
  }
  const home = ctx.homeOf(subscriber);
  const origin = ctx.homes.get(publisher);
  if (!origin || origin.lease.router.closed) throw new SfuError('GONE', 'the publisher is moving to another media router');
  if (origin !== home) {
    await ctx.routers().pipe(producer, origin, home);
    if (subscriber.closed || producer.closed) throw new SfuError('GONE', 'the producer or subscriber closed meanwhile');
  }
  const lease = home.lease;
  if (!lease.router.canConsume({ producerId: producer.id, rtpCapabilities: subscriber.rtpCapabilities })) {
    throw new UnsupportedError('receiver cannot decode this producer');
  }
  const release = lease.reserveConsumer();
  if (!release) {
    ctx.observer.safeEmit('consumerRefused', 'worker-limit');
    subscriber.logger.warn('consumer refused: media worker is at its consumer limit', { slot: lease.slotIndex });
    throw new SfuError('LIMIT_EXCEEDED', 'the media worker carries its maximum of consumers');
  }
  let consumer;
  try {
    consumer = await mediaRequest(
      'transport.consume',
      transport.consume({
        producerId: producer.id,
        rtpCapabilities: subscriber.rtpCapabilities,
        paused: true,
        appData: { participantId: subscriber.id, publisherId: publisher.id, source },
      }),
      lease.requestTimeoutMs,
      (late) => late.close(),
    );
  } finally {
    release();
  }
  if (consumer.closed || subscriber.closed || transport.closed) {
    consumer.close();
    throw new SfuError('GONE', 'the producer or transport closed meanwhile');
  }
  const consumerId = consumer.id;
  const info: ConsumerInfo = {
    consumerId,
    producerId: producer.id,
    participantId: publisher.id,
    kind: consumer.kind,
    source,
    rtpParameters: consumer.rtpParameters,
    type: consumer.type,
    producerPaused: consumer.producerPaused,
    ...(publication.encrypted ? { encrypted: true } : {}),
  };
  subscriber.addSubscription({ consumer, publisherId: publisher.id, info, createdAtMs: performance.now() });
  const handle = (): ParticipantHandle | undefined => ctx.handleOf(subscriber);
  const emit = <K extends keyof ParticipantEvents & string>(event: K, ...args: ParticipantEvents[K]): void => {
    if (!subscriber.closed) handle()?.safeEmit(event, ...args);
  };
  consumer.observer.once('close', () => {
    subscriber.removeSubscription(consumerId);
    ctx.demandChanged(producer.id);
  });
  consumer.on('producerclose', () => {
    if (!subscriber.closed) emit('consumerClosed', consumerId);
  });
  consumer.on('producerpause', () => emit('consumerPaused', consumerId));
  consumer.on('producerresume', () => emit('consumerResumed', consumerId));
  consumer.on('layerschange', (layers) =>
    emit('consumerLayersChanged', consumerId, layers ? { spatialLayer: layers.spatialLayer, temporalLayer: layers.temporalLayer ?? 0 } : null),
  );
  consumer.on('score', (score) => emit('consumerScore', consumerId, score.score, score.producerScore));
  if (consumer.kind === 'video' && (origin !== home || publisher.remoteLink !== undefined)) askKeyFrameWhenStreamFlows(consumer, subscriber);
  ctx.demandChanged(producer.id);
  if (notify) emit('consumerCreated', info);
  return info;
}

/**
 * What the subscribers of `producerId` need from it, over every edge's consumers: paused
 * consumers need nothing; a forwarding one needs layers up to its preferred spatial layer
 * (all layers when it has no preference). `exported`: the producer is piped to other nodes,
 * whose subscribers' layer wishes do not travel, so they count as one wanting every layer.
 * Undefined for an unknown producer.
 */
export function demandOf(participants: readonly Participant[], producerId: string, exported: boolean): ProducerDemand | undefined {
  let publication: Publication | undefined;
  for (const participant of participants) publication ??= participant.publications.get(producerId);
  if (!publication) return undefined;
  const topLayer = Math.max(0, (publication.producer.rtpParameters.encodings?.length ?? 1) - 1);
  let consumers = exported ? 1 : 0;
  let active = consumers;
  let maxSpatialLayer = exported ? topLayer : -1;
  for (const participant of participants) {
    const consumerId = participant.consumerByProducer.get(producerId);
    const consumer = consumerId === undefined ? undefined : participant.subscriptions.get(consumerId)?.consumer;
    if (!consumer || consumer.closed) continue;
    consumers++;
    if (consumer.paused) continue;
    active++;
    maxSpatialLayer = Math.max(maxSpatialLayer, Math.min(topLayer, consumer.preferredLayers?.spatialLayer ?? topLayer));
  }
  return { consumers, active, maxSpatialLayer };
}

/**
 * A piped producer (from another router or another node) may have no stream yet when its
 * subscriber resumes: mediasoup then drops the resume's key-frame request ("mappedSsrc not
 * found") and never asks again, so the subscriber could wait for a key frame until the
 * publisher happens to send one. Asks again each time the producer's stream starts flowing
 * (its score rises from 0) while the consumer forwards; the publisher's keyFrameRequestDelay
 * merges these with other requests.
 */
function askKeyFrameWhenStreamFlows(consumer: Consumer, subscriber: Participant): void {
  let flowing = false;
  consumer.on('score', (score) => {
    const nowFlowing = score.producerScore > 0;
    if (nowFlowing && !flowing && !consumer.paused && !consumer.closed) {
      consumer.requestKeyFrame().catch((error: unknown) => subscriber.logger.debug('key-frame request for a piped stream failed', { consumerId: consumer.id, error }));
    }
    flowing = nowFlowing;
  });
}
