// Data packets between the LiveKit participants of a conference. Each session
// has a DataEndpoint: messages from its client's `_reliable`/`_lossy` channels
// (through the core's DataLink on its send transport) are bounded, rate limited,
// checked and rewritten (dataPacket.ts), then the node-wide DataRelay copies them
// to the other endpoints of the same conference, honouring destination
// identities; each endpoint writes its copies to its own client on the same
// channel kind, on the client's publisher-PC channels (livekit-client reads data
// on those as well as on subscriber-PC channels).
//
// Bounds: a message over MAX_DATA_PACKET_BYTES, a non-binary message, an
// undecodable or forbidden DataPacket and data from a participant without
// publish rights are faults of the sender (its session counts them and ends
// after signalling.maxProtocolFaults); messages over the sender's rate are
// dropped (counted, not faults: a burst of a byte stream is not an attack); a
// receiver with MAX_PENDING_DATA_SENDS copies in flight gets no more until they
// drain (dropped, counted). Nothing here throws into mediasoup's event.

import type { Logger } from '../../common/lib/logger.ts';
import type { DataLink } from '../conference/DataLink.ts';
import {
  DEFAULT_DATA_RATES,
  DataRateLimiter,
  channelOfLabel,
  inspectDataMessage,
  labelOfChannel,
  type DataChannelKind,
  type DataRateLimits,
  type DataSender,
} from './dataPacket.ts';

/** Copies one receiver may have queued in the worker at once; more are dropped. */
export const MAX_PENDING_DATA_SENDS = 128;

/** Senders whose reliable sequence a conference remembers (the oldest is forgotten beyond). */
export const MAX_SEQUENCED_SENDERS = 4096;

/** What happened to one message a client sent. */
export type DataMessageOutcome = 'relayed' | 'refused' | 'rate_limited' | 'dropped';

/** Metrics of the relay (SfuMetrics implements it). */
export interface DataRelayObserver {
  /** A message from a client: relayed (bytes = its size), refused (a fault), rate limited or dropped. */
  dataMessage?(channel: DataChannelKind, outcome: DataMessageOutcome, bytes: number): void;
  /** A copy to one receiver: written to its transport, or dropped (no link yet, queue full, refused by the worker). */
  dataDelivery?(channel: DataChannelKind, outcome: 'sent' | 'dropped'): void;
}

/** The node's relay: endpoints by conference. */
export class DataRelay {
  readonly #rooms = new Map<string, Map<string, DataEndpoint>>();
  /** Last reliable sequence relayed per conference and sender identity (kept across that sender's sessions). */
  readonly #sequences = new Map<string, Map<string, number>>();
  readonly #observer: DataRelayObserver;

  constructor(observer: DataRelayObserver = {}) {
    this.#observer = observer;
  }

  /** Endpoints currently registered (tests and dumps). */
  endpointsOf(conferenceId: string): number {
    return this.#rooms.get(conferenceId)?.size ?? 0;
  }

  /** Registers a session's endpoint; a newer endpoint of the same identity replaces the older. */
  attach(conferenceId: string, endpoint: DataEndpoint): void {
    let room = this.#rooms.get(conferenceId);
    if (!room) {
      room = new Map();
      this.#rooms.set(conferenceId, room);
    }
    room.set(endpoint.sender.identity, endpoint);
  }

  /** Removes the endpoint if it is still the registered one for its identity. */
  detach(conferenceId: string, endpoint: DataEndpoint): void {
    const room = this.#rooms.get(conferenceId);
    if (room?.get(endpoint.sender.identity) !== endpoint) return;
    room.delete(endpoint.sender.identity);
    if (room.size === 0) {
      this.#rooms.delete(conferenceId);
      this.#sequences.delete(conferenceId);
    }
  }

  /**
   * The next reliable sequence of `identity` in the conference. Receivers drop a sender sid's
   * packets at or below the last sequence they saw (livekit-client, for 30 s); our sids do not
   * change when a participant reconnects fully, but its client restarts at 1.
   */
  nextSequence(conferenceId: string, identity: string): number {
    let senders = this.#sequences.get(conferenceId);
    if (!senders) {
      senders = new Map();
      this.#sequences.set(conferenceId, senders);
    }
    const next = ((senders.get(identity) ?? 0) % 0xffff_fffe) + 1;
    if (!senders.has(identity) && senders.size >= MAX_SEQUENCED_SENDERS) senders.delete(senders.keys().next().value!);
    senders.set(identity, next);
    return next;
  }

  /** @internal Counts a message outcome. */
  record(channel: DataChannelKind, outcome: DataMessageOutcome, bytes: number): void {
    this.#observer.dataMessage?.(channel, outcome, bytes);
  }

