// mediasoup's log lines reach our JSON logger, and hostile datagrams on the media port do
// not produce one line each: a real worker's WebRtcServer on loopback receives a bounded
// burst of garbage and of STUN requests for unknown usernames; the warnings it reports come
// through RepeatedLineLimiter as a few lines plus "suppressed" summaries.

import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../../src/server/media/WorkerPool.ts';
import { routeMediasoupLogs, type MediasoupLogRoute } from '../../src/server/media/mediasoupLogs.ts';
import { createLogger, silentLogger } from '../../src/common/lib/logger.ts';
import { freeMediaBasePort } from '../tools/ports.ts';
import { waitForExit } from '../tools/workerPid.ts';

const DATAGRAMS = 1200;
const BURST = 5;

let pool: WorkerPool | undefined;
let route: MediasoupLogRoute | undefined;

afterEach(async () => {
  route?.close();
  route = undefined;
  const pids = pool?.slots.map((slot) => slot.worker.pid) ?? [];
  pool?.close();
  pool = undefined;
  await waitForExit(pids);
});

/** A STUN Binding Request whose USERNAME no transport of ours issued. */
function stunBindingWithUnknownUsername(): Buffer {
  const username = Buffer.from(`${randomBytes(4).toString('hex')}:${randomBytes(4).toString('hex')}`);
  const padded = Buffer.alloc(Math.ceil(username.length / 4) * 4);
  username.copy(padded);
  const attribute = Buffer.alloc(4 + padded.length);
  attribute.writeUInt16BE(0x0006, 0); // USERNAME
  attribute.writeUInt16BE(username.length, 2);
  padded.copy(attribute, 4);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0); // Binding Request
  header.writeUInt16BE(attribute.length, 2);
  header.writeUInt32BE(0x2112a442, 4); // magic cookie
  randomBytes(12).copy(header, 8);
  return Buffer.concat([header, attribute]);
}

/** Bytes that are neither STUN nor from a known ICE tuple (RTP-looking first byte). */
function garbage(): Buffer {
  const bytes = randomBytes(20 + Math.floor(Math.random() * 200));
  bytes[0] = 0x80 | (bytes[0]! & 0x3f);
  return bytes;
}

async function sendBounded(port: number, count: number): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      const datagram = i % 2 === 0 ? stunBindingWithUnknownUsername() : garbage();
      await new Promise<void>((resolve, reject) =>
        socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
      );
      // Paced in small batches so loopback buffers do not drop most of them.
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    socket.close();
  }
}

describe('mediasoup logs', () => {
  it('hostile datagrams on the media port give a few JSON lines and a suppressed count, not a line each', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'debug', sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    route = routeMediasoupLogs(logger, 'warn', { burst: BURST, windowMs: 60_000 });
    pool = await WorkerPool.create({
      numWorkers: 1,
      listenIp: '127.0.0.1',
      announcedAddress: '',
      basePort: await freeMediaBasePort(1),
      workerLogLevel: 'warn',
      logger: silentLogger(),
    });
    const slot = pool.slots[0]!;

    await sendBounded(slot.port, DATAGRAMS);
    // The worker handles the datagrams in order; an answered request means it is through them.
    await slot.worker.getResourceUsage();
    await new Promise((resolve) => setTimeout(resolve, 300));
    route.flush();

    const mediasoupLines = lines.filter((line) => line['component'] === 'mediasoup');
    const plain = mediasoupLines.filter((line) => line['suppressed'] === undefined);
    const summaries = mediasoupLines.filter((line) => typeof line['suppressed'] === 'number');
    const suppressed = summaries.reduce((sum, line) => sum + (line['suppressed'] as number), 0);
    const kinds = new Set(plain.map((line) => line['msg']).map((msg) => String(msg).replace(/\d+/g, '#')));
    console.info(
      `[mediasoupLogs] ${DATAGRAMS} hostile datagrams -> ${plain.length} lines written, ${summaries.length} summaries, ${suppressed} suppressed`,
    );

    // Every line is a JSON record of ours, from the worker that received the datagrams.
    expect(plain.length).toBeGreaterThan(0);
    expect(plain.every((line) => line['workerPid'] === slot.worker.pid && line['level'] === 'warn')).toBe(true);
    // A few lines per kind, the rest counted.
    expect(plain.length).toBeLessThanOrEqual(BURST * Math.max(kinds.size, 1));
    expect(plain.length).toBeLessThan(50);
    expect(summaries.length).toBeGreaterThan(0);
    expect(summaries.every((line) => typeof line['example'] === 'string' && line['msg'] === 'similar mediasoup log lines suppressed')).toBe(true);
    // Most datagrams were seen and accounted for (loopback may drop a few).
    expect(plain.length + suppressed).toBeGreaterThan(DATAGRAMS / 2);
    expect(plain.length + suppressed).toBeLessThanOrEqual(DATAGRAMS * 2);
  });
});
