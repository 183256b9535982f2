// A conference across workers, against real mediasoup workers: participants are placed
// by worker load onto one router per worker, producers are piped to their subscribers'
// routers (pipe transports in the dump), a worker's death moves only the participants
// homed on it (and the active-speaker observer when it was the primary's), and closing
// the conference leaves no router, transport or consumer behind on any worker.

import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { ConferenceRegistry } from '../../src/server/conference/ConferenceRegistry.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinVia, type Joined, loopbackPool } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { pidAlive, waitForExit } from '../tools/workerPid.ts';

const logger = silentLogger();
const pids = new Set<number>();
let pool: WorkerPool | undefined;
let registry: ConferenceRegistry | undefined;

afterEach(async () => {
  registry?.close();
  pool?.close();
  registry = undefined;
  await waitForExit([...pids].filter(pidAlive));
  pids.clear();
});

async function setUp(spreadConsumersPerWorker: number): Promise<{ pool: WorkerPool; registry: ConferenceRegistry }> {
  pool = await loopbackPool(2, logger, { requestTimeoutMs: 3000 });
  for (const slot of pool.slots) pids.add(slot.worker.pid);
  pool.observer.on('workerStarted', (slot) => pids.add(slot.worker.pid));
  registry = new ConferenceRegistry({
    pool,
    conference: {
      maxParticipants: 10,
      maxProducersPerParticipant: 4,
      initialAvailableOutgoingBitrate: 1_000_000,
      maxIncomingBitrate: 0,
      activeSpeakerIntervalMs: 300,
      spreadConsumersPerWorker,
      spreadWorkerLoad: 1,
    },
    logger,
  });
  return { pool, registry };
}

/** Joins with a receive transport and, if asked, a microphone producer. */
async function participant(r: ConferenceRegistry, id: string, publish: boolean): Promise<Joined & { producerId?: string }> {
  const joined = await joinVia(r, 'room', id);
  await joined.handle.createTransport({ direction: 'recv' });
  if (!publish) return joined;
  const send = await joined.handle.createTransport({ direction: 'send' });
  const { producerId } = await joined.handle.produce({
    transportId: send.transportId,
    kind: 'audio',
    source: 'microphone',
    rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
  });
  return { ...joined, producerId };
}

const consumedProducers = (p: Joined): string[] => p.sink.of('consumerCreated').map((c) => c.producerId);

