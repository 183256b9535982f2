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
import { readdirSync, readFileSync } from 'node:fs';
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

  it('workers that die while starting are counted as deaths (workerDied), each one', async () => {
    const p = await createPool(1);
    const deaths: number[] = [];
    p.observer.on('workerDied', (_slot, pid) => deaths.push(pid));
    const known = new Set(childPids());
    const killed: number[] = [p.slots[0]!.worker.pid];
    process.kill(killed[0]!, 'SIGKILL');
    // Kill each replacement as soon as it appears, three times: all die during their start.
    for (let polls = 0; polls < 4000 && killed.length < 4; polls++) {
      for (const pid of childPids()) {
        if (!known.has(pid) && killed.length < 4) {
          known.add(pid);
          started.push(pid);
          killed.push(pid);
          process.kill(pid, 'SIGKILL');
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(killed).toHaveLength(4);
    await waitFor(() => p.slots.length === 1, { timeoutMs: 15_000, description: 'a replacement that survived' });
    await waitFor(() => deaths.length >= killed.length, { timeoutMs: 5000, description: 'every death counted' });
    expect(deaths.length).toBe(killed.length);
  });

  it('a stopped (hung) worker does not stop conference creation: routers go to the other worker within the deadline', async () => {
    pool = await WorkerPool.create({
      numWorkers: 2,
      listenIp: '127.0.0.1',
      announcedAddress: '',
      basePort: await freeMediaBasePort(2),
      workerLogLevel: 'none',
      logger,
      requestTimeoutMs: 500,
    });
    const p = pool;
    started.push(...p.slots.map((slot) => slot.worker.pid));
    const hung = p.slots[0]!;
    process.kill(hung.worker.pid, 'SIGSTOP');
    try {
      const leases = [];
      for (let i = 0; i < 4; i++) leases.push(await p.createRouter());
      expect(leases.map((lease) => lease.slotIndex)).toEqual([1, 1, 1, 1]);
      expect(p.load(0)).toMatchObject({ suspect: true });
      expect(p.load(1)).toMatchObject({ routers: 4, suspect: false });
    } finally {
      process.kill(hung.worker.pid, 'SIGCONT');
    }
  });
});

/** Pids of this process's children (mediasoup workers are spawned by the test process). */
function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      pids.push(...readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // A thread that ended between readdir and read has no children file.
    }
  }
  return pids;
}
