// The messages nodes exchange over Redis pub/sub to run a room across nodes (the cascade),
// each published to the receiving node's channel `{prefix}cascade:{nodeId}` as JSON, and
// their parser: another node's message is external input like any other, so it is parsed
// into a typed value or refused (never trusted blindly, never able to crash the node).
//
//   hello   I serve this room now; link up with me (the node with the smaller id offers).
//   offer   A pipe transport for the room: my address, port and SRTP key.
//   answer  Mine, for your offer (the link is up once the offerer connects).
//   peers   Every participant of mine in the room with its publications (full snapshot,
//           sequence-numbered), each with the RTP parameters of my pipe consumer.
//   bye     I stop serving the room (or this link): drop what you show of mine.

import type { MediaSource } from '../conference/types.ts';
import type { RtpParameters } from '../media/types.ts';

/** Protocol version of the cascade messages. */
export const CASCADE_VERSION = 1;

/** SRTP parameters of a pipe transport (the key is secret: never logged). */
export interface PipeSrtp {
  readonly cryptoSuite: 'AEAD_AES_256_GCM' | 'AEAD_AES_128_GCM' | 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';
  readonly keyBase64: string;
}

/** One publication as announced to another node. */
export interface CascadePublication {
  readonly producerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly encrypted: boolean;
  readonly paused: boolean;
  /** RTP parameters of the sending node's pipe consumer: the receiving node's pipe producer uses them. */
  readonly rtpParameters: RtpParameters;
}

/** One participant as announced to another node. */
export interface CascadePeer {
  readonly participantId: string;
  readonly displayName: string;
  readonly joinedAtMs: number;
  readonly publications: readonly CascadePublication[];
}

interface Base {
  readonly v: typeof CASCADE_VERSION;
  /** The room (conference id). */
  readonly room: string;
  /** The sending node's id. */
  readonly from: string;
}

export type CascadeMessage =
  | (Base & { readonly type: 'hello' })
  | (Base & { readonly type: 'offer' | 'answer'; readonly link: string; readonly ip: string; readonly port: number; readonly srtp: PipeSrtp })
  | (Base & { readonly type: 'peers'; readonly link: string; readonly seq: number; readonly peers: readonly CascadePeer[] })
  | (Base & { readonly type: 'bye'; readonly link?: string });

/** Why a cascade message was refused. */
export class CascadeMessageError extends Error {
  override name = 'CascadeMessageError';
}

const SOURCES: readonly MediaSource[] = ['camera', 'microphone', 'screen', 'screen-audio'];
const SUITES: readonly PipeSrtp['cryptoSuite'][] = ['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];
/** Most participants one snapshot may list, and publications per participant. */
export const MAX_CASCADE_PEERS = 1000;
export const MAX_CASCADE_PUBLICATIONS = 16;

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CascadeMessageError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string, max = 255): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new CascadeMessageError(`${what} must be a string of 1-${max} characters`);
  return value;
}

function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new CascadeMessageError(`${what} must be an integer in ${min}-${max}`);
  return value;
}

function srtp(value: unknown): PipeSrtp {
  const v = record(value, 'srtp');
  const cryptoSuite = v['cryptoSuite'];
  if (!SUITES.includes(cryptoSuite as PipeSrtp['cryptoSuite'])) throw new CascadeMessageError('srtp.cryptoSuite is not one mediasoup knows');
  const keyBase64 = text(v['keyBase64'], 'srtp.keyBase64', 128);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) throw new CascadeMessageError('srtp.keyBase64 is not base64');
  return { cryptoSuite: cryptoSuite as PipeSrtp['cryptoSuite'], keyBase64 };
}

/**
 * RTP parameters as another node sent them: the shape is checked here (codecs and encodings
 * are arrays of objects, a mid is absent); mediasoup validates the rest when producing.
 */
