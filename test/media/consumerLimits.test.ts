// Consumer bounds against a real mediasoup worker: one consumer per
// (subscriber, producer) however often consume is called, the
// per-participant cap and the per-worker cap (LIMIT_EXCEEDED, counted by the
// observer), and the consume-flood numbers the README reports.

import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { Conference } from '../../src/server/conference/Conference.ts';
import type { ConsumerRefusal } from '../../src/server/conference/events.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { SfuError } from '../../src/common/lib/errors.ts';
import { joinAs, type Joined } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logger = silentLogger();
let pool: WorkerPool | undefined;
let conference: Conference | undefined;

async function setUp(options: { maxConsumersPerParticipant?: number; maxConsumersPerWorker?: number } = {}) {
  pool = await WorkerPool.create({
    numWorkers: 1,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(),
    workerLogLevel: 'none',
    logger,
    ...(options.maxConsumersPerWorker !== undefined ? { maxConsumersPerWorker: options.maxConsumersPerWorker } : {}),
  });
  const p = pool;
  conference = await Conference.create(
    {
      id: 'limits' as ConferenceId,
      maxParticipants: 100,
      maxProducersPerParticipant: 4,
      ...(options.maxConsumersPerParticipant !== undefined ? { maxConsumersPerParticipant: options.maxConsumersPerParticipant } : {}),
      initialAvailableOutgoingBitrate: 1_000_000,
      maxIncomingBitrate: 0,
      activeSpeakerIntervalMs: 300,
      logger,
    },
    () => p.createRouter(),
  );
  const refusals: ConsumerRefusal[] = [];
  conference.observer.on('consumerRefused', (reason) => refusals.push(reason));
  return { conference, refusals };
}

/** A publisher with `count` audio producers (distinct MID and SSRC each). */
async function publisher(c: Conference, id: string, count: number): Promise<{ joined: Joined; producerIds: string[] }> {
  const joined = await joinAs(c, id, false);
  const send = await joined.handle.createTransport({ direction: 'send' });
  const producerIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const { producerId } = await joined.handle.produce({
      transportId: send.transportId,
      kind: 'audio',
      source: 'microphone',
      rtpParameters: { ...structuredClone(AUDIO_RTP_PARAMETERS), mid: String(i), encodings: [{ ssrc: 1000 + i }] } as never,
    });
    producerIds.push(producerId);
  }
  return { joined, producerIds };
}

async function subscriber(c: Conference, id: string): Promise<Joined> {
  const joined = await joinAs(c, id, false);
  await joined.handle.createTransport({ direction: 'recv' });
  return joined;
}

async function consumersInRouter(c: Conference): Promise<number> {
  const dump = await c.router.dump();
  return dump.mapConsumerIdProducerId.length;
}

afterEach(async () => {
  conference?.close();
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  pool?.close();
  await waitForExit(pids);
});

describe('consumer bounds', () => {
  it('handle.consume() called 1000 times for one producer creates one consumer and returns it every time', async () => {
    const { conference: c } = await setUp();
    const alice = await publisher(c, 'alice', 1);
    const bob = await subscriber(c, 'bob');
    const infos = await Promise.all(Array.from({ length: 1000 }, () => bob.handle.consume(alice.producerIds[0]!)));
    expect(new Set(infos.map((info) => info.consumerId)).size).toBe(1);
    expect(await consumersInRouter(c)).toBe(1);
    expect(c.dump().participants.find((p) => p.id === 'bob')!.consumers).toHaveLength(1);
  });

  it('a consume flood over 80 producers stops at conference.maxConsumersPerParticipant with LIMIT_EXCEEDED', async () => {
    const { conference: c, refusals } = await setUp({ maxConsumersPerParticipant: 50 });
    const producerIds: string[] = [];
    for (let i = 0; i < 20; i++) producerIds.push(...(await publisher(c, `pub-${i}`, 4)).producerIds);
    const mallory = await subscriber(c, 'mallory');
    const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => mallory.handle.consume(producerIds[i % producerIds.length]!)));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(new Set(refused.map((o) => (o.reason as SfuError).code))).toEqual(new Set(['LIMIT_EXCEEDED']));
    expect(await consumersInRouter(c)).toBe(50);
    expect(refusals.length).toBe(refused.length);
    expect(new Set(refusals)).toEqual(new Set(['participant-limit']));
  });

  it('media.maxConsumersPerWorker refuses consumers past the worker cap across participants', async () => {
    const { conference: c, refusals } = await setUp({ maxConsumersPerWorker: 3 });
    const alice = await publisher(c, 'alice', 2);
    const bob = await subscriber(c, 'bob');
    const carol = await subscriber(c, 'carol');
    await bob.handle.consume(alice.producerIds[0]!);
    await bob.handle.consume(alice.producerIds[1]!);
    await carol.handle.consume(alice.producerIds[0]!);
    await expect(carol.handle.consume(alice.producerIds[1]!)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(refusals).toEqual(['worker-limit']);
    expect(pool!.load(0)).toMatchObject({ consumers: 3 });
    // A consumer that closes frees its place.
    await bob.handle.leave();
    await carol.handle.consume(alice.producerIds[1]!);
  });
});