  /** @internal Counts a delivery outcome. */
  recordDelivery(channel: DataChannelKind, outcome: 'sent' | 'dropped'): void {
    this.#observer.dataDelivery?.(channel, outcome);
  }

  /**
   * Copies `bytes` to the conference's endpoints other than `from`: to every one, or only to
   * those whose identity or sid is addressed. Returns the number of copies handed out.
   */
  fanOut(conferenceId: string, from: DataEndpoint, channel: DataChannelKind, bytes: Uint8Array, identities: readonly string[], sids: readonly string[]): number {
    const room = this.#rooms.get(conferenceId);
    if (!room) return 0;
    const everyone = identities.length === 0 && sids.length === 0;
    const wanted = new Set(identities);
    const wantedSids = new Set(sids);
    let copies = 0;
    for (const endpoint of room.values()) {
      if (endpoint === from) continue;
      if (!everyone && !wanted.has(endpoint.sender.identity) && !wantedSids.has(endpoint.sender.sid)) continue;
      endpoint.deliver(channel, bytes);
      copies++;
    }
    return copies;
  }
}

/** Options of a DataEndpoint. */
export interface DataEndpointOptions {
  readonly relay: DataRelay;
  readonly conferenceId: string;
  readonly sender: DataSender;
  /** Whether the participant may publish (data included). */
  readonly canPublish: boolean;
  readonly limits?: DataRateLimits;
  /** A message the sender should not have sent: its session counts a fault. */
  readonly onFault: (why: string) => void;
  readonly logger: Logger;
}

/** One session's side of the relay. */
export class DataEndpoint {
  readonly sender: DataSender;
  readonly #options: DataEndpointOptions;
  readonly #rate: DataRateLimiter;
  readonly #log: Logger;
  #link: DataLink | undefined;
  #pending = 0;
  #closed = false;
  #rateLimitedSinceLog = 0;

  constructor(options: DataEndpointOptions) {
    this.#options = options;
    this.sender = options.sender;
    this.#rate = new DataRateLimiter(options.limits ?? DEFAULT_DATA_RATES);
    this.#log = options.logger;
    options.relay.attach(options.conferenceId, this);
  }

  /** The client's data channels are bridged: copies can be written to it. */
  bind(link: DataLink): void {
    if (this.#closed) {
      link.close();
      return;
    }
    this.#link = link;
  }

  /** A message from the client's channel `label` (DataLink's onMessage). */
  receive(label: string, message: Buffer, ppid: number): void {
    if (this.#closed) return;
    const channel = channelOfLabel(label);
    if (!channel) return;
    const relay = this.#options.relay;
    if (!this.#options.canPublish) {
      relay.record(channel, 'refused', message.length);
      this.#options.onFault('data from a participant without publish rights');
      return;
    }
    if (!this.#rate.take(message.length)) {
      relay.record(channel, 'rate_limited', message.length);
      if (this.#rateLimitedSinceLog++ % 100 === 0) this.#log.debug('data over the rate limit, dropped', { channel, dropped: this.#rateLimitedSinceLog });
      return;
    }
    const verdict = inspectDataMessage(message, ppid, channel, this.sender, () => relay.nextSequence(this.#options.conferenceId, this.sender.identity));
    if (verdict.action === 'refuse') {
      relay.record(channel, 'refused', message.length);
      this.#options.onFault(`data packet refused: ${verdict.why}`);
      return;
    }
    if (verdict.action === 'drop') {
      relay.record(channel, 'dropped', message.length);
      this.#log.debug('data packet not relayed', { channel, why: verdict.why });
      return;
    }
    relay.record(channel, 'relayed', message.length);
    relay.fanOut(this.#options.conferenceId, this, channel, verdict.bytes, verdict.destinationIdentities, verdict.destinationSids);
  }

  /** Writes one relayed packet to this endpoint's client (bounded; never throws). */
  deliver(channel: DataChannelKind, bytes: Uint8Array): void {
    const relay = this.#options.relay;
    const link = this.#link;
    if (this.#closed || !link || link.closed || this.#pending >= MAX_PENDING_DATA_SENDS) {
      relay.recordDelivery(channel, 'dropped');
      return;
    }
    this.#pending++;
    void link.send(labelOfChannel(channel), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).then((sent) => {
      this.#pending--;
      relay.recordDelivery(channel, sent ? 'sent' : 'dropped');
    });
  }

  /** Leaves the relay and closes the link. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.relay.detach(this.#options.conferenceId, this);
    this.#link?.close();
  }
}
