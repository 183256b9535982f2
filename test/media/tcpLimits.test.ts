// Idle ICE-TCP connections to a worker's WebRtcServer are bounded and timed out (our worker
// patch, native-config/worker/patches/): many idle TCP connections on loopback raise the
// worker's descriptor count only up to the per-port limit and are closed after the unused
// timeout, while a connection that completed an ICE check (STUN Binding with USE-CANDIDATE,
// RFC 4571 framing) stays open past it and carries the transport's ICE tuple.

import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { MEDIA_CODECS } from '../../src/server/media/codecs.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { framed, stunBindingRequest } from '../tools/stun.ts';
import { waitForExit } from '../tools/workerPid.ts';

const UNUSED_TIMEOUT_MS = 1500;
const MAX_CONNECTIONS = 60;
const IDLE_CONNECTIONS = 100;

let pool: WorkerPool | undefined;
const sockets: Socket[] = [];
const savedEnv: Record<string, string | undefined> = {};

beforeAll(() => {
  // Read by the patched worker when its WebRtcServer starts (the worker inherits our env).
  for (const [name, value] of [
    ['MEDIASOUP_WORKER_TCP_UNUSED_TIMEOUT_MS', String(UNUSED_TIMEOUT_MS)],
    ['MEDIASOUP_WORKER_TCP_MAX_CONNECTIONS', String(MAX_CONNECTIONS)],
  ] as const) {
    savedEnv[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  pool?.close();
  pool = undefined;
  await waitForExit(pids);
});

async function startPool(): Promise<WorkerPool> {
  pool = await WorkerPool.create({
    numWorkers: 1,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: await freeMediaBasePort(1),
    workerLogLevel: 'warn',
    logger: silentLogger(),
  });
  return pool;
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** Opens a TCP connection and resolves once it is connected (or failed: counted as closed). */
function openConnection(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  return new Promise((resolve) => {
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    // Errors end in 'close', which is what the tests watch.
    socket.on('error', () => undefined);
    // Consume what the worker sends (STUN responses), or the stream never reaches its end.
    socket.resume();
    socket.on('close', () => {
      closed = true;
    });
    const done = (): void => resolve({ socket, closed: () => closed });
    socket.once('connect', done);
    socket.once('close', done);
  });
}

describe('WebRtcServer TCP limits', () => {
  it('idle TCP connections to the media port are capped and closed after the unused timeout', async () => {
    const p = await startPool();
    const { worker, port } = p.slots[0]!;
    const baseline = fdCount(worker.pid);

    const connections: { closed: () => boolean }[] = [];
    for (let i = 0; i < IDLE_CONNECTIONS; i++) connections.push(await openConnection(port));
    // Let the worker accept (and, beyond the limit, refuse) what is queued.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const peak = fdCount(worker.pid);
    console.info(
      `[tcpLimits] ${IDLE_CONNECTIONS} idle connections, limit ${MAX_CONNECTIONS}: worker fds ${baseline} -> ${peak}`,
    );
    expect(peak - baseline).toBeLessThanOrEqual(MAX_CONNECTIONS + 2);
    expect(peak - baseline).toBeGreaterThan(MAX_CONNECTIONS / 2);

    const started = Date.now();
    await waitFor(() => fdCount(worker.pid) <= baseline + 1, {
      timeoutMs: UNUSED_TIMEOUT_MS + 5000,
      description: 'the worker to close the unused TCP connections',
    });
    console.info(`[tcpLimits] worker fds back to ${fdCount(worker.pid)} after ${Date.now() - started} ms`);
    await waitFor(() => connections.every((connection) => connection.closed()), {
      timeoutMs: 3000,
      description: 'every idle client socket to see the close',
    });
  });

  it('a TCP connection that became the ICE tuple of a transport outlives the unused timeout', async () => {
    const p = await startPool();
    const { worker, port, webRtcServer } = p.slots[0]!;
    const router = await worker.createRouter({ mediaCodecs: MEDIA_CODECS });
    const transport = await router.createWebRtcTransport({ webRtcServer, enableUdp: true, enableTcp: true, preferTcp: true });
    expect(transport.iceCandidates.some((candidate) => candidate.protocol === 'tcp' && candidate.port === port)).toBe(true);

    const ice = await openConnection(port);
    const idle = await openConnection(port);
    ice.socket.write(framed(stunBindingRequest(transport.iceParameters)));
    await waitFor(() => transport.iceSelectedTuple?.protocol === 'tcp', {
      timeoutMs: 3000,
      description: 'the ICE-TCP tuple to be selected',
    });

    await waitFor(() => idle.closed(), { timeoutMs: UNUSED_TIMEOUT_MS + 5000, description: 'the idle connection to close' });
    await new Promise((resolve) => setTimeout(resolve, UNUSED_TIMEOUT_MS));
    expect(ice.closed()).toBe(false);
    expect(transport.iceSelectedTuple?.protocol).toBe('tcp');

    // Closing the transport releases its connection too.
    transport.close();
    await waitFor(() => ice.closed(), { timeoutMs: UNUSED_TIMEOUT_MS + 5000, description: 'the ICE connection to close' });
    router.close();
  });
});
