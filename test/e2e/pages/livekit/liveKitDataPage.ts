// Test page for data packets with the real livekit-client against the SFU's livekit edge.
// Exposes `window.lkData` (liveKitDataApi.ts). createDataChannel is wrapped before the client
// loads so the page can also write raw bytes on the client's own publisher channels (the
// spoofing and garbage tests: what a modified client could send).

import { DataPacket, DataPacket_Kind, UserPacket } from '@livekit/protocol';
import { Room, RoomEvent, DataPacket_Kind as ClientKind, version } from 'livekit-client';
import type { LiveKitDataTestApi, ReceivedData } from './liveKitDataApi.ts';

const channels = new Map<string, RTCDataChannel>();
const originalCreate = RTCPeerConnection.prototype.createDataChannel;
RTCPeerConnection.prototype.createDataChannel = function createDataChannel(this: RTCPeerConnection, label: string, init?: RTCDataChannelInit) {
  const channel = originalCreate.call(this, label, init);
  channels.set(label, channel);
  return channel;
};

let room: Room | undefined;
let state = 'new';
const received: ReceivedData[] = [];
const decoder = new TextDecoder();

const api: LiveKitDataTestApi = {
  async connect(url, token) {
    room = new Room({ adaptiveStream: false, dynacast: false });
    room.on(RoomEvent.DataReceived, (payload, participant, kind, topic) => {
      received.push({ from: participant?.identity, text: decoder.decode(payload), topic, kind: kind === ClientKind.LOSSY ? 'lossy' : 'reliable', atMs: Date.now() });
    });
    room.on(RoomEvent.Disconnected, (reason) => {
      state = `disconnected ${String(reason)}`;
    });
    await room.connect(url, token, { autoSubscribe: true });
    state = 'connected';
    return room.localParticipant.identity;
  },
  async channelsOpen() {
    for (let i = 0; i < 400; i++) {
      const reliable = channels.get('_reliable');
      const lossy = channels.get('_lossy');
      if (reliable?.readyState === 'open' && lossy?.readyState === 'open') return { _reliable: reliable.id, _lossy: lossy.id };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`data channels not open: ${[...channels].map(([label, c]) => `${label}=${c.readyState}`).join(', ')}`);
  },
  async publish(text, options) {
    const sentAtMs = Date.now();
    await room!.localParticipant.publishData(new TextEncoder().encode(text), {
      reliable: options.reliable,
      ...(options.topic !== undefined ? { topic: options.topic } : {}),
      ...(options.destinationIdentities ? { destinationIdentities: options.destinationIdentities } : {}),
    });
    return sentAtMs;
  },
  publishSpoofed(text, claimedIdentity, claimedSid, label) {
    const packet = new DataPacket({
      kind: label === '_lossy' ? DataPacket_Kind.LOSSY : DataPacket_Kind.RELIABLE,
      participantIdentity: claimedIdentity,
      participantSid: claimedSid,
      value: { case: 'user', value: new UserPacket({ participantIdentity: claimedIdentity, participantSid: claimedSid, payload: new TextEncoder().encode(text), topic: 'spoof' }) },
    });
    channels.get(label)!.send(new Uint8Array(packet.toBinary()));
  },
  sendRaw(label, bytes) {
    const data = Array.isArray(bytes) ? new Uint8Array(bytes) : new Uint8Array(bytes.length).fill(bytes.fill);
    channels.get(label)!.send(data);
  },
  received: () => [...received],
  remoteIdentities: () => [...(room?.remoteParticipants.values() ?? [])].map((p) => p.identity),
  state: () => state,
  async disconnect() {
    await room?.disconnect();
  },
  version: () => version,
};

(globalThis as unknown as { lkData: LiveKitDataTestApi }).lkData = api;
