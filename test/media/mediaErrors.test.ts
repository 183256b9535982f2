// fromMediasoupError() against what a real mediasoup worker throws: client
// mistakes and races (duplicate SSRC, MID or RID, connectTransport twice,
// resuming a consumer whose producer left) become BAD_REQUEST, INVALID_STATE
// or GONE, never INTERNAL. A mediasoup upgrade that rewords one of these
// messages fails here.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { fromMediasoupError } from '../../src/server/media/errors.ts';
import { Conference } from '../../src/server/conference/Conference.ts';
import type { ConferenceId } from '../../src/common/lib/ids.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import type { Router, WebRtcTransport } from '../../src/server/media/types.ts';
import { joinAs } from '../fixtures/conference.ts';
import { AUDIO_RTP_PARAMETERS, VIDEO_SIMULCAST_RTP_PARAMETERS } from '../fixtures/rtp.ts';
import { waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';

const logger = silentLogger();
const DTLS = { role: 'client' as const, fingerprints: [{ algorithm: 'sha-256' as const, value: Array(32).fill('AB').join(':') }] };
let pool: WorkerPool;
let router: Router;
let transport: WebRtcTransport;

/** The code fromMediasoupError() gives the rejection of `promise`. */
async function mappedCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return fromMediasoupError(error)?.code;
  }
  throw new Error('expected a rejection');
}

beforeEach(async () => {
  pool = await WorkerPool.create({
    numWorkers: 1,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(),
    workerLogLevel: 'none',
    logger,
  });
  router = (await pool.createRouter()).router;
  transport = await router.createWebRtcTransport({ webRtcServer: pool.slots[0]!.webRtcServer });
});

afterEach(async () => {
  const pids = pool.slots.map((slot) => slot.worker.pid);
  pool.close();
  await waitForExit(pids);
});

describe('fromMediasoupError', () => {
  it('maps a duplicate SSRC to BAD_REQUEST', async () => {
    await transport.produce({ kind: 'audio', rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never });
    const again = { ...structuredClone(AUDIO_RTP_PARAMETERS), mid: '7' };
    expect(await mappedCode(transport.produce({ kind: 'audio', rtpParameters: again as never }))).toBe('BAD_REQUEST');
  });

  it('maps a duplicate MID to BAD_REQUEST', async () => {
    await transport.produce({ kind: 'audio', rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never });
    const again = { ...structuredClone(AUDIO_RTP_PARAMETERS), encodings: [{ ssrc: 99 }] };
    expect(await mappedCode(transport.produce({ kind: 'audio', rtpParameters: again as never }))).toBe('BAD_REQUEST');
  });

  it('maps a duplicate RID without MID to BAD_REQUEST', async () => {
    const ridOnly = (ssrcBase: number) => {
      const p = structuredClone(VIDEO_SIMULCAST_RTP_PARAMETERS) as unknown as { mid?: string; encodings: Array<Record<string, unknown>> };
      delete p.mid;
      p.encodings = p.encodings.map((e, i) => ({ rid: `r${i}`, scaleResolutionDownBy: e['scaleResolutionDownBy'], ssrc: ssrcBase + i }));
      return p;
    };
    await transport.produce({ kind: 'video', rtpParameters: ridOnly(500) as never });
    expect(await mappedCode(transport.produce({ kind: 'video', rtpParameters: ridOnly(600) as never }))).toBe('BAD_REQUEST');
  });

  it('maps connectTransport twice to INVALID_STATE', async () => {
    await transport.connect({ dtlsParameters: DTLS });
    expect(await mappedCode(transport.connect({ dtlsParameters: DTLS }))).toBe('INVALID_STATE');
  });

  it('maps a request about an object the worker already closed to GONE', async () => {
    const other = await router.createWebRtcTransport({ webRtcServer: pool.slots[0]!.webRtcServer });
    const producer = await other.produce({ kind: 'audio', rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never });
    const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true });
    // The producer closes in the worker; the consumer's resume is sent before its producerclose arrives.
    producer.close();
    expect(await mappedCode(consumer.resume())).toBe('GONE');
  });
});

describe('a request that races a close', () => {
  it('resumeConsumer after the producer left answers GONE (no fault), and resumeConsumers reports it per id', async () => {
    const conference = await Conference.create(
      { id: 'race' as ConferenceId, maxParticipants: 10, maxProducersPerParticipant: 4, initialAvailableOutgoingBitrate: 1_000_000, maxIncomingBitrate: 0, activeSpeakerIntervalMs: 300, logger },
      () => pool.createRouter(),
    );
    const alice = await joinAs(conference, 'alice');
    const send = await alice.handle.createTransport({ direction: 'send' });
    await alice.handle.produce({ transportId: send.transportId, kind: 'audio', source: 'microphone', rtpParameters: structuredClone(AUDIO_RTP_PARAMETERS) as never });
    const bob = await joinAs(conference, 'bob');
    await bob.handle.createTransport({ direction: 'recv' });
    const { consumerId } = await waitFor(() => bob.sink.of('consumerCreated')[0]);
    const leaving = alice.handle.leave();
    const racing = bob.handle.resumeConsumer(consumerId);
    await leaving;
    await expect(racing).rejects.toMatchObject({ code: 'GONE' });
    expect(await bob.handle.resumeConsumers([consumerId, 'never-existed'])).toEqual([
      { consumerId, ok: false, code: 'GONE' },
      { consumerId: 'never-existed', ok: false, code: 'NOT_FOUND' },
    ]);
    conference.close();
  });
});
