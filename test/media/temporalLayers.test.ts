// Temporal-layer switching on VP8 simulcast through a real worker. A Node UDP socket sends
// two VP8 simulcast streams (L1T3: temporal ids 0,2,1,2 per four frames, a key frame every
// 15 frames, RTCP Sender Reports) into a PlainTransport; a consumer on a second PlainTransport forwards to a Node
// sink. For each preferred temporal layer, 0 included (mediasoup fixed a flatbuffers defect
// where temporal layer 0 was lost between Node and worker), the forwarded stream must hold
// exactly the frames of that layer and below, with consecutive RTP sequence numbers and
// VP8 picture ids and a TL0PICIDX that moves by one per base-layer frame: what a decoder
// needs to decode it without gaps.

import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { MEDIA_CODECS } from '../../src/server/media/codecs.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { waitForExit } from '../tools/workerPid.ts';

const SSRCS = [0x1111_0001, 0x1111_0002] as const;
const PAYLOAD_TYPE = 101;
const TEMPORAL_PATTERN = [0, 2, 1, 2] as const;
const KEY_FRAME_EVERY = 15;
/** Preferred [spatial, temporal] layers in turn: down to T0 and up again, on both streams. */
const LAYER_STEPS: ReadonlyArray<readonly [number, number]> = [
  [1, 2],
  [1, 0],
  [1, 1],
  [0, 0],
  [0, 2],
  [1, 0],
];

let pool: WorkerPool | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  pool?.close();
  pool = undefined;
  await waitForExit(pids);
});

interface StreamState {
  seq: number;
  pictureId: number;
  tl0PicIdx: number;
  frame: number;
}

/** One VP8 frame in one RTP packet: payload descriptor with picture id, TL0PICIDX and TID. */
function vp8Packet(ssrc: number, state: StreamState): Buffer {
  const tid = TEMPORAL_PATTERN[state.frame % TEMPORAL_PATTERN.length]!;
  const keyFrame = state.frame % KEY_FRAME_EVERY === 0;
  if (tid === 0) state.tl0PicIdx = (state.tl0PicIdx + 1) & 0xff;
  const rtp = Buffer.alloc(12);
  rtp[0] = 0x80;
  rtp[1] = 0x80 | PAYLOAD_TYPE; // marker: one packet per frame
  rtp.writeUInt16BE(state.seq & 0xffff, 2);
  rtp.writeUInt32BE((state.frame * 3000) >>> 0, 4);
  rtp.writeUInt32BE(ssrc, 8);
  const descriptor = Buffer.from([
    0x90, // X=1, S=1, PID=0
    0xe0, // I, L, T present
    0x80 | ((state.pictureId >> 8) & 0x7f),
    state.pictureId & 0xff,
    state.tl0PicIdx,
    (tid << 6) | (tid > 0 ? 0x20 : 0), // TID, Y (layer sync) on upper layers
  ]);
  // VP8 frame header: bit 0 clear on key frames; a key frame carries the start code and size.
  const frame = keyFrame
    ? Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...new Array<number>(200).fill(0x55)])
    : Buffer.from([0x31, 0x02, 0x00, ...new Array<number>(120).fill(0x33)]);
  state.seq++;
  state.pictureId = (state.pictureId + 1) & 0x7fff;
  state.frame++;
  return Buffer.concat([rtp, descriptor, frame]);
}

/** An RTCP Sender Report: mediasoup switches simulcast streams only once both have one. */
function senderReport(ssrc: number, state: StreamState): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  sr.writeUInt32BE(ssrc, 4);
  const nowMs = Date.now();
  sr.writeUInt32BE(Math.floor(nowMs / 1000) + 2_208_988_800, 8);
  sr.writeUInt32BE(Math.floor(((nowMs % 1000) / 1000) * 0x1_0000_0000), 12);
  sr.writeUInt32BE((state.frame * 3000) >>> 0, 16);
  sr.writeUInt32BE(state.frame, 20);
  sr.writeUInt32BE(state.frame * 150, 24);
  return sr;
}

interface Forwarded {
  seq: number;
  pictureId: number;
  tl0PicIdx: number;
  tid: number;
}

