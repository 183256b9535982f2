// Idle ICE-TCP connections to a worker's WebRtcServer are bounded and timed out (our worker
// patch, native-config/worker/patches/): many idle TCP connections on loopback raise the
// worker's descriptor count only up to the per-port limit and are closed after the unused
// timeout, while a connection that completed an ICE check (STUN Binding with USE-CANDIDATE,
// RFC 4571 framing) stays open past it and carries the transport's ICE tuple.

import { createHmac, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { MEDIA_CODECS } from '../../src/server/media/codecs.ts';
import type { WebRtcTransport } from '../../src/server/media/types.ts';
import { silentLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
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

// --- a minimal ICE agent: STUN Binding Request over RFC 4571 framing ----------------------

function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A Binding Request the transport accepts: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT. */
function bindingRequest(transport: WebRtcTransport): Buffer {
  const { usernameFragment, password } = transport.iceParameters;
  const priority = Buffer.alloc(4);
  priority.writeUInt32BE(0x6e0001ff, 0);
  const body = Buffer.concat([
    attribute(0x0006, Buffer.from(`${usernameFragment}:client`)),
    attribute(0x0024, priority),
    attribute(0x802a, randomBytes(8)),
    attribute(0x0025, Buffer.alloc(0)),
  ]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(header, 8);
  // MESSAGE-INTEGRITY covers the message with the length field counting up to itself.
  header.writeUInt16BE(body.length + 24, 2);
  const integrity = createHmac('sha1', password).update(Buffer.concat([header, body])).digest();
  const withIntegrity = Buffer.concat([body, attribute(0x0008, integrity)]);
  header.writeUInt16BE(withIntegrity.length + 8, 2);
  const fingerprint = Buffer.alloc(4);
  fingerprint.writeUInt32BE((crc32(Buffer.concat([header, withIntegrity])) ^ 0x5354554e) >>> 0, 0);
  const message = Buffer.concat([header, withIntegrity, attribute(0x8028, fingerprint)]);
  const frame = Buffer.alloc(2);
  frame.writeUInt16BE(message.length, 0);
  return Buffer.concat([frame, message]);
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
    ice.socket.write(bindingRequest(transport));
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
