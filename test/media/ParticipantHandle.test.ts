// ParticipantHandle against real mediasoup workers: every end of a
// participant reaches its handle with a reason (left, replaced, conference
// closed, router lost), a late close of an old handle never touches a newer
// participant, and a rejoin queued behind the last leave lands in a fresh
// conference. Worker deaths are real (SIGKILL).

import { afterEach, describe, expect, it } from 'vitest';
import type { RouterLease, WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { Conference } from '../../src/server/conference/Conference.ts';
import { ConferenceRegistry } from '../../src/server/conference/ConferenceRegistry.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { SfuError } from '../../src/common/lib/errors.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { rejectionOf } from '../tools/errors.ts';
import { joinAs, joinVia, loopbackPool } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { pidAlive, waitForExit } from '../tools/workerPid.ts';

const logger = silentLogger();
const pids = new Set<number>();
let pool: WorkerPool | undefined;
let registry: ConferenceRegistry | undefined;
let conference: Conference | undefined;

const conferenceOptions = {
  maxParticipants: 10,
  maxProducersPerParticipant: 4,
  initialAvailableOutgoingBitrate: 1_000_000,
  maxIncomingBitrate: 0,
  activeSpeakerIntervalMs: 300,
};

async function createPool(numWorkers: number): Promise<WorkerPool> {
  pool = await loopbackPool(numWorkers, logger, { requestTimeoutMs: 3000 });
  for (const slot of pool.slots) pids.add(slot.worker.pid);
  pool.observer.on('workerStarted', (slot) => pids.add(slot.worker.pid));
  return pool;
}

const codeOf = (promise: Promise<unknown>) => rejectionOf(promise, SfuError, 'code');

afterEach(async () => {
  conference?.close();
  registry?.close();
  pool?.close();
  conference = undefined;
  registry = undefined;
  await waitForExit([...pids].filter(pidAlive));
  pids.clear();
});

describe('ParticipantHandle', () => {
  it('a rejoin queued behind the last participant’s leave lands in a fresh conference, never the closed one', async () => {
    const p = await createPool(1);
    registry = new ConferenceRegistry({ pool: p, conference: conferenceOptions, logger });
    const alice = await joinVia(registry, 'room', 'alice');
    const first = registry.get('room' as ConferenceId)!;
    // Push the leave first, then the rejoin, without awaiting: the join task runs after the
    // leave emptied (and so closed) the first conference.
    const leaving = alice.handle.leave();
    const rejoin = joinVia(registry, 'room', 'alice');
    await leaving;
    const again = await rejoin;
    expect(first.closed).toBe(true);
    const second = registry.get('room' as ConferenceId)!;
    expect(second).not.toBe(first);
    expect(again.handle.closed).toBe(false);
    // Requests work (on the old conference every one would fail).
    await again.handle.createTransport({ direction: 'send' });
    expect(second.dump().participants.map((x) => x.id)).toEqual(['alice']);
  });

  it('conference.join() queued behind the last leave rejects with INVALID_STATE once the conference closed', async () => {
    const p = await createPool(1);
    conference = await Conference.create({ ...conferenceOptions, id: 'c' as ConferenceId, logger }, () => p.createRouter());
    const c = conference;
    c.on('empty', () => c.close());
    const alice = await joinAs(c, 'alice');
    const leaving = alice.handle.leave();
    const joining = joinAs(c, 'bob');
    await leaving;
    expect(await codeOf(joining)).toBe('INVALID_STATE');
  });

  it('handle.leave() closes the handle with left; a second session of the same id replaces the first (replaced)', async () => {
    const p = await createPool(1);
    conference = await Conference.create({ ...conferenceOptions, id: 'c' as ConferenceId, logger }, () => p.createRouter());
    const carol = await joinAs(conference, 'carol');
    const bob = await joinAs(conference, 'bob');
    const bob2 = await joinAs(conference, 'bob');
    expect(bob.sink.closeReason).toBe('replaced');
    expect(bob.handle.closed).toBe(true);
    expect(bob2.handle.closed).toBe(false);
    expect(carol.sink.of('peerLeft')).toEqual([{ participantId: 'bob' }]);
    expect(carol.sink.of('peerJoined').map((peer) => peer.participantId)).toEqual(['bob', 'bob']);
    // A late close of the old handle (its session ending) cannot remove the new participant.
    bob.handle.close('disconnected');
    await carol.handle.createTransport({ direction: 'recv' });
    expect(conference.dump().participants.map((x) => x.id).sort()).toEqual(['bob', 'carol']);
    expect(await codeOf(bob.handle.createTransport({ direction: 'send' }))).toBe('NOT_JOINED');
    await carol.handle.leave();
    expect(carol.sink.closeReason).toBe('left');
  });

  it('conference.close() closes every handle with conference-closed', async () => {
    const p = await createPool(1);
    conference = await Conference.create({ ...conferenceOptions, id: 'c' as ConferenceId, logger }, () => p.createRouter());
    const a = await joinAs(conference, 'a');
    const b = await joinAs(conference, 'b');
    conference.close();
    expect([a.sink.closeReason, b.sink.closeReason]).toEqual(['conference-closed', 'conference-closed']);
  });

  it('a worker that dies during the rebuild is left behind: the rebuild retries on another worker and the handle gets mediaReset', async () => {
    const p = await createPool(3);
    let rebuilding = false;
    const killed: number[] = [];
    const routerPids: number[] = [];
    const createRouter = async (): Promise<RouterLease> => {
      const lease = await p.createRouter();
      const slot = p.slots.find((s) => s.index === lease.slotIndex)!;
      routerPids.push(slot.worker.pid);
      if (rebuilding && killed.length < 1) {
        // The worker chosen for the rebuild dies right after the router was made on it.
        killed.push(slot.worker.pid);
        process.kill(slot.worker.pid, 'SIGKILL');
        await waitFor(() => slot.worker.closed, { description: 'killed worker seen dead' });
      }
      return lease;
    };
    conference = await Conference.create({ ...conferenceOptions, id: 'c' as ConferenceId, logger }, createRouter);
    const alice = await joinAs(conference, 'alice');
    await alice.handle.createTransport({ direction: 'send' });
    const ownerPid = routerPids[0]!;
    rebuilding = true;
    process.kill(ownerPid, 'SIGKILL');
    await waitFor(() => alice.sink.of('reconnectRequested')[0], { timeoutMs: 20_000, description: 'mediaReset' });
    expect(alice.sink.of('reconnectRequested')).toEqual([{ reason: 'worker-restarted' }]);
    expect(killed).toHaveLength(1);
    expect(alice.sink.closeReason).toBeUndefined();
    expect(conference.router.closed).toBe(false);
    const finalPid = routerPids.at(-1)!;
    expect([ownerPid, ...killed]).not.toContain(finalPid);
    expect(pidAlive(finalPid)).toBe(true);
    // Media works again on the new router.
    const send = await alice.handle.createTransport({ direction: 'send' });
    await alice.handle.produce({
      transportId: send.transportId,
      kind: 'audio',
      source: 'microphone',
      rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never,
    });
  });

  it('when every rebuild attempt fails the conference closes and each handle hears router-lost', async () => {
    const p = await createPool(1);
    let rebuilding = false;
    const createRouter = async (): Promise<RouterLease> => {
      const lease = await p.createRouter();
      if (rebuilding) {
        const slot = p.slots.find((s) => s.index === lease.slotIndex)!;
        process.kill(slot.worker.pid, 'SIGKILL');
        await waitFor(() => slot.worker.closed, { description: 'killed worker seen dead' });
      }
      return lease;
    };
    conference = await Conference.create({ ...conferenceOptions, id: 'c' as ConferenceId, maxRebuildAttempts: 2, logger }, createRouter);
    const alice = await joinAs(conference, 'alice');
    const bob = await joinAs(conference, 'bob');
    rebuilding = true;
    process.kill(p.slots[0]!.worker.pid, 'SIGKILL');
    await waitFor(() => alice.sink.closeReason, { timeoutMs: 30_000, description: 'router-lost' });
    expect([alice.sink.closeReason, bob.sink.closeReason]).toEqual(['router-lost', 'router-lost']);
    expect(conference.closed).toBe(true);
  });
});

