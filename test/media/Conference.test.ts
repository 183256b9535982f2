// Conference against a real mediasoup worker: the object graph of a call
// (transports, paused consumers, layers), notifications, errors by code, and
// the close cascade down to an empty router.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { Conference } from '../../src/server/conference/Conference.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { SfuError } from '../../src/common/lib/errors.ts';
import { rejectionOf } from '../tools/errors.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinAs } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS, VIDEO_SIMULCAST_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logger = silentLogger();
let pool: WorkerPool;
let conference: Conference;

function options(overrides: Partial<{ maxParticipants: number }> = {}) {
  return {
    id: 'room-1' as ConferenceId,
    maxParticipants: overrides.maxParticipants ?? 10,
    maxProducersPerParticipant: 4,
    initialAvailableOutgoingBitrate: 1_000_000,
    maxIncomingBitrate: 5_000_000,
    activeSpeakerIntervalMs: 300,
    logger,
  };
}

const codeOf = (promise: Promise<unknown>) => rejectionOf(promise, SfuError, 'code');

async function publisher(id: string) {
  const p = await joinAs(conference, id);
  const send = await p.handle.createTransport({ direction: 'send' });
  return { ...p, send };
}

async function subscriber(id: string) {
  const p = await joinAs(conference, id);
  const recv = await p.handle.createTransport({ direction: 'recv' });
  return { ...p, recv };
}

async function produceVideo(p: Awaited<ReturnType<typeof publisher>>) {
  return p.handle.produce({
    transportId: p.send.transportId,
    kind: 'video',
    source: 'camera',
    rtpParameters: structuredClone(VIDEO_SIMULCAST_RTP_PARAMETERS) as never,
  });
}

async function produceAudio(p: Awaited<ReturnType<typeof publisher>>) {
  return p.handle.produce({
    transportId: p.send.transportId,
    kind: 'audio',
    source: 'microphone',
    rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
  });
}

beforeEach(async () => {
  pool = await WorkerPool.create({
    numWorkers: 1,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(),
    workerLogLevel: 'warn',
    logger,
  });
  conference = await Conference.create(options(), () => pool.createRouter());
});

afterEach(async () => {
  conference.close();
  const pids = pool.slots.map((slot) => slot.worker.pid);
  pool.close();
  await waitForExit(pids);
});

