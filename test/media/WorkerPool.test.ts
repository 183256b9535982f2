// WorkerPool against real mediasoup workers: one WebRtcServer per worker on
// its own port, least-loaded router placement, and replacement after death.

import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { ConferenceRegistry } from '../../src/server/conference/ConferenceRegistry.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinAs } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { pidAlive, waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';

const logger = silentLogger();
let pool: WorkerPool | undefined;
const started: number[] = [];

async function createPool(numWorkers: number): Promise<WorkerPool> {
  pool = await WorkerPool.create({
    numWorkers,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(numWorkers),
    workerLogLevel: 'warn',
    logger,
  });
  pool.observer.on('workerStarted', (slot) => started.push(slot.worker.pid));
  started.push(...pool.slots.map((slot) => slot.worker.pid));
  return pool;
}

afterEach(async () => {
  pool?.close();
  await waitForExit(started.splice(0));
});

describe('WorkerPool', () => {
  it('WorkerPool.create() starts one worker and one WebRtcServer per slot on consecutive ports', async () => {
    const p = await createPool(2);
    expect(p.slots.map((slot) => slot.port - p.slots[0]!.port)).toEqual([0, 1]);
    const dump = (await p.slots[0]!.webRtcServer.dump()) as { udpSockets: unknown[]; tcpServers: unknown[] };
    expect(dump.udpSockets).toHaveLength(1);
    expect(dump.tcpServers).toHaveLength(1);
  });

  it('pool.createRouter() spreads routers over the least-loaded workers', async () => {
    const p = await createPool(2);
    const a = await p.createRouter();
    const b = await p.createRouter();
    expect(a.slotIndex).not.toBe(b.slotIndex);
  });

  it('WorkerPool.create() rejects with a clear error when the port is taken', async () => {
    const p = await createPool(1);
    const port = p.slots[0]!.port;
    await expect(
      WorkerPool.create({ numWorkers: 1, listenIp: '127.0.0.1', announcedAddress: '', basePort: port, workerLogLevel: 'warn', logger }),
    ).rejects.toThrow(`cannot listen on 127.0.0.1:${port}`);
  });

  it('a killed worker is replaced in its slot and its conferences are rebuilt with reconnectRequested', async () => {
    const p = await createPool(1);
    const registry = new ConferenceRegistry({
      pool: p,
      conference: {
        maxParticipants: 10,
        maxProducersPerParticipant: 4,
        initialAvailableOutgoingBitrate: 1_000_000,
        maxIncomingBitrate: 0,
        activeSpeakerIntervalMs: 300,
      },
      logger,
    });
    const conference = await registry.getOrCreate('room' as ConferenceId);
    const alice = await joinAs(conference, 'alice');
    await alice.handle.createTransport({ direction: 'send' });
    const oldRouter = conference.router;
    const deadPid = p.slots[0]!.worker.pid;

    process.kill(deadPid, 'SIGKILL');
    await waitFor(() => alice.sink.of('reconnectRequested')[0], { timeoutMs: 10_000, description: 'reconnectRequested' });
    expect(alice.sink.of('reconnectRequested')).toEqual([{ reason: 'worker-restarted' }]);
    expect(pidAlive(deadPid)).toBe(false);
    expect(p.slots).toHaveLength(1);
    expect(p.slots[0]!.worker.pid).not.toBe(deadPid);
    expect(conference.router).not.toBe(oldRouter);
    expect(conference.router.closed).toBe(false);
    expect(conference.dump().participants[0]!.transports).toEqual([]);

    // The participant can publish again on the new router.
    const send = await alice.handle.createTransport({ direction: 'send' });
    await alice.handle.produce({
      transportId: send.transportId,
      kind: 'audio',
      source: 'microphone',
      rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
    });
    registry.close();
  });

  it('registry.getOrCreate() called twice at once creates one conference', async () => {
    const p = await createPool(1);
    const registry = new ConferenceRegistry({
      pool: p,
      conference: { maxParticipants: 10, maxProducersPerParticipant: 4, initialAvailableOutgoingBitrate: 1_000_000, maxIncomingBitrate: 0, activeSpeakerIntervalMs: 300 },
      logger,
    });
    const [a, b] = await Promise.all([registry.getOrCreate('x' as ConferenceId), registry.getOrCreate('x' as ConferenceId)]);
    expect(a).toBe(b);
    expect(registry.size).toBe(1);
    registry.close();
    expect(registry.size).toBe(0);
  });
});