function parseForwarded(message: Buffer): Forwarded | undefined {
  // RTCP shares the port (rtcp-mux): its second byte is 192–223 (RFC 5761).
  if (message.length < 18 || (message[1]! >= 192 && message[1]! <= 223)) return undefined;
  const csrcCount = message[0]! & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (message[0]! & 0x10) offset += 4 + message.readUInt16BE(offset + 2) * 4; // header extensions
  const d = message.subarray(offset);
  if (!(d[0]! & 0x80) || (d[1]! & 0xe0) !== 0xe0 || !(d[2]! & 0x80)) return undefined;
  return { seq: message.readUInt16BE(2), pictureId: ((d[2]! & 0x7f) << 8) | d[3]!, tl0PicIdx: d[4]!, tid: d[5]! >> 6 };
}

describe('VP8 temporal layers', () => {
  it('consumer.setPreferredLayers() switches the forwarded temporal layers, 0 included, into a gap-free stream', async () => {
    pool = await WorkerPool.create({
      numWorkers: 1,
      listenIp: '127.0.0.1',
      announcedAddress: '',
      basePort: await freeMediaBasePort(1),
      workerLogLevel: 'warn',
      logger: silentLogger(),
    });
    const router = await pool.slots[0]!.worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const producer = await inbound.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/VP8', payloadType: PAYLOAD_TYPE, clockRate: 90_000, rtcpFeedback: [] }],
        encodings: SSRCS.map((ssrc) => ({ ssrc, scalabilityMode: 'L1T3' })),
      },
    });

    const sink = createSocket('udp4');
    sockets.push(sink);
    let window: Forwarded[] | undefined;
    sink.on('message', (message) => {
      const packet = parseForwarded(message);
      if (packet && window) window.push(packet);
    });
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
    const outbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
    await outbound.connect({ ip: '127.0.0.1', port: sink.address().port });
    const consumer = await outbound.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    expect(consumer.type).toBe('simulcast');

    const sender = createSocket('udp4');
    sockets.push(sender);
    const states: StreamState[] = SSRCS.map((_, i) => ({ seq: 1000 * (i + 1), pictureId: 100 * (i + 1), tl0PicIdx: 0, frame: 0 }));
    const timer = setInterval(() => {
      SSRCS.forEach((ssrc, i) => sender.send(vp8Packet(ssrc, states[i]!), inbound.tuple.localPort, '127.0.0.1'));
    }, 33);
    const reports = setInterval(() => {
      SSRCS.forEach((ssrc, i) => sender.send(senderReport(ssrc, states[i]!), inbound.tuple.localPort, '127.0.0.1'));
    }, 500);
    try {
      // SimulcastConsumer considers a stream above spatial layer 0 only once it has been
      // active for 2 s (StreamMinActiveMs); layer choices are made when preferences change.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      for (const [spatialLayer, temporalLayer] of LAYER_STEPS) {
        await consumer.setPreferredLayers({ spatialLayer, temporalLayer });
        await waitFor(
          () => consumer.currentLayers?.spatialLayer === spatialLayer && consumer.currentLayers.temporalLayer === temporalLayer,
          { timeoutMs: 5000, description: `current layers to reach ${spatialLayer}/${temporalLayer}` },
        );
        window = [];
        await new Promise((resolve) => setTimeout(resolve, 1200));
        const packets = window;
        window = undefined;
        const tids = new Set(packets.map((packet) => packet.tid));
        console.info(`[temporalLayers] preferred S${spatialLayer}T${temporalLayer}: ${packets.length} frames forwarded, temporal ids ${[...tids].sort().join(',')}`);

        expect(packets.length).toBeGreaterThan(5);
        expect(Math.max(...tids)).toBe(temporalLayer);
        for (let tid = 0; tid <= temporalLayer; tid++) expect(tids.has(tid)).toBe(true);
        // Frames per second of a layer set: T0 = 1/4, T1 = 1/2, T2 = all of ~30 fps.
        const expectedFps = [7.5, 15, 30][temporalLayer]!;
        expect(packets.length / 1.2).toBeGreaterThan(expectedFps * 0.5);
        expect(packets.length / 1.2).toBeLessThan(expectedFps * 1.5);
        for (let i = 1; i < packets.length; i++) {
          const previous = packets[i - 1]!;
          const packet = packets[i]!;
          expect((packet.seq - previous.seq) & 0xffff).toBe(1);
          expect((packet.pictureId - previous.pictureId) & 0x7fff).toBe(1);
          expect((packet.tl0PicIdx - previous.tl0PicIdx) & 0xff).toBe(packet.tid === 0 ? 1 : 0);
        }
      }
    } finally {
      clearInterval(timer);
      clearInterval(reports);
    }
  });
});