describe('a conference across workers', () => {
  it('places participants on a second worker once the first is full, pipes producers between the routers, and leaves nothing behind', async () => {
    const { pool: p, registry: r } = await setUp(2);
    const alice = await participant(r, 'alice', true);
    const bob = await participant(r, 'bob', true);
    await waitFor(() => consumedProducers(alice).length === 1 && consumedProducers(bob).length === 1, { description: 'alice and bob receive each other' });
    // Slot of the primary now carries 2 consumers: the spread threshold. The next joiner goes elsewhere.
    const carol = await participant(r, 'carol', true);
    const conference = r.get('room' as ConferenceId)!;
    const dump = conference.dump();
    const slotOf = (id: string) => dump.participants.find((x) => x.id === id)!.slotIndex;
    expect(slotOf('alice')).toBe(slotOf('bob'));
    expect(slotOf('carol')).not.toBe(slotOf('alice'));
    await waitFor(
      () => consumedProducers(carol).length === 2 && consumedProducers(alice).length === 2 && consumedProducers(bob).length === 2,
      { description: 'everyone receives everyone across the two routers' },
    );
    expect(consumedProducers(carol).sort()).toEqual([alice.producerId, bob.producerId].sort());
    expect(consumedProducers(alice)).toContain(carol.producerId);
    const routers = conference.dump().routers;
    expect(routers).toHaveLength(2);
    expect(routers.filter((x) => x.primary)).toHaveLength(1);
    for (const router of routers) expect(router.pipeTransports).toBeGreaterThanOrEqual(1);
    // The worker-side view agrees: each router holds a pipe transport.
    for (const router of conference.routers) {
      const routerDump = await router.dump();
      expect(routerDump.transportIds.length).toBeGreaterThanOrEqual(1);
    }
    // Consumers are counted on the workers where the subscribers are homed: 6 of
    // participants plus 3 pipe consumers (alice's and bob's producers piped to carol's
    // router, carol's to the primary), which cost their worker too.
    const consumers = p.slots.map((slot) => p.load(slot.index)!.consumers);
    expect(consumers.reduce((a, b) => a + b, 0)).toBe(9);

    // Carol leaves: her router (not the primary) closes with its pipes.
    await carol.handle.leave();
    await waitFor(() => conference.dump().routers.length === 1, { description: 'the emptied router closed' });
    expect(conference.dump().routers[0]!.pipeTransports).toBe(0);
    await waitFor(() => consumedProducers(alice).length === 2 && alice.sink.of('consumerClosed').length === 1, { description: 'alice lost carol' });

    conference.close();
    await waitFor(() => p.slots.every((slot) => p.load(slot.index)!.routers === 0 && p.load(slot.index)!.consumers === 0), {
      description: 'no router or consumer left on any worker',
    });
  });

  it('a worker death moves only the participants homed on it; the others keep their media and lose only the dead producers', async () => {
    const { pool: p, registry: r } = await setUp(1);
    const alice = await participant(r, 'alice', true);
    // A listener on alice's worker receives her: that worker now carries a consumer (full).
    const olga = await participant(r, 'olga', false);
    await waitFor(() => consumedProducers(olga).length === 1, { description: 'olga receives alice' });
    const bob = await participant(r, 'bob', true);
    const conference = r.get('room' as ConferenceId)!;
    await waitFor(() => consumedProducers(alice).length === 1 && consumedProducers(bob).length === 1, { description: 'alice and bob receive each other' });
    const slotOf = (id: string) => conference.dump().participants.find((x) => x.id === id)!.slotIndex;
    const aliceSlot = slotOf('alice')!;
    const bobSlot = slotOf('bob')!;
    expect(bobSlot).not.toBe(aliceSlot);
    // Kill bob's worker (not the primary's).
    const primarySlot = conference.slotIndex;
    expect(primarySlot).toBe(aliceSlot);
    process.kill(p.slots.find((s) => s.index === bobSlot)!.worker.pid, 'SIGKILL');
    await waitFor(() => bob.sink.of('reconnectRequested').length === 1, { timeoutMs: 20_000, description: 'bob told to reconnect' });
    await waitFor(() => alice.sink.of('consumerClosed').length === 1, { description: 'alice lost bob’s dead producer' });
    expect(alice.sink.of('reconnectRequested')).toEqual([]);
    expect(olga.sink.of('reconnectRequested')).toEqual([]);
    expect(alice.sink.closeReason).toBeUndefined();
    expect(conference.slotIndex).toBe(primarySlot);
    // Bob re-publishes on his new router; alice receives it again.
    const send = await bob.handle.createTransport({ direction: 'send' });
    await bob.handle.createTransport({ direction: 'recv' });
    const { producerId } = await bob.handle.produce({
      transportId: send.transportId,
      kind: 'audio',
      source: 'microphone',
      rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
    });
    await waitFor(() => consumedProducers(alice).includes(producerId), { timeoutMs: 10_000, description: 'alice receives bob again' });

    // Now kill the primary's worker: alice and olga move, the primary (and the speaker
    // observer) moves to a live router. Bob moves again only if his new home is on that
    // worker too (placement put him where the load was lowest while his slot restarted).
    const bobHome = slotOf('bob');
    process.kill(p.slots.find((s) => s.index === primarySlot)!.worker.pid, 'SIGKILL');
    await waitFor(() => alice.sink.of('reconnectRequested').length === 1 && olga.sink.of('reconnectRequested').length === 1, {
      timeoutMs: 20_000,
      description: 'alice and olga told to reconnect',
    });
    expect(bob.sink.of('reconnectRequested')).toHaveLength(bobHome === primarySlot ? 2 : 1);
    expect(conference.closed).toBe(false);
    expect(conference.router.closed).toBe(false);
  });

  it('with spreading off, every participant stays on the conference’s one router', async () => {
    const { registry: r } = await setUp(0);
    await participant(r, 'alice', true);
    await participant(r, 'bob', true);
    await participant(r, 'carol', true);
    const dump = r.get('room' as ConferenceId)!.dump();
    expect(dump.routers).toHaveLength(1);
    expect(new Set(dump.participants.map((x) => x.slotIndex)).size).toBe(1);
  });
});
