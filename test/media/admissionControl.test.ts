// Admission control by worker load against a real worker pool: a join into a conference
// whose worker is overloaded is refused with OVERLOADED (and reported on the registry
// observer), a participant already inside may open a new session, a new conference is
// refused only while every worker is overloaded, and joins pass again once load falls.

import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { ConferenceRegistry } from '../../src/server/conference/ConferenceRegistry.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { SfuError } from '../../src/common/lib/errors.ts';
import { rejectionOf } from '../tools/errors.ts';
import { joinVia, loopbackPool } from '../fixtures/conference.ts';
import { pidAlive, waitForExit } from '../tools/workerPid.ts';

const logger = silentLogger();
let pool: WorkerPool | undefined;
let registry: ConferenceRegistry | undefined;

afterEach(async () => {
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  registry?.close();
  pool?.close();
  registry = undefined;
  pool = undefined;
  await waitForExit(pids.filter(pidAlive));
});

async function setup(overloadedSlots: Set<number>): Promise<{ registry: ConferenceRegistry; refusals: string[] }> {
  pool = await loopbackPool(1, logger);
  const slots = pool;
  registry = new ConferenceRegistry({
    pool,
    conference: { maxParticipants: 10, maxProducersPerParticipant: 4, initialAvailableOutgoingBitrate: 1_000_000, maxIncomingBitrate: 0, activeSpeakerIntervalMs: 300 },
    logger,
    load: {
      overloaded: (slot) => overloadedSlots.has(slot),
      allOverloaded: () => slots.slots.every((slot) => overloadedSlots.has(slot.index)),
      load: () => undefined,
    },
  });
  const refusals: string[] = [];
  registry.observer.on('joinRefused', (reason) => refusals.push(reason));
  return { registry, refusals };
}

describe('ConferenceRegistry admission control', () => {
  it('refuses a join on an overloaded worker with OVERLOADED, lets a present participant reconnect, and admits again when load falls', async () => {
    const overloaded = new Set<number>();
    const { registry: reg, refusals } = await setup(overloaded);
    const alice = await joinVia(reg, 'room', 'alice');
    overloaded.add(0);
    expect(await rejectionOf(joinVia(reg, 'room', 'bob'), SfuError, 'code')).toBe('OVERLOADED');
    expect(refusals).toEqual(['worker-overloaded']);
    expect(reg.get('room' as never)?.participantCount).toBe(1);
    const aliceAgain = await joinVia(reg, 'room', 'alice');
    expect(alice.sink.closeReason).toBe('replaced');
    expect(aliceAgain.handle.closed).toBe(false);
    overloaded.delete(0);
    const bob = await joinVia(reg, 'room', 'bob');
    expect(bob.handle.closed).toBe(false);
    expect(reg.get('room' as never)?.participantCount).toBe(2);
  });

  it('refuses a new conference only while every worker is overloaded', async () => {
    const overloaded = new Set<number>([0]);
    const { registry: reg, refusals } = await setup(overloaded);
    expect(await rejectionOf(joinVia(reg, 'fresh', 'carol'), SfuError, 'code')).toBe('OVERLOADED');
    expect(reg.size).toBe(0);
    expect(refusals).toHaveLength(1);
    overloaded.clear();
    await joinVia(reg, 'fresh', 'carol');
    expect(reg.size).toBe(1);
  });
});
