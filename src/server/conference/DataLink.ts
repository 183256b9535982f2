// SCTP data channels of one participant's send transport, bridged to Node. The
// client opens its channels itself (DCEP, in-band); the mediasoup worker does
// not speak DCEP (it drops PPID 50 on receipt), so each channel's SCTP stream id
// must be known in advance (WebRTC: the DTLS client takes even ids in creation
// order). Per channel the link holds:
//   - a data producer on the client's stream (what the client sends) with a
//     DirectTransport data consumer on it: Node gets every message;
//   - a data consumer on the same stream id (SCTP streams carry both
//     directions) fed from a DirectTransport "anchor" producer that never
//     sends: Node writes to the client with dataConsumer.send().
// mediasoup allocates data consumer stream ids itself (0, 1, 2, …), so ids
// between the wanted ones are taken by idle filler consumers, kept open (closing
// one would reset that stream towards the client).
// Once the association is up, a DCEP ACK (PPID 50) is written on each channel's
// stream: the client's channels leave the "waiting for ACK" state (until then
// libwebrtc sends even unordered channels ordered).

import { errorMessage } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { DataConsumer, DataProducer, DirectTransport, Router, WebRtcTransport } from '../media/types.ts';

/** One data channel the client opens on its send transport. */
export interface DataChannelSpec {
  /** The channel's label (the client's name for it; ours for send()). */
  readonly label: string;
  /** The SCTP stream id the client uses for it. */
  readonly streamId: number;
  readonly ordered: boolean;
  /** For unordered channels: retransmissions per message towards the client (mediasoup reads 0 as unlimited). */
  readonly maxRetransmits?: number;
}

/** Options of ParticipantHandle.openDataLink(). */
export interface DataLinkOptions {
  readonly channels: readonly DataChannelSpec[];
  /** Largest message the DirectTransport passes (the worker drops larger ones). */
  readonly maxMessageBytes: number;
  /** A message from the client (called synchronously from mediasoup's event). */
  readonly onMessage: (label: string, message: Buffer, ppid: number) => void;
}

/** Highest stream id a channel may ask for (fillers below it are bounded by it). */
export const MAX_DATA_STREAM_ID = 64;

/** SCTP payload protocol ids (RFC 8831). */
export const PPID = { dcep: 50, string: 51, binary: 53, stringEmpty: 56, binaryEmpty: 57 } as const;

const DCEP_ACK = Buffer.from([0x02]);

/** How the link makes bounded worker requests (the handle's ctx.media). */
export type MediaRequest = <T>(what: string, request: Promise<T>, onLate?: (value: T) => void) => Promise<T>;

/** The data channels of one send transport. */
export class DataLink {
  readonly #transport: WebRtcTransport;
  readonly #direct: DirectTransport;
  readonly #log: Logger;
  readonly #producers: DataProducer[] = [];
  readonly #outbound = new Map<string, DataConsumer>();
  readonly #fillers: DataConsumer[] = [];
  #closed = false;
  #acknowledged = false;

  private constructor(transport: WebRtcTransport, direct: DirectTransport, log: Logger) {
    this.#transport = transport;
    this.#direct = direct;
    this.#log = log;
  }

  /** Creates the link's mediasoup objects; on failure closes what it made and rejects. */
  static async open(router: Router, transport: WebRtcTransport, options: DataLinkOptions, media: MediaRequest, log: Logger): Promise<DataLink> {
    const specs = [...options.channels].sort((a, b) => a.streamId - b.streamId);
    for (const [index, spec] of specs.entries()) {
      if (!Number.isInteger(spec.streamId) || spec.streamId < 0 || spec.streamId > MAX_DATA_STREAM_ID) throw new RangeError(`stream id ${spec.streamId} out of range`);
      if (index > 0 && specs[index - 1]!.streamId === spec.streamId) throw new RangeError(`stream id ${spec.streamId} twice`);
    }
    if (!transport.sctpParameters) throw new Error('the transport has no SCTP association');
    const direct = await media('router.createDirectTransport', router.createDirectTransport({ maxMessageSize: options.maxMessageBytes }), (late) => late.close());
    const link = new DataLink(transport, direct, log);
    try {
      for (const spec of specs) {
        const producer = await media(
          'transport.produceData',
          transport.produceData({
            sctpStreamParameters: { streamId: spec.streamId, ordered: spec.ordered, ...(spec.ordered ? {} : { maxRetransmits: 0 }) },
            label: spec.label,
          }),
          (late) => late.close(),
        );
        link.#producers.push(producer);
        const inbound = await media('direct.consumeData', direct.consumeData({ dataProducerId: producer.id }), (late) => late.close());
        inbound.on('message', (message, ppid) => {
          if (!link.#closed) options.onMessage(spec.label, message, ppid);
        });
      }
      const anchor = await media('direct.produceData', direct.produceData({ label: 'sfu' }), (late) => late.close());
      for (const spec of specs) {
        for (;;) {
          const consumer = await media(
            'transport.consumeData',
            transport.consumeData({
              dataProducerId: anchor.id,
              ordered: spec.ordered,
              ...(spec.ordered ? {} : { maxRetransmits: spec.maxRetransmits ?? 1 }),
            }),
            (late) => late.close(),
          );
          const streamId = consumer.sctpStreamParameters?.streamId;
          if (streamId === spec.streamId) {
            link.#outbound.set(spec.label, consumer);
            break;
          }
          link.#fillers.push(consumer);
          if (streamId === undefined || streamId > spec.streamId) throw new Error(`stream id ${spec.streamId} is taken on this transport`);
        }
      }
    } catch (error) {
      link.close();
      throw error;
    }
    transport.observer.once('close', () => link.close());
    direct.observer.once('close', () => link.close());
    if (transport.sctpState === 'connected') link.#acknowledge();
    else transport.on('sctpstatechange', (state) => state === 'connected' && link.#acknowledge());
    return link;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes one message to the client on channel `label`; resolves false when refused (closed, send buffer full). */
  async send(label: string, message: Buffer): Promise<boolean> {
    const consumer = this.#outbound.get(label);
    if (this.#closed || !consumer || consumer.closed) return false;
    try {
      await consumer.send(message.length > 0 ? message : Buffer.alloc(1), message.length > 0 ? PPID.binary : PPID.binaryEmpty);
      return true;
    } catch (error) {
      this.#log.debug('data send refused', { label, error: errorMessage(error) });
      return false;
    }
  }

  /** Closes the DirectTransport (its consumers and the anchor) and the data producers. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Consumers of the anchor first: closing the DirectTransport closes them in the worker too.
    for (const consumer of [...this.#outbound.values(), ...this.#fillers]) consumer.close();
    for (const producer of this.#producers) producer.close();
    this.#direct.close();
  }

  #acknowledge(): void {
    if (this.#acknowledged || this.#closed) return;
    this.#acknowledged = true;
    for (const [label, consumer] of this.#outbound) {
      consumer.send(DCEP_ACK, PPID.dcep).catch((error: unknown) => this.#log.debug('DCEP ACK not sent', { label, error: errorMessage(error) }));
    }
  }
}
