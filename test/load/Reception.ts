// What a subscriber counts per consumer, and how expected packets follow from it. A packet's
// tag names the publisher stream's spatial layer and its counter, so a subscription is a
// sequence of *segments*: runs of packets from one layer (one segment without simulcast; a
// new one each time the SFU switched the consumer to another layer). Within a segment every
// counter between the first and the last one seen was expected; packets of a layer the SFU
// was not forwarding at that time were not. Loss by the SFU's rewritten sequence numbers
// (forwarded − received) needs no segments, except that mediasoup leaves sequence numbers
// unused on purpose at a switch (one when the last frame of the old layer was cut short):
// those gaps are not counted as forwarded. A simulcast consumer whose layers the SFU's
// bandwidth estimation chooses (a LiveKit-edge subscriber: transport-cc negotiated, and
// the generator sends no feedback) may also lose temporal layers on purpose; for it the
// expected packets are what the SFU forwarded, so only loss after the SFU counts.

import type { ParsedRtp } from './rtp.ts';

/** Spatial layers of a simulcast publisher (q, h, f). */
export const SIMULCAST_LAYERS = 3;

/** Receive-side counters of one consumer. */
export interface SubscriptionCounters {
  readonly consumerId: string;
  readonly kind: 'audio' | 'video';
  /** The publication as the edge names it: producer id (native) or track sid (LiveKit). */
  readonly producerId: string;
  /** The publisher's key of the track, from the first tagged packet (what the run looks its sent counts up by). */
  streamKey: number | undefined;
  /** The consumer is a mediasoup simulcast consumer. */
  readonly simulcast: boolean;
  /** The SFU's bandwidth estimation picks its layers (temporal layers dropped on purpose are not loss). */
  readonly bandwidthManaged?: boolean;
  received: number;
  /** First, highest and last extended SFU sequence number seen. */
  firstSequence: number;
  maxSequence: number;
  lastSequence: number;
  /** Publisher counter of the first packet seen (any layer); -1 before. */
  firstCounter: number;
  /** Layer, first and highest publisher counter of the current segment; layer -1 before the first packet. */
  layer: number;
  segmentFirst: number;
  segmentLast: number;
  /** Expected packets of the closed segments, per layer. */
  readonly closedExpectedByLayer: number[];
  readonly receivedByLayer: number[];
  /** Layer switches seen in the packets (segment changes). */
  switches: number;
  /** Sequence numbers the SFU skipped at those switches (not packets it sent). */
  switchGaps: number;
  /** Preferred spatial layer asked for (undefined: mediasoup's default, the highest). */
  preferredLayer: number | undefined;
  /** consumerLayersChanged notifications and the spatial layers they named. */
  layerNotifications: number;
  readonly notifiedLayers: Set<number>;
  createdAtMs: number;
  firstPacketAtMs: number | undefined;
  /** Sum of one-way delays (receive time − send time, same clock), ms. */
  delaySumMs: number;
  delayCount: number;
}

/** Fresh counters of a consumer. */
export function newSubscription(init: Pick<SubscriptionCounters, 'consumerId' | 'kind' | 'producerId' | 'simulcast' | 'createdAtMs' | 'bandwidthManaged'>): SubscriptionCounters {
  return {
    ...init,
    streamKey: undefined,
    received: 0,
    firstSequence: -1,
    maxSequence: -1,
    lastSequence: -1,
    firstCounter: -1,
    layer: -1,
    segmentFirst: -1,
    segmentLast: -1,
    closedExpectedByLayer: new Array<number>(SIMULCAST_LAYERS).fill(0),
    receivedByLayer: new Array<number>(SIMULCAST_LAYERS).fill(0),
    switches: 0,
    switchGaps: 0,
    preferredLayer: undefined,
    layerNotifications: 0,
    notifiedLayers: new Set(),
    firstPacketAtMs: undefined,
    delaySumMs: 0,
    delayCount: 0,
  };
}

/** Counts one received packet; true when it was the subscription's first. */
export function receivePacket(counters: SubscriptionCounters, packet: ParsedRtp, nowMs: number): boolean {
  counters.received++;
  let first = false;
  let delta = 0;
  if (counters.firstSequence < 0) {
    counters.firstSequence = counters.maxSequence = counters.lastSequence = packet.sequence;
    counters.firstPacketAtMs = nowMs;
    first = true;
  } else {
    // Extend the 16-bit sequence number relative to the last one seen.
    delta = ((packet.sequence - (counters.lastSequence & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    counters.lastSequence += delta;
    if (counters.lastSequence > counters.maxSequence) counters.maxSequence = counters.lastSequence;
  }
  if (packet.counter === undefined || packet.layer === undefined || packet.layer >= SIMULCAST_LAYERS) return first;
  counters.receivedByLayer[packet.layer]!++;
  counters.streamKey ??= packet.streamKey;
  if (counters.firstCounter < 0) counters.firstCounter = packet.counter;
  if (packet.layer !== counters.layer) {
    if (counters.layer >= 0) {
      counters.closedExpectedByLayer[counters.layer]! += counters.segmentLast - counters.segmentFirst + 1;
      counters.switches++;
      if (delta > 1) counters.switchGaps += delta - 1;
    }
    counters.layer = packet.layer;
    counters.segmentFirst = counters.segmentLast = packet.counter;
  } else {
    if (packet.counter > counters.segmentLast) counters.segmentLast = packet.counter;
    if (packet.counter < counters.segmentFirst) counters.segmentFirst = packet.counter;
  }
  if (packet.sentAtMs !== undefined) {
    counters.delaySumMs += nowMs - packet.sentAtMs;
    counters.delayCount++;
  }
  return first;
}

/**
 * Packets the publisher sent that this subscription should have received, per layer:
 * the closed segments, plus the current one up to `sentOf(layer)` (the end of the run,
 * `final`) or up to the last counter seen (while running, so packets in flight do not count).
 * For a bandwidth-managed consumer: what the SFU forwarded, by layer.
 */
export function expectedByLayer(counters: SubscriptionCounters, sentOf: (layer: number) => number, final: boolean): number[] {
  if (counters.bandwidthManaged) {
    // What the SFU chose to forward: received, plus the packets lost after it (in the current layer).
    const expected = [...counters.receivedByLayer];
    if (counters.layer >= 0) expected[counters.layer]! += Math.max(0, forwardedOf(counters) - counters.received);
    return expected;
  }
  const expected = [...counters.closedExpectedByLayer];
  if (counters.layer >= 0) {
    const end = final ? sentOf(counters.layer) : Math.min(sentOf(counters.layer), counters.segmentLast + 1);
    expected[counters.layer]! += Math.max(0, end - counters.segmentFirst);
  }
  return expected;
}

/** Packets the SFU sent this subscription, by its sequence numbers (first to highest, without the gaps it left at switches); 0 before the first. */
export function forwardedOf(counters: SubscriptionCounters): number {
  return counters.firstSequence < 0 ? 0 : counters.maxSequence - counters.firstSequence + 1 - counters.switchGaps;
}
