// LiveKit DataPackets from a client's data channel: parsed, checked and
// rewritten before the relay copies them to other participants, as
// livekit-server does. Pure functions, no I/O.
//
// What a client may send, by DataPacket case:
//   - relayed: user (publishData), chatMessage, rpcRequest/rpcAck/rpcResponse,
//     streamHeader/streamChunk/streamTrailer (text and byte streams),
//     encryptedPacket (E2EE data), sipDtmf, transcription;
//   - dropped quietly: metrics (telemetry addressed to the server);
//   - refused as a fault: speaker (only the server announces speakers), an
//     empty or unknown case, an undecodable packet, more than
//     MAX_DATA_DESTINATIONS destinations or an identity over 255 bytes.
// The relayed packet always names its real sender: participantIdentity and
// participantSid (top level and the deprecated UserPacket copies) are
// overwritten, `kind` is set from the channel it arrived on, destination lists
// are removed (receivers need not learn who else was addressed), and a reliable
// sequence is renumbered by the relay (monotonic per sender across sessions).
// Unknown protobuf fields are dropped on decoding, so they are never relayed.

import { DataPacket, DataPacket_Kind } from '@livekit/protocol';
import { PPID } from '../conference/DataLink.ts';

/** The channel a packet arrived on (and is relayed on). */
export type DataChannelKind = 'reliable' | 'lossy';

/** The client's publisher data channels, with the SCTP stream ids livekit-client's PeerConnection gives them. */
export const LIVEKIT_DATA_CHANNELS = [
  // Created first, as the DTLS client (we answer `setup:passive`): even ids in creation order.
  { label: '_lossy', kind: 'lossy', streamId: 0, ordered: false, maxRetransmits: 1 },
  { label: '_reliable', kind: 'reliable', streamId: 2, ordered: true },
] as const satisfies ReadonlyArray<{ label: string; kind: DataChannelKind; streamId: number; ordered: boolean; maxRetransmits?: number }>;

/** The channel kind of a label, or undefined. */
export function channelOfLabel(label: string): DataChannelKind | undefined {
  return LIVEKIT_DATA_CHANNELS.find((channel) => channel.label === label)?.kind;
}

/** The label we write `kind` on. */
export function labelOfChannel(kind: DataChannelKind): string {
  return LIVEKIT_DATA_CHANNELS.find((channel) => channel.kind === kind)!.label;
}

/**
 * Largest DataPacket accepted (bytes on the wire). livekit-client splits streams into
 * 15 000-byte chunks and documents ~15 KiB as the reliable limit; 16 KiB leaves room for
 * the packet's own fields.
 */
export const MAX_DATA_PACKET_BYTES = 16 * 1024;
/** Most destination identities (and sids) one packet may name. */
export const MAX_DATA_DESTINATIONS = 64;
const MAX_IDENTITY_BYTES = 255;

/** Who sent a packet, as the SFU knows it. */
export interface DataSender {
  readonly identity: string;
  readonly sid: string;
}

/** What to do with one message from a client's data channel. */
export type DataVerdict =
  | {
      readonly action: 'relay';
      readonly type: NonNullable<DataPacket['value']['case']>;
      /** The rewritten packet, encoded. */
      readonly bytes: Uint8Array;
      /** Identities addressed (empty: everyone else). */
      readonly destinationIdentities: readonly string[];
      /** Sids addressed (deprecated UserPacket field; resolved by the relay). */
      readonly destinationSids: readonly string[];
    }
  | { readonly action: 'drop'; readonly why: string }
  | { readonly action: 'refuse'; readonly why: string };

const RELAYED = new Set<string>([
  'user',
  'chatMessage',
  'rpcRequest',
  'rpcAck',
  'rpcResponse',
  'streamHeader',
  'streamChunk',
  'streamTrailer',
  'encryptedPacket',
  'sipDtmf',
  'transcription',
]);

function checkedList(values: readonly string[], what: string): string | undefined {
  if (values.length > MAX_DATA_DESTINATIONS) return `more than ${MAX_DATA_DESTINATIONS} ${what}`;
  if (values.some((value) => Buffer.byteLength(value) > MAX_IDENTITY_BYTES)) return `a ${what} entry over ${MAX_IDENTITY_BYTES} bytes`;
  return undefined;
}

/**
 * Parses, checks and rewrites one data channel message of `sender`. A packet with a reliable
 * sequence (> 0) gets `nextSequence()` instead when given: receivers drop a sender sid's
 * sequences at or below the last they saw, and our sids stay the same across a full
 * reconnect while the client's sequence restarts at 1.
 */