describe('Conference', () => {
  it('conference.join() returns the peers already present and tells them with peerJoined', async () => {
    const alice = await joinAs(conference, 'alice');
    const bob = await joinAs(conference, 'bob');
    expect(alice.joined.peers).toEqual([]);
    expect(bob.joined.peers.map((p) => p.participantId)).toEqual(['alice']);
    expect(alice.sink.of('peerJoined')).toEqual([{ participantId: 'bob', displayName: 'bob', publications: [] }]);
  });

  it('conference.join() refuses a full call with CONFERENCE_FULL', async () => {
    conference.close();
    conference = await Conference.create(options({ maxParticipants: 1 }), () => pool.createRouter());
    await joinAs(conference, 'alice');
    expect(await codeOf(joinAs(conference, 'bob'))).toBe('CONFERENCE_FULL');
  });

  it('conference.produce() gives every subscriber a paused consumer, resumed only by resumeConsumer()', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    const { producerId } = await produceVideo(alice);
    const created = await waitFor(() => bob.sink.of('consumerCreated')[0], { description: 'consumerCreated' });
    expect(created).toMatchObject({ producerId, participantId: 'alice', kind: 'video', source: 'camera', type: 'simulcast' });
    const participant = conference.dump().participants.find((p) => p.id === 'bob')!;
    expect(participant.consumers).toEqual([created.consumerId]);
    const routerDump = await conference.router.dump();
    expect(routerDump.mapProducerIdConsumerIds).toEqual([{ key: producerId, values: [created.consumerId] }]);
    // Paused until the client acknowledges.
    await bob.handle.resumeConsumer(created.consumerId);
  });

  it('a receive transport created after a producer exists is subscribed to it (after the transport reply)', async () => {
    const alice = await publisher('alice');
    await produceAudio(alice);
    const bob = await subscriber('bob');
    const created = await waitFor(() => bob.sink.of('consumerCreated')[0], { description: 'consumerCreated' });
    expect(created.kind).toBe('audio');
    expect(bob.recv.transportId).toBeTruthy();
  });

  it('conference.setConsumerPreferredLayers() accepts simulcast consumers and refuses audio with UNSUPPORTED', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    await produceVideo(alice);
    await produceAudio(alice);
    await waitFor(() => bob.sink.of('consumerCreated').length === 2, { description: 'two consumers' });
    const [video, audio] = ['video', 'audio'].map((kind) => bob.sink.of('consumerCreated').find((c) => c.kind === kind)!);
    await bob.handle.setConsumerPreferredLayers(video!.consumerId, { spatialLayer: 0, temporalLayer: 0 });
    expect(await codeOf(bob.handle.setConsumerPreferredLayers(audio!.consumerId, { spatialLayer: 0 }))).toBe('UNSUPPORTED');
  });

  it('conference.closeProducer() closes its consumers and sends consumerClosed', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    const { producerId } = await produceVideo(alice);
    const created = await waitFor(() => bob.sink.of('consumerCreated')[0]);
    await alice.handle.closeProducer(producerId);
    await waitFor(() => bob.sink.of('consumerClosed')[0], { description: 'consumerClosed' });
    expect(bob.sink.of('consumerClosed')).toEqual([{ consumerId: created.consumerId }]);
    expect(conference.dump().participants.find((p) => p.id === 'bob')!.consumers).toEqual([]);
  });

  it('pausing a producer tells subscribers with consumerPaused / consumerResumed', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    const { producerId } = await produceAudio(alice);
    const created = await waitFor(() => bob.sink.of('consumerCreated')[0]);
    await alice.handle.pauseProducer(producerId);
    await alice.handle.resumeProducer(producerId);
    await waitFor(() => bob.sink.of('consumerResumed').length === 1);
    expect(bob.sink.of('consumerPaused')).toEqual([{ consumerId: created.consumerId }]);
  });

  it('requests with wrong ids or directions fail with stable codes', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    expect(await codeOf(alice.handle.createTransport({ direction: 'send' }))).toBe('INVALID_STATE');
    expect(await codeOf(alice.handle.restartIce('nope'))).toBe('NOT_FOUND');
    expect(
      await codeOf(
        bob.handle.produce({
          transportId: bob.recv.transportId,
          kind: 'audio',
          source: 'microphone',
          rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
        }),
      ),
    ).toBe('BAD_REQUEST');
    expect(await codeOf(bob.handle.consume('missing'))).toBe('NOT_FOUND');
    expect(await codeOf(bob.handle.resumeConsumer('missing'))).toBe('NOT_FOUND');
    await alice.handle.leave();
    expect(await codeOf(alice.handle.createTransport({ direction: 'recv' }))).toBe('NOT_JOINED');
  });

  it('conference.createTransport() offers UDP and ICE-TCP candidates, TCP first when preferTcp is set', async () => {
    const alice = await joinAs(conference, 'alice');
    const udpFirst = await alice.handle.createTransport({ direction: 'send' });
    const tcpFirst = await alice.handle.createTransport({ direction: 'recv', preferTcp: true });
    const best = (info: typeof udpFirst) => [...info.iceCandidates].sort((a, b) => b.priority - a.priority)[0]!.protocol;
    expect(udpFirst.iceCandidates.map((c) => c.protocol).sort()).toEqual(['tcp', 'udp']);
    expect(best(udpFirst)).toBe('udp');
    expect(best(tcpFirst)).toBe('tcp');
    expect(udpFirst.iceCandidates.every((c) => c.ip === '127.0.0.1' && c.port === pool.slots[0]!.port)).toBe(true);
  });

  it('conference.consume() subscribes explicitly when autoSubscribe is off, once per producer', async () => {
    const alice = await publisher('alice');
    const { producerId } = await produceAudio(alice);
    const bob = await joinAs(conference, 'bob', false);
    await bob.handle.createTransport({ direction: 'recv' });
    const info = await bob.handle.consume(producerId);
    expect(info).toMatchObject({ producerId, kind: 'audio', participantId: 'alice' });
    expect(bob.sink.of('consumerCreated')).toEqual([]);
  });

  it('conference.leave() closes the leaver’s media, tells peers, and the last leave empties the router', async () => {
    const alice = await publisher('alice');
    const bob = await subscriber('bob');
    await produceVideo(alice);
    await produceAudio(alice);
    const bobSend = await bob.handle.createTransport({ direction: 'send' });
    await bob.handle.produce({
      transportId: bobSend.transportId,
      kind: 'audio',
      source: 'microphone',
      rtpParameters: { ...structuredClone(AUDIO_RTP_PARAMETERS), encodings: [{ ssrc: 33333333 }] } as never,
    });
    await waitFor(() => bob.sink.of('consumerCreated').length === 2);
    let empty = false;
    conference.on('empty', () => (empty = true));

    await alice.handle.leave();
    expect(bob.sink.of('peerLeft')).toEqual([{ participantId: 'alice' }]);
    await waitFor(() => bob.sink.of('consumerClosed').length === 2, { description: 'consumers of alice closed' });
    expect(empty).toBe(false);

    await bob.handle.leave();
    expect(empty).toBe(true);
    const dump = await conference.router.dump();
    expect(dump.transportIds).toEqual([]);
    expect(dump.mapProducerIdConsumerIds).toEqual([]);
    expect(dump.mapConsumerIdProducerId).toEqual([]);
    expect(dump.mapProducerIdObserverIds).toEqual([]);
    // Leaving twice is harmless.
    await bob.handle.leave();
    expect(bob.handle.closeReason).toBe('left');
  });

  it('conference.close() closes the router and every handle with conference-closed; later requests fail with NOT_JOINED', async () => {
    const alice = await joinAs(conference, 'alice');
    const router = conference.router;
    conference.close();
    conference.close();
    expect(router.closed).toBe(true);
    expect(alice.sink.closeReason).toBe('conference-closed');
    expect(await codeOf(alice.handle.createTransport({ direction: 'send' }))).toBe('NOT_JOINED');
  });
});
