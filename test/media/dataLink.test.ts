// DataLink against a real mediasoup worker: the data consumers that write to the client sit
// on exactly the SCTP stream ids of the client's channels (mediasoup picks consumer stream
// ids itself; fillers take the ids between, and the link checks the ids it got), inbound
// data producers use the same ids, and closing the link, the transport or the router
// leaves no data object behind. (The browser side of the association is covered by
// test/e2e/livekitData.test.ts.)

import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool, type RouterLease } from '../../src/server/media/WorkerPool.ts';
import { DataLink, type MediaRequest } from '../../src/server/conference/DataLink.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { rejectionOf } from '../tools/errors.ts';
import { pidAlive, waitForExit } from '../tools/workerPid.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import type { WebRtcTransport } from '../../src/server/media/types.ts';

const logger = silentLogger();
let pool: WorkerPool | undefined;
const pids = new Set<number>();

const media: MediaRequest = (_what, request) => request;
const CHANNELS = [
  { label: '_reliable', streamId: 2, ordered: true },
  { label: '_lossy', streamId: 0, ordered: false, maxRetransmits: 1 },
];

async function sctpTransport(): Promise<{ lease: RouterLease; transport: WebRtcTransport }> {
  pool = await WorkerPool.create({ numWorkers: 1, listenIp: '127.0.0.1', announcedAddress: '', basePort: await freeMediaBasePort(1), workerLogLevel: 'none', logger, requestTimeoutMs: 3000 });
  for (const slot of pool.slots) pids.add(slot.worker.pid);
  const lease = await pool.createRouter();
  const transport = await lease.router.createWebRtcTransport({ webRtcServer: lease.webRtcServer, enableSctp: true, numSctpStreams: { OS: 1024, MIS: 1024 }, maxSctpMessageSize: 262_144 });
  return { lease, transport };
}

afterEach(async () => {
  pool?.close();
  pool = undefined;
  await waitForExit([...pids].filter(pidAlive));
  pids.clear();
});

describe('DataLink', () => {
  it('reads and writes the client channels on their own stream ids', async () => {
    const { lease, transport } = await sctpTransport();
    const link = await DataLink.open(lease.router, transport, { channels: CHANNELS, maxMessageBytes: 262_144, onMessage: () => undefined }, media, logger);
    const dump = await transport.dump();
    expect(dump.dataProducerIds).toHaveLength(2);
    // Outbound 0 and 2, filler 1.
    expect(dump.dataConsumerIds).toHaveLength(3);
    expect(dump.sctpListener?.streamIdTable.map((entry) => entry.key).sort()).toEqual([0, 2]);
    // Not connected: a write is refused (false), never thrown.
    expect(await link.send('_reliable', Buffer.from('x'))).toBe(false);
    expect(await link.send('_nope', Buffer.from('x'))).toBe(false);
    link.close();
    const after = await transport.dump();
    expect(after.dataProducerIds).toEqual([]);
    expect(after.dataConsumerIds).toEqual([]);
    expect((await lease.router.dump()).transportIds).toEqual([transport.id]);
  });

  it('closes with its transport and with its router', async () => {
    const { lease, transport } = await sctpTransport();
    const first = await DataLink.open(lease.router, transport, { channels: CHANNELS, maxMessageBytes: 262_144, onMessage: () => undefined }, media, logger);
    transport.close();
    expect(first.closed).toBe(true);
    await waitFor(async () => (await lease.router.dump()).transportIds.length === 0, { description: 'the DirectTransport to close' });
    const second = await lease.router.createWebRtcTransport({ webRtcServer: lease.webRtcServer, enableSctp: true });
    const link = await DataLink.open(lease.router, second, { channels: CHANNELS, maxMessageBytes: 262_144, onMessage: () => undefined }, media, logger);
    lease.router.close();
    expect(link.closed).toBe(true);
  });

  it('refuses a transport without SCTP and stream ids it cannot place', async () => {
    const { lease } = await sctpTransport();
    const plain = await lease.router.createWebRtcTransport({ webRtcServer: lease.webRtcServer });
    expect(await rejectionOf(DataLink.open(lease.router, plain, { channels: CHANNELS, maxMessageBytes: 1024, onMessage: () => undefined }, media, logger), Error, 'message')).toContain('no SCTP');
    const sctp = await lease.router.createWebRtcTransport({ webRtcServer: lease.webRtcServer, enableSctp: true });
    const twice = [CHANNELS[0]!, { ...CHANNELS[1]!, streamId: 2 }];
    expect(await rejectionOf(DataLink.open(lease.router, sctp, { channels: twice, maxMessageBytes: 1024, onMessage: () => undefined }, media, logger), Error, 'message')).toContain('twice');
    expect((await sctp.dump()).dataProducerIds).toEqual([]);
  });
});