export function inspectDataMessage(message: Uint8Array, ppid: number, channel: DataChannelKind, sender: DataSender, nextSequence?: () => number): DataVerdict {
  if (ppid !== PPID.binary) return { action: 'refuse', why: ppid === PPID.binaryEmpty ? 'empty message' : `payload protocol ${ppid} (LiveKit sends binary)` };
  if (message.length > MAX_DATA_PACKET_BYTES) return { action: 'refuse', why: `message of ${message.length} bytes over ${MAX_DATA_PACKET_BYTES}` };
  let packet: DataPacket;
  try {
    packet = DataPacket.fromBinary(message, { readUnknownFields: false });
  } catch (error) {
    return { action: 'refuse', why: `not a DataPacket: ${(error as Error).message}` };
  }
  const type = packet.value.case;
  if (type === undefined) return { action: 'refuse', why: 'DataPacket without a known value' };
  if (type === 'metrics') return { action: 'drop', why: 'metrics are addressed to the server' };
  if (!RELAYED.has(type)) return { action: 'refuse', why: `DataPacket ${type} is not a client's to send` };
  const destinationIdentities = [...packet.destinationIdentities];
  const destinationSids: string[] = [];
  if (packet.value.case === 'user') {
    const user = packet.value.value;
    destinationIdentities.push(...user.destinationIdentities);
    destinationSids.push(...user.destinationSids);
    user.participantIdentity = sender.identity;
    user.participantSid = sender.sid;
    user.destinationIdentities = [];
    user.destinationSids = [];
  }
  const bad = checkedList(destinationIdentities, 'destination identities') ?? checkedList(destinationSids, 'destination sids');
  if (bad) return { action: 'refuse', why: bad };
  packet.participantIdentity = sender.identity;
  packet.participantSid = sender.sid;
  packet.destinationIdentities = [];
  packet.kind = channel === 'reliable' ? DataPacket_Kind.RELIABLE : DataPacket_Kind.LOSSY;
  if (packet.sequence > 0 && nextSequence) packet.sequence = nextSequence();
  return {
    action: 'relay',
    type,
    bytes: packet.toBinary(),
    destinationIdentities: [...new Set(destinationIdentities)],
    destinationSids: [...new Set(destinationSids)],
  };
}

/** A per-sender token bucket over messages and bytes (refills continuously). */
export class DataRateLimiter {
  readonly #messagesPerSecond: number;
  readonly #bytesPerSecond: number;
  readonly #messageBurst: number;
  readonly #byteBurst: number;
  readonly #now: () => number;
  #messages: number;
  #bytes: number;
  #last: number;

  /** @param now monotonic clock in ms (default performance.now). */
  constructor(limits: DataRateLimits, now: () => number = () => performance.now()) {
    this.#messagesPerSecond = limits.messagesPerSecond;
    this.#bytesPerSecond = limits.bytesPerSecond;
    this.#messageBurst = limits.messageBurst;
    this.#byteBurst = limits.byteBurst;
    this.#now = now;
    this.#messages = limits.messageBurst;
    this.#bytes = limits.byteBurst;
    this.#last = now();
  }

  /** Takes one message of `bytes`; false (nothing taken) when over either rate. */
  take(bytes: number): boolean {
    const now = this.#now();
    const seconds = Math.max(0, now - this.#last) / 1000;
    this.#last = now;
    this.#messages = Math.min(this.#messageBurst, this.#messages + seconds * this.#messagesPerSecond);
    this.#bytes = Math.min(this.#byteBurst, this.#bytes + seconds * this.#bytesPerSecond);
    if (this.#messages < 1 || this.#bytes < bytes) return false;
    this.#messages -= 1;
    this.#bytes -= bytes;
    return true;
  }
}

/** Rates of one participant's data, both channels together. */
export interface DataRateLimits {
  readonly messagesPerSecond: number;
  readonly messageBurst: number;
  readonly bytesPerSecond: number;
  readonly byteBurst: number;
}

/**
 * Default data rates per participant: 200 messages/s (burst 400) and 512 KiB/s (burst
 * 1 MiB), enough for a text/byte stream of ~35 chunks per second and chat, far below what
 * would load the node (each relayed message costs one worker request per receiver).
 */
export const DEFAULT_DATA_RATES: DataRateLimits = {
  messagesPerSecond: 200,
  messageBurst: 400,
  bytesPerSecond: 512 * 1024,
  byteBurst: 1024 * 1024,
};
