// DataPackets from a LiveKit client's data channel: what is relayed, dropped or refused, and
// how a relayed packet is rewritten (the real sender, the arrival channel's kind, no
// destination lists); the per-sender token bucket over messages and bytes.

import { describe, expect, it } from 'vitest';
import {
  ActiveSpeakerUpdate,
  ChatMessage,
  DataPacket,
  DataPacket_Kind,
  DataStream_Chunk,
  MetricsBatch,
  RpcRequest,
  SpeakerInfo,
  UserPacket,
} from '@livekit/protocol';
import { PPID } from '../../../../src/server/conference/DataLink.ts';
import {
  DataRateLimiter,
  LIVEKIT_DATA_CHANNELS,
  MAX_DATA_DESTINATIONS,
  MAX_DATA_PACKET_BYTES,
  channelOfLabel,
  inspectDataMessage,
  labelOfChannel,
} from '../../../../src/server/livekit/dataPacket.ts';

const carol = { identity: '@carol:x:DEV', sid: 'PA_carol' };

function user(fields: Partial<UserPacket> = {}, top: Partial<DataPacket> = {}): Uint8Array {
  return new DataPacket({ value: { case: 'user', value: new UserPacket({ payload: new TextEncoder().encode('hi'), ...fields }) }, ...top }).toBinary();
}

function relayed(bytes: Uint8Array, channel: 'reliable' | 'lossy' = 'reliable') {
  const verdict = inspectDataMessage(bytes, PPID.binary, channel, carol);
  if (verdict.action !== 'relay') throw new Error(`expected relay, got ${verdict.action}: ${verdict.why}`);
  return { ...verdict, packet: DataPacket.fromBinary(verdict.bytes) };
}

