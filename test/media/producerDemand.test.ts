// The conference core's producer demand against a real mediasoup worker: a publisher's handle
// hears `producerDemand` for its producer whenever the consumers of it change (created paused,
// resumed, preferred layers, paused, closed with their subscriber), and `conference.demandOf()`
// answers the same question on demand. Consumers of any edge count alike (they are the core's).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { Conference } from '../../src/server/conference/Conference.ts';
import type { ProducerDemand } from '../../src/server/conference/types.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinAs } from '../fixtures/conference.ts';
import { VIDEO_SIMULCAST_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logger = silentLogger();
let pool: WorkerPool;
let conference: Conference;

beforeEach(async () => {
  pool = await WorkerPool.create({
    numWorkers: 1,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(),
    workerLogLevel: 'none',
    logger,
    requestTimeoutMs: 3000,
  });
  conference = await Conference.create(
    { id: 'demand' as ConferenceId, maxParticipants: 10, maxProducersPerParticipant: 4, initialAvailableOutgoingBitrate: 1_000_000, maxIncomingBitrate: 0, activeSpeakerIntervalMs: 300, logger },
    () => pool.createRouter(),
  );
});

afterEach(async () => {
  const pids = pool.slots.map((slot) => slot.worker.pid);
  conference.close();
  pool.close();
  await waitForExit(pids);
});

describe('producer demand', () => {
  it('the publisher hears what its subscribers need: nothing while paused, the highest preferred layer of those forwarding, nothing after they leave', async () => {
    const alice = await joinAs(conference, 'alice');
    const heard: ProducerDemand[] = [];
    alice.handle.on('producerDemand', (_producerId, demand) => heard.push(demand));
    const send = await alice.handle.createTransport({ direction: 'send' });
    const { producerId } = await alice.handle.produce({
      transportId: send.transportId,
      kind: 'video',
      source: 'camera',
      rtpParameters: structuredClone(VIDEO_SIMULCAST_RTP_PARAMETERS) as never,
    });
    const last = () => heard.at(-1);
    // Produced with nobody there: told at once that nobody needs it.
    await waitFor(() => last()?.consumers === 0 || undefined, { description: 'demand with no consumer' });
    expect(last()).toEqual({ consumers: 0, active: 0, maxSpatialLayer: -1 });

    const bob = await joinAs(conference, 'bob');
    const carol = await joinAs(conference, 'carol');
    await bob.handle.createTransport({ direction: 'recv' });
    await carol.handle.createTransport({ direction: 'recv' });
    const bobConsumer = await waitFor(() => bob.sink.of('consumerCreated')[0], { description: 'bob consumes' });
    const carolConsumer = await waitFor(() => carol.sink.of('consumerCreated')[0], { description: 'carol consumes' });
    // Consumers start paused: they need nothing yet.
    await waitFor(() => last()?.consumers === 2 || undefined, { description: 'two consumers counted' });
    expect(last()).toEqual({ consumers: 2, active: 0, maxSpatialLayer: -1 });

    await bob.handle.resumeConsumer(bobConsumer.consumerId);
    const top = VIDEO_SIMULCAST_RTP_PARAMETERS.encodings!.length - 1;
    await waitFor(() => last()?.active === 1 || undefined, { description: 'bob forwards' });
    expect(last()).toEqual({ consumers: 2, active: 1, maxSpatialLayer: top });

    await bob.handle.setConsumerPreferredLayers(bobConsumer.consumerId, { spatialLayer: 0 });
    await waitFor(() => last()?.maxSpatialLayer === 0 || undefined, { description: 'bob wants the lowest layer' });
    await carol.handle.resumeConsumers([carolConsumer.consumerId]);
    await carol.handle.setConsumerPreferredLayers(carolConsumer.consumerId, { spatialLayer: 1 });
    await waitFor(() => (last()?.active === 2 && last()?.maxSpatialLayer === 1) || undefined, { description: 'carol wants the middle layer' });
    expect(conference.demandOf(producerId)).toEqual({ consumers: 2, active: 2, maxSpatialLayer: 1 });

    await carol.handle.pauseConsumer(carolConsumer.consumerId);
    await waitFor(() => (last()?.active === 1 && last()?.maxSpatialLayer === 0) || undefined, { description: 'carol paused: only bob counts' });
    await bob.handle.leave();
    await carol.handle.leave();
    await waitFor(() => last()?.consumers === 0 || undefined, { description: 'subscribers gone' });
    expect(last()).toEqual({ consumers: 0, active: 0, maxSpatialLayer: -1 });
    expect(conference.demandOf('no-such-producer')).toBeUndefined();
  });
});
