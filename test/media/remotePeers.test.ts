// Participants of other nodes inside a conference (what the cascade hands over), against a
// real mediasoup worker: their producers live on the conference's primary router (here
// made by a DirectTransport, as the cascade makes them with a pipe transport). Local peers
// see them join and leave and get consumers of their producers; they do not count as this
// node's participants; of two sessions of one participant the newer one stays; a producer
// exported to other nodes counts as wanted in full.

import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { ConferenceRegistry } from '../../src/server/conference/ConferenceRegistry.ts';
import type { Conference } from '../../src/server/conference/Conference.ts';
import type { Publication } from '../../src/server/conference/Participant.ts';
import type { ConferenceId, ParticipantId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { joinVia, type Joined, loopbackPool } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS, VIDEO_SIMULCAST_RTP_PARAMETERS } from '../fixtures/rtp.ts';

const logger = silentLogger();
let pool: WorkerPool | undefined;
let registry: ConferenceRegistry | undefined;

afterEach(() => {
  registry?.close();
  pool?.close();
  registry = undefined;
  pool = undefined;
});

async function setUp(): Promise<ConferenceRegistry> {
  pool = await loopbackPool(1, logger, { requestTimeoutMs: 3000 });
  registry = new ConferenceRegistry({
    pool,
    conference: { maxParticipants: 10, maxProducersPerParticipant: 4, initialAvailableOutgoingBitrate: 1_000_000, maxIncomingBitrate: 0, activeSpeakerIntervalMs: 300 },
    logger,
  });
  return registry;
}

async function local(r: ConferenceRegistry, id: string): Promise<Joined> {
  const joined = await joinVia(r, 'room', id);
  await joined.handle.createTransport({ direction: 'recv' });
  return joined;
}

/** A producer on the conference's primary router, as a cascade link would pipe it in. */
async function remoteAudio(conference: Conference): Promise<Publication> {
  const transport = await conference.router.createDirectTransport();
  const producer = await transport.produce({ kind: 'audio', rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never });
  return { producer, source: 'microphone' };
}

const remote = (id: string, joinedAtMs: number, publications: Publication[]) => ({ participantId: id as ParticipantId, displayName: id, joinedAtMs, publications });

describe('participants of other nodes in a conference', () => {
  it('shows them to local peers with their publications, without counting them as local', async () => {
    const r = await setUp();
    const alice = await local(r, 'alice');
    const conference = r.get('room' as ConferenceId)!;
    const audio = await remoteAudio(conference);
    const bobJoinedAt = Date.now();
    expect(await conference.upsertRemote('link-1', remote('bob', bobJoinedAt, [audio]))).toBe(true);
    await waitFor(() => alice.sink.of('consumerCreated').length === 1, { description: 'alice consumes bob' });
    expect(alice.sink.of('peerJoined').map((p) => p.participantId)).toEqual(['bob']);
    expect(alice.sink.of('consumerCreated')[0]!.producerId).toBe(audio.producer.id);
    expect(conference.participantCount).toBe(1);
    expect(conference.dump().participants.find((p) => p.id === 'bob')!.remoteLink).toBe('link-1');
    expect(conference.localPeers().map((p) => p.participantId)).toEqual(['alice']);

    // A later snapshot adds a publication: the subscribers get it too.
    const more = await remoteAudio(conference);
    await conference.upsertRemote('link-1', remote('bob', bobJoinedAt, [audio, more]));
    await waitFor(() => alice.sink.of('consumerCreated').length === 2, { description: 'alice consumes the new publication' });

    // The link goes: bob leaves, his producers close, alice's consumers with them.
    await conference.removeRemote('link-1');
    expect(alice.sink.of('peerLeft').map((p) => p.participantId)).toEqual(['bob']);
    expect(audio.producer.closed).toBe(true);
    await waitFor(() => alice.sink.of('consumerClosed').length === 2, { description: 'alice hears both consumers close' });
  });

  it('keeps a local session over another node\'s session of the same participant, and the newer of two other nodes\' sessions', async () => {
    const r = await setUp();
    const alice = await local(r, 'alice');
    const bob = await local(r, 'bob');
    const conference = r.get('room' as ConferenceId)!;
    // bob moves: his new session on another node is not shown while his session here lasts.
    const moved = await remoteAudio(conference);
    expect(await conference.upsertRemote('link-1', remote('bob', Date.now() + 1, [moved]))).toBe(false);
    expect(bob.sink.closeReason).toBeUndefined();
    await bob.handle.leave();
    expect(await conference.upsertRemote('link-1', remote('bob', Date.now() + 1, [moved]))).toBe(true);
    // carol on two other nodes: the later session shows, an earlier one does not replace it.
    const first = await remoteAudio(conference);
    const later = await remoteAudio(conference);
    expect(await conference.upsertRemote('link-2', remote('carol', Date.now() - 60_000, [first]))).toBe(true);
    expect(await conference.upsertRemote('link-3', remote('carol', Date.now(), [later]))).toBe(true);
    expect(await conference.upsertRemote('link-2', remote('carol', Date.now() - 60_000, [first]))).toBe(false);
    expect(conference.dump().participants.find((p) => p.id === 'carol')!.remoteLink).toBe('link-3');
    expect(alice.sink.of('peerJoined').map((p) => p.participantId)).toEqual(['bob', 'bob', 'carol', 'carol']);
    expect(conference.participantCount).toBe(1);
  });

  it('closes when its last local participant leaves, though participants of other nodes are shown', async () => {
    const r = await setUp();
    const alice = await local(r, 'alice');
    const conference = r.get('room' as ConferenceId)!;
    await conference.upsertRemote('link-1', remote('bob', Date.now(), [await remoteAudio(conference)]));
    await alice.handle.leave();
    await waitFor(() => conference.closed, { description: 'conference closed' });
  });

  it('counts a producer exported to other nodes as wanted in every layer', async () => {
    const r = await setUp();
    const alice = await local(r, 'alice');
    const send = await alice.handle.createTransport({ direction: 'send' });
    const { producerId } = await alice.handle.produce({
      transportId: send.transportId,
      kind: 'video',
      source: 'camera',
      rtpParameters: structuredClone(VIDEO_SIMULCAST_RTP_PARAMETERS) as never,
    });
    const conference = r.get('room' as ConferenceId)!;
    expect(conference.demandOf(producerId)).toEqual({ consumers: 0, active: 0, maxSpatialLayer: -1 });
    await conference.exportProducer(producerId);
    await conference.exportProducer(producerId);
    expect(conference.demandOf(producerId)).toEqual({ consumers: 1, active: 1, maxSpatialLayer: 2 });
    conference.unexportProducer(producerId);
    expect(conference.demandOf(producerId)?.active).toBe(1);
    conference.unexportProducer(producerId);
    expect(conference.demandOf(producerId)).toEqual({ consumers: 0, active: 0, maxSpatialLayer: -1 });
    await expect(conference.exportProducer('no-such-producer')).rejects.toMatchObject({ code: 'GONE' });
  });
});