describe('inspectDataMessage', () => {
  it('relays a user packet with its topic and payload, naming the real sender', () => {
    const { packet, type, destinationIdentities } = relayed(user({ topic: 'chat', participantIdentity: carol.identity }));
    expect(type).toBe('user');
    expect(destinationIdentities).toEqual([]);
    expect(packet.participantIdentity).toBe(carol.identity);
    expect(packet.participantSid).toBe(carol.sid);
    expect(packet.value.case).toBe('user');
    const value = packet.value.value as UserPacket;
    expect(value.topic).toBe('chat');
    expect(new TextDecoder().decode(value.payload)).toBe('hi');
    expect(value.participantIdentity).toBe(carol.identity);
    expect(value.participantSid).toBe(carol.sid);
  });

  it('overwrites a spoofed sender identity and sid, top level and inside the user packet', () => {
    const { packet } = relayed(user({ participantIdentity: '@bob:x:DEV', participantSid: 'PA_bob' }, { participantIdentity: '@bob:x:DEV', participantSid: 'PA_bob' }));
    expect(packet.participantIdentity).toBe(carol.identity);
    expect(packet.participantSid).toBe(carol.sid);
    expect((packet.value.value as UserPacket).participantIdentity).toBe(carol.identity);
    expect((packet.value.value as UserPacket).participantSid).toBe(carol.sid);
  });

  it('sets the kind from the channel the packet arrived on', () => {
    expect(relayed(user({}, { kind: DataPacket_Kind.RELIABLE }), 'lossy').packet.kind).toBe(DataPacket_Kind.LOSSY);
    expect(relayed(user({}, { kind: DataPacket_Kind.LOSSY }), 'reliable').packet.kind).toBe(DataPacket_Kind.RELIABLE);
  });

  it('collects destinations from both lists and removes them from the relayed packet', () => {
    const { packet, destinationIdentities, destinationSids } = relayed(
      user({ destinationIdentities: ['@a:x:D', '@b:x:D'], destinationSids: ['PA_z'] }, { destinationIdentities: ['@b:x:D', '@c:x:D'] }),
    );
    expect([...destinationIdentities].sort()).toEqual(['@a:x:D', '@b:x:D', '@c:x:D']);
    expect(destinationSids).toEqual(['PA_z']);
    expect(packet.destinationIdentities).toEqual([]);
    expect((packet.value.value as UserPacket).destinationIdentities).toEqual([]);
    expect((packet.value.value as UserPacket).destinationSids).toEqual([]);
  });

  it('relays chat, RPC and stream packets, rewriting their sender', () => {
    const packets = [
      new DataPacket({ value: { case: 'chatMessage', value: new ChatMessage({ id: '1', message: 'hello' }) } }),
      new DataPacket({ destinationIdentities: ['@a:x:D'], value: { case: 'rpcRequest', value: new RpcRequest({ id: 'r', method: 'm', payload: '{}' }) } }),
      new DataPacket({ value: { case: 'streamChunk', value: new DataStream_Chunk({ streamId: 's', chunkIndex: 0n, content: new Uint8Array(10) }) } }),
    ];
    const verdicts = packets.map((p) => relayed(p.toBinary()));
    expect(verdicts.map((v) => v.type)).toEqual(['chatMessage', 'rpcRequest', 'streamChunk']);
    expect(verdicts.every((v) => v.packet.participantIdentity === carol.identity)).toBe(true);
    expect(verdicts[1]!.destinationIdentities).toEqual(['@a:x:D']);
  });

  it('refuses speaker updates, which only the server sends', () => {
    const bytes = new DataPacket({ value: { case: 'speaker', value: new ActiveSpeakerUpdate({ speakers: [new SpeakerInfo({ sid: 'PA_x', level: 1, active: true })] }) } }).toBinary();
    expect(inspectDataMessage(bytes, PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
  });

  it('drops metrics packets without faulting the sender', () => {
    const bytes = new DataPacket({ value: { case: 'metrics', value: new MetricsBatch({}) } }).toBinary();
    expect(inspectDataMessage(bytes, PPID.binary, 'lossy', carol)).toMatchObject({ action: 'drop' });
  });

  it('refuses garbage, an empty packet, strings and empty messages', () => {
    expect(inspectDataMessage(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
    expect(inspectDataMessage(new DataPacket({}).toBinary(), PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
    expect(inspectDataMessage(new Uint8Array(0), PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
    expect(inspectDataMessage(user(), PPID.string, 'reliable', carol)).toMatchObject({ action: 'refuse' });
    expect(inspectDataMessage(new Uint8Array(1), PPID.binaryEmpty, 'reliable', carol)).toMatchObject({ action: 'refuse', why: 'empty message' });
  });

  it('refuses a message over the size limit and accepts one at it', () => {
    const atLimit = user({ payload: new Uint8Array(MAX_DATA_PACKET_BYTES - 8) });
    expect(atLimit.length).toBeLessThanOrEqual(MAX_DATA_PACKET_BYTES);
    expect(inspectDataMessage(atLimit, PPID.binary, 'reliable', carol).action).toBe('relay');
    const over = user({ payload: new Uint8Array(MAX_DATA_PACKET_BYTES) });
    expect(inspectDataMessage(over, PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse', why: expect.stringContaining(`over ${MAX_DATA_PACKET_BYTES}`) });
  });

  it('refuses too many destinations and over-long identities', () => {
    const many = Array.from({ length: MAX_DATA_DESTINATIONS + 1 }, (_, i) => `@u${i}:x:D`);
    expect(inspectDataMessage(user({ destinationIdentities: many }), PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
    expect(inspectDataMessage(user({}, { destinationIdentities: ['x'.repeat(256)] }), PPID.binary, 'reliable', carol)).toMatchObject({ action: 'refuse' });
  });

  it('does not relay protobuf fields it does not know', () => {
    // Field 99 (varint 7) appended to a valid packet.
    const bytes = new Uint8Array([...user(), 0x98, 0x06, 0x07]);
    const { bytes: out } = relayed(bytes);
    expect(DataPacket.fromBinary(out).getType().runtime.bin.listUnknownFields(DataPacket.fromBinary(out))).toEqual([]);
  });
});

describe('LiveKit data channels', () => {
  it('maps labels and kinds both ways on the stream ids livekit-client uses', () => {
    expect(channelOfLabel('_reliable')).toBe('reliable');
    expect(channelOfLabel('_lossy')).toBe('lossy');
    expect(channelOfLabel('_data_track')).toBeUndefined();
    expect(labelOfChannel('lossy')).toBe('_lossy');
    expect(LIVEKIT_DATA_CHANNELS.map((c) => [c.label, c.streamId])).toEqual([
      ['_lossy', 0],
      ['_reliable', 2],
    ]);
  });
});

describe('DataRateLimiter', () => {
  it('lets a burst through, then refuses until time refills both buckets', () => {
    let now = 0;
    const limiter = new DataRateLimiter({ messagesPerSecond: 10, messageBurst: 3, bytesPerSecond: 1000, byteBurst: 2000 }, () => now);
    expect([limiter.take(100), limiter.take(100), limiter.take(100), limiter.take(100)]).toEqual([true, true, true, false]);
    now += 100; // one message back
    expect(limiter.take(100)).toBe(true);
    expect(limiter.take(100)).toBe(false);
  });

  it('refuses a message larger than the bytes left without spending a message token', () => {
    let now = 0;
    const limiter = new DataRateLimiter({ messagesPerSecond: 10, messageBurst: 10, bytesPerSecond: 1000, byteBurst: 1500 }, () => now);
    expect(limiter.take(1200)).toBe(true);
    expect(limiter.take(400)).toBe(false);
    expect(limiter.take(300)).toBe(true);
    now += 1000;
    expect(limiter.take(1000)).toBe(true);
  });
});