function rtpParameters(value: unknown): RtpParameters {
  const v = record(value, 'rtpParameters');
  const codecs = v['codecs'];
  if (!Array.isArray(codecs) || codecs.length === 0 || codecs.length > 16) throw new CascadeMessageError('rtpParameters.codecs must be a non-empty array');
  for (const codec of codecs) {
    const c = record(codec, 'codec');
    text(c['mimeType'], 'codec.mimeType', 64);
    integer(c['payloadType'], 'codec.payloadType', 0, 127);
    integer(c['clockRate'], 'codec.clockRate', 1, 1_000_000);
  }
  const encodings = v['encodings'];
  if (!Array.isArray(encodings) || encodings.length === 0 || encodings.length > 8) throw new CascadeMessageError('rtpParameters.encodings must be a non-empty array');
  for (const encoding of encodings) record(encoding, 'encoding');
  if (v['headerExtensions'] !== undefined && !Array.isArray(v['headerExtensions'])) throw new CascadeMessageError('rtpParameters.headerExtensions must be an array');
  return value as RtpParameters;
}

function publication(value: unknown): CascadePublication {
  const v = record(value, 'publication');
  const kind = v['kind'];
  if (kind !== 'audio' && kind !== 'video') throw new CascadeMessageError('publication.kind must be audio or video');
  const source = v['source'];
  if (!SOURCES.includes(source as MediaSource)) throw new CascadeMessageError('publication.source is unknown');
  if (typeof v['encrypted'] !== 'boolean' || typeof v['paused'] !== 'boolean') throw new CascadeMessageError('publication.encrypted and .paused must be booleans');
  return {
    producerId: text(v['producerId'], 'publication.producerId', 64),
    kind,
    source: source as MediaSource,
    encrypted: v['encrypted'],
    paused: v['paused'],
    rtpParameters: rtpParameters(v['rtpParameters']),
  };
}

function peer(value: unknown): CascadePeer {
  const v = record(value, 'peer');
  const publications = v['publications'];
  if (!Array.isArray(publications) || publications.length > MAX_CASCADE_PUBLICATIONS) {
    throw new CascadeMessageError(`peer.publications must be an array of at most ${MAX_CASCADE_PUBLICATIONS}`);
  }
  const joinedAtMs = v['joinedAtMs'];
  if (typeof joinedAtMs !== 'number' || !Number.isFinite(joinedAtMs) || joinedAtMs <= 0) throw new CascadeMessageError('peer.joinedAtMs must be a time');
  return {
    participantId: text(v['participantId'], 'peer.participantId', 512),
    displayName: typeof v['displayName'] === 'string' ? v['displayName'].slice(0, 256) : '',
    joinedAtMs,
    publications: publications.map(publication),
  };
}

/** Parses a cascade message from another node; throws CascadeMessageError with the reason. */
export function parseCascadeMessage(value: unknown): CascadeMessage {
  const v = record(value, 'message');
  if (v['v'] !== CASCADE_VERSION) throw new CascadeMessageError(`unsupported cascade version ${String(v['v'])}`);
  const base = { v: CASCADE_VERSION, room: text(v['room'], 'room'), from: text(v['from'], 'from') } as const;
  switch (v['type']) {
    case 'hello':
      return { ...base, type: 'hello' };
    case 'offer':
    case 'answer':
      return {
        ...base,
        type: v['type'],
        link: text(v['link'], 'link', 600),
        ip: text(v['ip'], 'ip', 64),
        port: integer(v['port'], 'port', 1, 65535),
        srtp: srtp(v['srtp']),
      };
    case 'peers': {
      const peers = v['peers'];
      if (!Array.isArray(peers) || peers.length > MAX_CASCADE_PEERS) throw new CascadeMessageError(`peers must be an array of at most ${MAX_CASCADE_PEERS}`);
      return { ...base, type: 'peers', link: text(v['link'], 'link', 600), seq: integer(v['seq'], 'seq', 0, Number.MAX_SAFE_INTEGER), peers: peers.map(peer) };
    }
    case 'bye':
      return { ...base, type: 'bye', ...(v['link'] !== undefined ? { link: text(v['link'], 'link', 600) } : {}) };
    default:
      throw new CascadeMessageError(`unknown cascade message type ${JSON.stringify(v['type'])?.slice(0, 40)}`);
  }
}
